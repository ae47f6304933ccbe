package convert

import (
	"fmt"
	"path"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
	"github.com/certsd-migrate/certsd-migrate/internal/tomltree"
)

// Rewriting a version 1 or 2 config as a version 3 config, the way
// containerd 2.x migrates it when it loads the file. The rules are those of
// containerd v2.4.2:
//
//   - cmd/containerd/server/config/config.go, v1Migrate and
//     v1MigratePluginName: a version 1 config's short plugin names (cri,
//     overlayfs, …) become full plugin IDs, in plugins, disabled_plugins and
//     required_plugins;
//   - plugins/cri/images/plugin.go, migrateConfig: sandbox_image becomes
//     pinned_images.sandbox; registry, image_decryption,
//     max_concurrent_downloads, image_pull_progress_timeout,
//     image_pull_with_sync_fs, stats_collect_period and containerd.
//     {snapshotter, disable_snapshot_annotations, discard_unpacked_layers}
//     move to io.containerd.cri.v1.images, replacing what is there. One
//     deliberate difference: containerd moves the last three only when the
//     same containerd table sets runtimes, and otherwise drops them (an
//     early return); they are moved regardless, with a warning, as
//     containerd 1.x applied them;
//   - plugins/cri/runtime/plugin.go, migrateConfig: every other CRI setting
//     moves to io.containerd.cri.v1.runtime unless already set there;
//     enable_cdi is dropped (CDI is always on); cni.bin_dir becomes
//     cni.bin_dirs; a runtime's sandbox_mode becomes sandboxer;
//   - plugins/cri/cri.go, configMigration: only the stream server settings
//     (ServerConfig) stay under io.containerd.grpc.v1.cri;
//   - core/metrics/cgroups/cgroups.go, plugins/restart/monitor.go: the
//     cgroups and restart monitors' tables are renamed;
//   - core/runtime/v2/shim_manager.go: io.containerd.runtime.v2.task's
//     sched_core becomes io.containerd.shim.v1.manager's env.
//
// Settings those functions carry into a plugin whose 2.x configuration has
// no such field (containerd would log "Ignoring unknown key" and drop them)
// are refused, as are values containerd's migration cannot handle.

// upgradeToVersion3 rewrites a version 1 or 2 containerd config (typically
// a k0s drop-in) as a version 3 config, moving each setting to the plugin
// path containerd 2.x's own migration moves it to (semantics: containerd's
// ConfigMigration functions). It refuses, with an *inputError naming
// file:line:col, any setting it cannot move.
func upgradeToVersion3(path string, data []byte) ([]byte, []Warning, error) {
	doc, version, err := parseConfigTOML(path, data)
	if err != nil {
		return nil, nil, err
	}
	// A version-less file is migrated as version 1, as 2.3+ migrate one:
	// short plugin names are renamed, URIs kept.
	version = max(version, 1)
	if version == 3 {
		return data, nil, nil
	}
	tree := tomltree.New(doc)
	root := tree.Root
	m := &upgrade{file: path, text: tree.Text}
	if version == 1 {
		if err := m.v1Rename(root); err != nil {
			return nil, nil, err
		}
	}
	if err := m.plugins(root); err != nil {
		return nil, nil, err
	}
	out := tree.Emit(3)
	if _, err := tomldoc.Parse(out); err != nil {
		return nil, nil, fmt.Errorf("%s: internal error: the version 3 config does not parse: %w", path, err)
	}
	return out, m.warnings, nil
}

// upgrade applies containerd's migration rules to a config's tree.
type upgrade struct {
	file     string
	text     func(*tomldoc.Value) string // a value's text as written
	warnings []Warning
}

func (m *upgrade) warn(code string, n *tomltree.Node, format string, args ...any) {
	m.warnings = append(m.warnings, Warning{Code: code, Pos: at(m.file, n.Pos), Message: fmt.Sprintf(format, args...)})
}

// refuse reports a setting that has no place in a version 3 config.
func (m *upgrade) refuse(n *tomltree.Node, hint string) error {
	msg := fmt.Sprintf("cannot move %s to a version 3 config: containerd 2.x has no such setting", tomldoc.DottedKey(n.Src))
	if hint != "" {
		msg += "; " + hint
	}
	return errorf(at(m.file, n.Pos), "%s", msg)
}

// invalid reports a value containerd's migration cannot handle.
func (m *upgrade) invalid(n *tomltree.Node, format string, args ...any) error {
	return errorf(at(m.file, n.Pos), "cannot move %s to a version 3 config: %s", tomldoc.DottedKey(n.Src), fmt.Sprintf(format, args...))
}

func (m *upgrade) mustTable(n *tomltree.Node) error {
	if !n.IsTable() {
		return m.invalid(n, "it must be a table")
	}
	return nil
}

// v1PluginNames are containerd's version 1 short plugin names
// (v1MigratePluginName's corePlugins).
var v1PluginNames = map[string]string{
	"cri":       criPlugin,
	"cgroups":   "io.containerd.monitor.v1.cgroups",
	"linux":     "io.containerd.runtime.v1.linux",
	"scheduler": "io.containerd.gc.v1.scheduler",
	"bolt":      "io.containerd.metadata.v1.bolt",
	"task":      "io.containerd.runtime.v2.task",
	"opt":       "io.containerd.internal.v1.opt",
	"restart":   "io.containerd.internal.v1.restart",
	"tracing":   "io.containerd.internal.v1.tracing",
	"otlp":      "io.containerd.tracing.processor.v1.otlp",
	"aufs":      "io.containerd.snapshotter.v1.aufs",
	"btrfs":     "io.containerd.snapshotter.v1.btrfs",
	"devmapper": "io.containerd.snapshotter.v1.devmapper",
	"native":    "io.containerd.snapshotter.v1.native",
	"overlayfs": "io.containerd.snapshotter.v1.overlayfs",
	"zfs":       "io.containerd.snapshotter.v1.zfs",
}

// v1PluginID is v1MigratePluginName: the plugin ID containerd reads a
// version 1 plugin name as, and whether it guessed.
func v1PluginID(name string) (id string, guessed bool) {
	switch {
	case strings.Contains(name, "."):
		return name, false
	case v1PluginNames[name] != "":
		return v1PluginNames[name], false
	case strings.HasSuffix(name, "-service"):
		return "io.containerd.service.v1." + name, false
	case name == "windows" || name == "windows-lcow":
		return "io.containerd.snapshotter.v1." + name, true
	default:
		return "io.containerd.grpc.v1." + name, true
	}
}

// v1Rename is v1Migrate.
func (m *upgrade) v1Rename(root *tomltree.Table) error {
	if p := root.Get("plugins"); p != nil {
		if err := m.mustTable(p); err != nil {
			return err
		}
		old := p.Open()
		renamed := tomltree.NewTable()
		for _, k := range old.Keys {
			n := old.Fields[k]
			id, guessed := v1PluginID(k)
			if guessed {
				m.warn(WarnV1PluginAmbiguous, n, "containerd reads the version 1 plugin name %s as %s", tomldoc.Key(k), id)
			}
			if prev := renamed.Get(id); prev != nil {
				return errorf(at(m.file, n.Pos), "%s and %s both configure plugin %s in a version 1 config; containerd keeps one of them at random",
					tomldoc.DottedKey(prev.Src), tomldoc.DottedKey(n.Src), id)
			}
			renamed.Set(id, n)
		}
		p.Table = renamed
	}
	for _, key := range []string{"disabled_plugins", "required_plugins"} {
		n := root.Get(key)
		if n == nil {
			continue
		}
		if n.Val == nil || n.Val.Kind != tomldoc.Array || n.Val.TableArray {
			return m.invalid(n, "it must be an array of strings")
		}
		items := make([]string, len(n.Val.Items))
		changed := false
		for i, item := range n.Val.Items {
			if item.Kind != tomldoc.String {
				return m.invalid(n, "it must be an array of strings")
			}
			id, guessed := v1PluginID(item.Str)
			if guessed {
				m.warn(WarnV1PluginAmbiguous, &tomltree.Node{Pos: item.Pos}, "containerd reads the version 1 plugin name %q as %q", item.Str, id)
			}
			if id != item.Str {
				items[i], changed = tomldoc.Quote(id), true
			} else {
				items[i] = m.text(item)
			}
		}
		if changed {
			n.Raw = "[" + strings.Join(items, ", ") + "]"
		}
	}
	return nil
}

// plugins applies the plugins' ConfigMigration functions for a version 1
// or 2 config. containerd runs them once per version step; they are
// idempotent, so once is enough.
func (m *upgrade) plugins(root *tomltree.Table) error {
	p := root.Get("plugins")
	if p == nil {
		return nil
	}
	if err := m.mustTable(p); err != nil {
		return err
	}
	pt := p.Open()
	if err := m.cri(pt); err != nil {
		return err
	}
	m.renamePlugin(pt, "io.containerd.monitor.v1.cgroups", "io.containerd.monitor.task.v1.cgroups")
	m.renamePlugin(pt, "io.containerd.internal.v1.restart", "io.containerd.monitor.container.v1.restart")
	return m.shimManager(pt)
}

// renamePlugin moves a plugin's table to its 2.x ID, replacing any table
// there (cgroups.go, monitor.go).
func (m *upgrade) renamePlugin(pt *tomltree.Table, old, id string) {
	n := pt.Get(old)
	if n == nil {
		return
	}
	if prev := pt.Get(id); prev != nil {
		m.warn(WarnV3SettingDropped, prev, "containerd's migration replaces %s with %s; this table's settings are dropped",
			tomldoc.DottedKey(prev.Src), tomldoc.DottedKey(n.Src))
	}
	pt.Rename(old, id)
}

// shimManager is the shim manager's ConfigMigration (shim_manager.go).
func (m *upgrade) shimManager(pt *tomltree.Table) error {
	const task, manager = "io.containerd.runtime.v2.task", "io.containerd.shim.v1.manager"
	tn := pt.Get(task)
	if tn == nil {
		return nil
	}
	if err := m.mustTable(tn); err != nil {
		return err
	}
	dest := tomltree.NewTable()
	if sc := tn.Table.Get("sched_core"); sc != nil {
		if sc.Val == nil || sc.Val.Kind != tomldoc.Bool {
			return m.invalid(sc, "it must be a boolean")
		}
		if sc.Val.Bool {
			dest.Set("env", &tomltree.Node{Raw: `["SCHED_CORE=1"]`, Src: sc.Src, Pos: sc.Pos, Comment: sc.Comment, Trailer: sc.Trailer})
		}
		tn.Open().Del("sched_core")
	}
	prev := pt.Get(manager)
	if prev != nil {
		m.warn(WarnV3SettingDropped, prev, "containerd's migration replaces %s when %s is set; this table's settings are dropped",
			tomldoc.DottedKey(prev.Src), tomldoc.DottedKey(tn.Src))
		pt.Set(manager, &tomltree.Node{Table: dest, Src: prev.Src, Pos: prev.Pos})
		return nil
	}
	if len(dest.Keys) > 0 {
		pt.InsertAfter(task, manager, &tomltree.Node{Table: dest, Src: []string{"plugins", manager}, Pos: tn.Pos})
	}
	return nil
}

// Settings the 2.x CRI plugins accept (internal/cri/config/config.go).
var (
	serverKeys = keySet("disable_tcp_service", "stream_server_address", "stream_server_port",
		"stream_idle_timeout", "enable_tls_streaming", "x509_key_pair_streaming")
	x509Keys = keySet("tls_cert_file", "tls_key_file")
	// Moved from the CRI table to the images plugin (images migrateConfig).
	imageKeys = keySet("registry", "image_decryption", "max_concurrent_downloads",
		"image_pull_progress_timeout", "image_pull_with_sync_fs", "stats_collect_period")
	decryptionKeys = keySet("key_model")
	// Moved from the containerd table to the images plugin.
	imageContainerdKeys = keySet("snapshotter", "disable_snapshot_annotations", "discard_unpacked_layers")
	// RuntimeConfig, less containerd and cni.
	runtimeKeys = keySet("enable_selinux", "selinux_category_range", "max_container_log_line_size",
		"disable_apparmor", "restrict_oom_score_adj", "disable_proc_mount", "unset_seccomp_profile",
		"tolerate_missing_hugetlb_controller", "disable_hugetlb_controller",
		"device_ownership_from_security_context", "ignore_image_defined_volumes",
		"netns_mounts_under_state_dir", "enable_unprivileged_ports", "enable_unprivileged_icmp",
		"cdi_spec_dirs", "drain_exec_sync_io_timeout", "ignore_deprecation_warnings",
		"stats_collect_period", "stats_retention_period", "enable_criu")
	// ContainerdConfig, less what moves to the images plugin.
	containerdKeys = keySet("default_runtime_name", "runtimes",
		"ignore_blockio_not_enabled_errors", "ignore_rdt_not_enabled_errors")
	runtimeHandlerKeys = keySet("runtime_type", "runtime_path", "pod_annotations",
		"container_annotations", "options", "privileged_without_host_devices",
		"privileged_without_host_devices_all_devices_allowed", "cgroup_writable",
		"base_runtime_spec", "cni_conf_dir", "cni_max_conf_num", "snapshotter", "sandboxer",
		"disable_pause_image_pull", "io_type")
	cniKeys = keySet("bin_dirs", "conf_dir", "max_conf_num", "setup_serially",
		"conf_template", "ip_pref", "use_internal_loopback")
	// Hints for settings containerd 2.x removed.
	removedSettingHints = map[string]string{
		"systemd_cgroup":             "it applied only to the removed io.containerd.runtime.v1.linux runtime; for runc set SystemdCgroup = true in containerd.runtimes.runc.options",
		"default_runtime":            "define the runtime under containerd.runtimes and name it in default_runtime_name",
		"untrusted_workload_runtime": "define the runtime under containerd.runtimes and select it with a RuntimeClass",
		"no_pivot":                   "set NoPivotRoot in the runc runtime's options",
		"runtime_engine":             "set BinaryName in the runtime's options",
		"runtime_root":               "set Root in the runtime's options",
		"snapshot":                   "a runtime's snapshotter is set with snapshotter",
		"pinned_images":              "it is a setting of plugins.\"io.containerd.cri.v1.images\", which containerd's migration does not move it to",
		"runtime_platforms":          "it is a setting of plugins.\"io.containerd.cri.v1.images\", which containerd's migration does not move it to",
		"use_local_image_pull":       "it is a setting of plugins.\"io.containerd.cri.v1.images\", which containerd's migration does not move it to",
	}
)

func keySet(keys ...string) map[string]bool {
	s := make(map[string]bool, len(keys))
	for _, k := range keys {
		s[k] = true
	}
	return s
}

// destPlugin is a destination plugin table, made when first needed.
type destPlugin struct {
	pt    *tomltree.Table
	id    string
	after func() string // the key to insert a new table after
	node  *tomltree.Node
}

func (d *destPlugin) tab() *tomltree.Table {
	if d.node == nil {
		d.node = &tomltree.Node{Table: tomltree.NewTable(), Src: []string{"plugins", d.id}}
		d.pt.InsertAfter(d.after(), d.id, d.node)
	}
	return d.node.Open()
}

// sub returns the table at k in t, making it if needed.
func (m *upgrade) sub(t *tomltree.Table, k string, src []string) (*tomltree.Table, error) {
	n := t.Get(k)
	if n == nil {
		n = &tomltree.Node{Table: tomltree.NewTable(), Src: append(append([]string(nil), src...), k)}
		t.Set(k, n)
	}
	if err := m.mustTable(n); err != nil {
		return nil, err
	}
	return n.Open(), nil
}

// put moves n to k in t. When k is already set, either n replaces it
// (replace, as the images migration does) or n is dropped (as the runtime
// migration does).
func (m *upgrade) put(t *tomltree.Table, k string, n *tomltree.Node, replace bool) {
	prev := t.Get(k)
	switch {
	case prev == nil:
		t.Set(k, n)
	case replace:
		m.warn(WarnV3SettingDropped, prev, "containerd's migration replaces %s with %s; this setting is dropped",
			tomldoc.DottedKey(prev.Src), tomldoc.DottedKey(n.Src))
		t.Set(k, n)
	default:
		m.warn(WarnV3SettingDropped, n, "containerd's migration keeps %s, set in the same file, over %s; this setting is dropped",
			tomldoc.DottedKey(prev.Src), tomldoc.DottedKey(n.Src))
	}
}

// cri splits the CRI plugin's table between the images, runtime and CRI
// server plugins.
func (m *upgrade) cri(pt *tomltree.Table) error {
	cn := pt.Get(criPlugin)
	if cn == nil {
		return nil
	}
	if err := m.mustTable(cn); err != nil {
		return err
	}
	src := cn.Table
	images := &destPlugin{pt: pt, id: criImagesPlugin, after: func() string { return criPlugin }, node: pt.Get(criImagesPlugin)}
	runtime := &destPlugin{pt: pt, id: criRuntimePlugin, node: pt.Get(criRuntimePlugin), after: func() string {
		if pt.Get(criImagesPlugin) != nil {
			return criImagesPlugin
		}
		return criPlugin
	}}
	for _, d := range []*destPlugin{images, runtime} {
		if d.node != nil {
			if err := m.mustTable(d.node); err != nil {
				return err
			}
		}
	}
	server := tomltree.NewTable()
	for _, k := range src.Keys {
		n := src.Fields[k]
		switch {
		case k == "sandbox_image":
			pinned, err := m.sub(images.tab(), "pinned_images", []string{"plugins", criImagesPlugin})
			if err != nil {
				return err
			}
			m.put(pinned, "sandbox", n, true)
		case imageKeys[k]:
			if k == "image_decryption" {
				if err := m.checkKeys(n, decryptionKeys); err != nil {
					return err
				}
			}
			m.put(images.tab(), k, n, true)
		case serverKeys[k]:
			if k == "x509_key_pair_streaming" {
				if err := m.checkKeys(n, x509Keys); err != nil {
					return err
				}
			}
			server.Set(k, n)
		case k == "enable_cdi":
			if n.Val == nil || n.Val.Kind != tomldoc.Bool || !n.Val.Bool {
				m.warn(WarnV3SettingDropped, n, "containerd 2.x always enables CDI; %s is dropped", tomldoc.DottedKey(n.Src))
			}
		case k == "containerd":
			if err := m.containerd(n, images, runtime); err != nil {
				return err
			}
		case k == "cni":
			if err := m.cni(n, runtime); err != nil {
				return err
			}
		case runtimeKeys[k]:
			m.put(runtime.tab(), k, n, false)
		default:
			return m.refuse(n, removedSettingHints[k])
		}
	}
	if len(server.Keys) == 0 {
		pt.Del(criPlugin)
		return nil
	}
	pt.Set(criPlugin, &tomltree.Node{Table: server, Src: cn.Src, Pos: cn.Pos, Comment: cn.Comment, Trailer: cn.Trailer})
	m.warn(WarnCRIServerKept, cn, "the CRI server settings (%s) stay under plugins.%s, where containerd 2.x reads them; k0s refuses drop-ins that have this table",
		strings.Join(server.Keys, ", "), tomldoc.Key(criPlugin))
	return nil
}

// checkKeys refuses the keys of table n that are not in keys.
func (m *upgrade) checkKeys(n *tomltree.Node, keys map[string]bool) error {
	if err := m.mustTable(n); err != nil {
		return err
	}
	for _, k := range n.Table.Keys {
		if !keys[k] {
			return m.refuse(n.Table.Fields[k], removedSettingHints[k])
		}
	}
	return nil
}

// containerd moves the CRI plugin's containerd table.
func (m *upgrade) containerd(cn *tomltree.Node, images, runtime *destPlugin) error {
	if err := m.mustTable(cn); err != nil {
		return err
	}
	runtimes := cn.Table.Get("runtimes") != nil
	for _, k := range cn.Table.Keys {
		n := cn.Table.Fields[k]
		switch {
		case imageContainerdKeys[k]:
			if !runtimes {
				m.warn(WarnMigrationQuirk, n, "containerd 2.x's own migration of this config drops %s, because %s sets no runtimes; the version 3 config keeps it, as plugins.%s.%s",
					tomldoc.DottedKey(n.Src), tomldoc.DottedKey(cn.Src), tomldoc.Key(criImagesPlugin), tomldoc.Key(k))
			}
			m.put(images.tab(), k, n, true)
		case containerdKeys[k]:
			if k == "runtimes" {
				if err := m.runtimes(n); err != nil {
					return err
				}
			}
			dst, err := m.sub(runtime.tab(), "containerd", []string{"plugins", criRuntimePlugin})
			if err != nil {
				return err
			}
			m.put(dst, k, n, false)
		default:
			return m.refuse(n, removedSettingHints[k])
		}
	}
	return nil
}

// runtimes checks the runtime handlers and renames sandbox_mode.
func (m *upgrade) runtimes(rn *tomltree.Node) error {
	if err := m.mustTable(rn); err != nil {
		return err
	}
	for _, name := range rn.Table.Keys {
		h := rn.Table.Fields[name]
		if err := m.mustTable(h); err != nil {
			return err
		}
		for _, k := range h.Table.Keys {
			if !runtimeHandlerKeys[k] && k != "sandbox_mode" {
				return m.refuse(h.Table.Fields[k], removedSettingHints[k])
			}
		}
		sm := h.Table.Get("sandbox_mode")
		if sm == nil {
			continue
		}
		if h.Table.Get("sandboxer") != nil {
			return errorf(at(m.file, sm.Pos), "cannot move %s to a version 3 config: it became sandboxer, which is also set", tomldoc.DottedKey(sm.Src))
		}
		rn.Open()
		h.Open().Rename("sandbox_mode", "sandboxer")
	}
	return nil
}

// cni moves the CRI plugin's cni table.
func (m *upgrade) cni(cn *tomltree.Node, runtime *destPlugin) error {
	if err := m.mustTable(cn); err != nil {
		return err
	}
	for _, k := range cn.Table.Keys {
		n := cn.Table.Fields[k]
		dst, err := m.sub(runtime.tab(), "cni", []string{"plugins", criRuntimePlugin})
		if err != nil {
			return err
		}
		switch {
		case k == "bin_dir":
			if n.Val == nil || n.Val.Kind != tomldoc.String {
				return m.invalid(n, "it must be a string")
			}
			// containerd's test for an existing bin_dirs never matches a
			// decoded config, so bin_dir always wins.
			dirs := &tomltree.Node{Raw: "[" + n.Raw + "]", Src: n.Src, Pos: n.Pos, Comment: n.Comment, Trailer: n.Trailer}
			m.put(dst, "bin_dirs", dirs, true)
		case cniKeys[k]:
			m.put(dst, k, n, false)
		default:
			return m.refuse(n, removedSettingHints[k])
		}
	}
	return nil
}

// k0s136Refuses reports a drop-in k0s 1.36+ refuses to start with: a
// version other than 3, or a plugins."io.containerd.grpc.v1.cri" table
// (k0s pkg/component/worker/containerd/configurer.go ValidateConfigFile,
// v1.36.1+). A version-less drop-in passes.
func k0s136Refuses(data []byte) bool {
	doc, err := tomldoc.Parse(data)
	if err != nil {
		return true
	}
	if v := doc.Root.Get("version"); v != nil && (v.Kind != tomldoc.Integer || v.Str != "3") {
		return true
	}
	return doc.Root.Lookup("plugins", criPlugin) != nil
}

// warnK0sDropIns warns, on a k0s node, about every drop-in k0s 1.36 and
// later refuse to start with, as it is after the migration: edited or
// not, the node cannot move to k0s 1.36 with it.
func (c *converter) warnK0sDropIns(files []*ConfigFile, res *Result) {
	if !files[0].K0sManaged {
		return
	}
	after := map[string][]byte{}
	for _, e := range res.ConfigEdits {
		after[e.Path] = e.After
	}
	for _, f := range files[1:] {
		if f.K0sManaged || path.Dir(f.Path) != k0sDropInDir {
			continue
		}
		data, edited := after[f.Path]
		if !edited {
			data = f.Doc.Data
		}
		if k0s136Refuses(data) {
			c.warn(Warning{Code: WarnK0sDropInVersion, Pos: Position{File: f.Path},
				Message: "k0s 1.36 and later refuse to start with this drop-in (its version is not 3, or it has a plugins.\"io.containerd.grpc.v1.cri\" table); --to-config-version 3 rewrites it as k0s 1.36 wants it"})
		}
	}
}

// toVersion3 rewrites the config files older than version 3, edited or
// not, when asked to; k0s's own generated config is left to k0s.
func (c *converter) toVersion3(files []*ConfigFile, res *Result) error {
	if c.opts.ToConfigVersion != 3 {
		c.warnK0sDropIns(files, res)
		return nil
	}
	edited := map[string]int{}
	for i, e := range res.ConfigEdits {
		edited[e.Path] = i
	}
	for _, f := range files {
		if f.Version >= 3 || f.K0sManaged {
			continue
		}
		i, ok := edited[f.Path]
		if !ok {
			res.ConfigEdits = append(res.ConfigEdits, ConfigEdit{Path: f.Path, Before: f.Doc.Data, After: f.Doc.Data})
			i = len(res.ConfigEdits) - 1
		}
		after, warnings, err := upgradeToVersion3(f.Path, res.ConfigEdits[i].After)
		if err != nil {
			return err
		}
		if err := checkVersion3(f.Path, after); err != nil {
			return err
		}
		for _, w := range warnings {
			c.warn(w)
		}
		res.ConfigEdits[i].After = after
	}
	return nil
}

// checkVersion3 makes sure a rewritten config brings no legacy registry
// settings to life: a version 1 config's registry under the long plugin
// name, ignored by containerd 1.x, is read by containerd 2.x once the file
// is version 3.
func checkVersion3(path string, data []byte) error {
	f, err := ParseConfig(path, data)
	if err != nil {
		return fmt.Errorf("%s: as a version 3 config, its registry settings would be: %w; they were ignored so far: remove or fix them, then run again", path, err)
	}
	if r := f.Registry; r != nil && (len(r.Mirrors) > 0 || hasTLS(r) || len(r.Auths) > 0) {
		return errorf(r.Pos, "as a version 3 config, this file's registry settings under plugins.\"io.containerd.grpc.v1.cri\" (ignored so far, as the config is version 1) would take effect: remove them, or set version = 2 and run again to migrate them")
	}
	return nil
}

// needsVersion3 reports a file that --to-config-version 3 must rewrite.
func (c *converter) needsVersion3(files []*ConfigFile) bool {
	if c.opts.ToConfigVersion != 3 {
		return false
	}
	for _, f := range files {
		if f.Version < 3 && !f.K0sManaged {
			return true
		}
	}
	return false
}
