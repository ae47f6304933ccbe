package convert

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
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

// Plugin IDs.
const (
	v3CRIPlugin     = "io.containerd.grpc.v1.cri"
	v3ImagesPlugin  = "io.containerd.cri.v1.images"
	v3RuntimePlugin = "io.containerd.cri.v1.runtime"
)

// upgradeToVersion3 rewrites a version 1 or 2 containerd config (typically a k0s
// drop-in) as a version 3 config, moving each setting to the plugin path
// containerd 2.x's own migration moves it to (semantics: containerd's
// ConfigMigration functions). It refuses, with an *inputError naming file:line:col,
// any setting it cannot move.
func upgradeToVersion3(path string, data []byte) ([]byte, []Warning, error) {
	doc, err := tomldoc.Parse(data)
	if err != nil {
		if se, ok := err.(*tomldoc.SyntaxError); ok {
			return nil, nil, errorf(at(path, se.Pos), "invalid TOML: %s", se.Msg)
		}
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	version := 1
	if v := doc.Root.Get("version"); v != nil {
		n, err := strconv.ParseInt(v.Str, 0, 64)
		if v.Kind != tomldoc.Integer || err != nil {
			return nil, nil, errorf(at(path, v.Pos), "version must be an integer, found %s", v.Kind)
		}
		if n == 0 {
			n = 1 // containerd treats 0 (unset) as version 1
		}
		if n < 1 || n > 3 {
			return nil, nil, errorf(at(path, v.Pos), "unsupported config version %d (want 1, 2 or 3)", n)
		}
		version = int(n)
	}
	if version == 3 {
		return data, nil, nil
	}
	b := newV3Builder(doc)
	root := b.root()
	m := &v3Migration{file: path, text: b.text}
	if version == 1 {
		if err := m.v1Rename(root); err != nil {
			return nil, nil, err
		}
	}
	if err := m.plugins(root); err != nil {
		return nil, nil, err
	}
	out := b.emit(root)
	if _, err := tomldoc.Parse(out); err != nil {
		return nil, nil, fmt.Errorf("%s: internal error: the version 3 config does not parse: %w", path, err)
	}
	return out, m.warnings, nil
}

// v3Node is one value of the config being rewritten.
type v3Node struct {
	val *tomldoc.Value // the input value; nil for values made by the migration
	// raw is the value's text for everything written as key = value:
	// scalars, arrays, inline tables. Empty for tables written as [headers]
	// and for arrays of tables.
	raw   string
	table *v3Table   // tables, inline or not
	elems []*v3Table // arrays of tables ([[header]])
	src   []string   // the key path in the input
	pos   tomldoc.Pos
	// comment holds the comment lines before the value's statement; trailer
	// the comment after it on the same line.
	comment []string
	trailer string
}

func (n *v3Node) isTable() bool { return n.table != nil && n.elems == nil }

// open returns the node's table for changes, writing it as a [header]
// table from now on.
func (n *v3Node) open() *v3Table {
	n.raw = ""
	return n.table
}

// v3Table is a table whose keys keep their order.
type v3Table struct {
	keys   []string
	fields map[string]*v3Node
}

func newV3Table() *v3Table { return &v3Table{fields: map[string]*v3Node{}} }

func (t *v3Table) get(k string) *v3Node { return t.fields[k] }

// set replaces the value at k, keeping its place, or appends k.
func (t *v3Table) set(k string, n *v3Node) {
	if _, ok := t.fields[k]; !ok {
		t.keys = append(t.keys, k)
	}
	t.fields[k] = n
}

// insertAfter adds k just after the key after (at the end if after is
// absent).
func (t *v3Table) insertAfter(after, k string, n *v3Node) {
	t.del(k)
	i := len(t.keys)
	for j, key := range t.keys {
		if key == after {
			i = j + 1
		}
	}
	t.keys = append(t.keys[:i], append([]string{k}, t.keys[i:]...)...)
	t.fields[k] = n
}

func (t *v3Table) del(k string) {
	if _, ok := t.fields[k]; !ok {
		return
	}
	delete(t.fields, k)
	for i, key := range t.keys {
		if key == k {
			t.keys = append(t.keys[:i:i], t.keys[i+1:]...)
			break
		}
	}
}

// rename renames old to k in place, replacing any value at k.
func (t *v3Table) rename(old, k string) {
	n := t.fields[old]
	t.del(k)
	for i, key := range t.keys {
		if key == old {
			t.keys[i] = k
		}
	}
	delete(t.fields, old)
	t.fields[k] = n
}

// v3Migration applies containerd's migration rules to a config's tree.
type v3Migration struct {
	file     string
	text     func(*tomldoc.Value) string // a value's text as written
	warnings []Warning
}

func (m *v3Migration) warn(code string, n *v3Node, format string, args ...any) {
	m.warnings = append(m.warnings, Warning{Code: code, Pos: at(m.file, n.pos), Message: fmt.Sprintf(format, args...)})
}

// refuse reports a setting that has no place in a version 3 config.
func (m *v3Migration) refuse(n *v3Node, hint string) error {
	msg := fmt.Sprintf("cannot move %s to a version 3 config: containerd 2.x has no such setting", tomldoc.DottedKey(n.src))
	if hint != "" {
		msg += "; " + hint
	}
	return errorf(at(m.file, n.pos), "%s", msg)
}

// invalid reports a value containerd's migration cannot handle.
func (m *v3Migration) invalid(n *v3Node, format string, args ...any) error {
	return errorf(at(m.file, n.pos), "cannot move %s to a version 3 config: %s", tomldoc.DottedKey(n.src), fmt.Sprintf(format, args...))
}

func (m *v3Migration) mustTable(n *v3Node) error {
	if !n.isTable() {
		return m.invalid(n, "it must be a table")
	}
	return nil
}

// v1PluginNames are containerd's version 1 short plugin names
// (v1MigratePluginName's corePlugins).
var v3V1PluginNames = map[string]string{
	"cri":       "io.containerd.grpc.v1.cri",
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

// v3PluginID is v1MigratePluginName: the plugin ID containerd reads a
// version 1 plugin name as, and whether it guessed.
func v3PluginID(name string) (id string, guessed bool) {
	switch {
	case strings.Contains(name, "."):
		return name, false
	case v3V1PluginNames[name] != "":
		return v3V1PluginNames[name], false
	case strings.HasSuffix(name, "-service"):
		return "io.containerd.service.v1." + name, false
	case name == "windows" || name == "windows-lcow":
		return "io.containerd.snapshotter.v1." + name, true
	default:
		return "io.containerd.grpc.v1." + name, true
	}
}

// v1Rename is v1Migrate.
func (m *v3Migration) v1Rename(root *v3Table) error {
	if p := root.get("plugins"); p != nil {
		if err := m.mustTable(p); err != nil {
			return err
		}
		old := p.open()
		renamed := newV3Table()
		for _, k := range old.keys {
			n := old.fields[k]
			id, guessed := v3PluginID(k)
			if guessed {
				m.warn(WarnV1PluginAmbiguous, n, "containerd reads the version 1 plugin name %s as %s", tomldoc.Key(k), id)
			}
			if prev := renamed.get(id); prev != nil {
				return errorf(at(m.file, n.pos), "%s and %s both configure plugin %s in a version 1 config; containerd keeps one of them at random",
					tomldoc.DottedKey(prev.src), tomldoc.DottedKey(n.src), id)
			}
			renamed.set(id, n)
		}
		p.table = renamed
	}
	for _, key := range []string{"disabled_plugins", "required_plugins"} {
		n := root.get(key)
		if n == nil {
			continue
		}
		if n.val == nil || n.val.Kind != tomldoc.Array || n.val.TableArray {
			return m.invalid(n, "it must be an array of strings")
		}
		items := make([]string, len(n.val.Items))
		changed := false
		for i, item := range n.val.Items {
			if item.Kind != tomldoc.String {
				return m.invalid(n, "it must be an array of strings")
			}
			id, guessed := v3PluginID(item.Str)
			if guessed {
				m.warn(WarnV1PluginAmbiguous, &v3Node{pos: item.Pos}, "containerd reads the version 1 plugin name %q as %q", item.Str, id)
			}
			if id != item.Str {
				items[i], changed = tomldoc.Quote(id), true
			} else {
				items[i] = m.text(item)
			}
		}
		if changed {
			n.raw = "[" + strings.Join(items, ", ") + "]"
		}
	}
	return nil
}

// plugins applies the plugins' ConfigMigration functions for a version 1
// or 2 config. containerd runs them once per version step; they are
// idempotent, so once is enough.
func (m *v3Migration) plugins(root *v3Table) error {
	p := root.get("plugins")
	if p == nil {
		return nil
	}
	if err := m.mustTable(p); err != nil {
		return err
	}
	pt := p.open()
	if err := m.cri(pt); err != nil {
		return err
	}
	m.renamePlugin(pt, "io.containerd.monitor.v1.cgroups", "io.containerd.monitor.task.v1.cgroups")
	m.renamePlugin(pt, "io.containerd.internal.v1.restart", "io.containerd.monitor.container.v1.restart")
	return m.shimManager(pt)
}

// renamePlugin moves a plugin's table to its 2.x ID, replacing any table
// there (cgroups.go, monitor.go).
func (m *v3Migration) renamePlugin(pt *v3Table, old, id string) {
	n := pt.get(old)
	if n == nil {
		return
	}
	if prev := pt.get(id); prev != nil {
		m.warn(WarnV3SettingDropped, prev, "containerd's migration replaces %s with %s; this table's settings are dropped",
			tomldoc.DottedKey(prev.src), tomldoc.DottedKey(n.src))
	}
	pt.rename(old, id)
}

// shimManager is the shim manager's ConfigMigration (shim_manager.go).
func (m *v3Migration) shimManager(pt *v3Table) error {
	const task, manager = "io.containerd.runtime.v2.task", "io.containerd.shim.v1.manager"
	tn := pt.get(task)
	if tn == nil {
		return nil
	}
	if err := m.mustTable(tn); err != nil {
		return err
	}
	dest := newV3Table()
	if sc := tn.table.get("sched_core"); sc != nil {
		if sc.val == nil || sc.val.Kind != tomldoc.Bool {
			return m.invalid(sc, "it must be a boolean")
		}
		if sc.val.Bool {
			dest.set("env", &v3Node{raw: `["SCHED_CORE=1"]`, src: sc.src, pos: sc.pos, comment: sc.comment, trailer: sc.trailer})
		}
		tn.open().del("sched_core")
	}
	prev := pt.get(manager)
	if prev != nil {
		m.warn(WarnV3SettingDropped, prev, "containerd's migration replaces %s when %s is set; this table's settings are dropped",
			tomldoc.DottedKey(prev.src), tomldoc.DottedKey(tn.src))
		pt.set(manager, &v3Node{table: dest, src: prev.src, pos: prev.pos})
		return nil
	}
	if len(dest.keys) > 0 {
		pt.insertAfter(task, manager, &v3Node{table: dest, src: []string{"plugins", manager}, pos: tn.pos})
	}
	return nil
}

// Settings the 2.x CRI plugins accept (internal/cri/config/config.go).
var (
	v3ServerKeys = v3Set("disable_tcp_service", "stream_server_address", "stream_server_port",
		"stream_idle_timeout", "enable_tls_streaming", "x509_key_pair_streaming")
	v3X509Keys = v3Set("tls_cert_file", "tls_key_file")
	// Moved from the CRI table to the images plugin (images migrateConfig).
	v3ImageKeys = v3Set("registry", "image_decryption", "max_concurrent_downloads",
		"image_pull_progress_timeout", "image_pull_with_sync_fs", "stats_collect_period")
	v3DecryptionKeys = v3Set("key_model")
	// Moved from the containerd table to the images plugin.
	v3ImageContainerdKeys = v3Set("snapshotter", "disable_snapshot_annotations", "discard_unpacked_layers")
	// RuntimeConfig, less containerd and cni.
	v3RuntimeKeys = v3Set("enable_selinux", "selinux_category_range", "max_container_log_line_size",
		"disable_apparmor", "restrict_oom_score_adj", "disable_proc_mount", "unset_seccomp_profile",
		"tolerate_missing_hugetlb_controller", "disable_hugetlb_controller",
		"device_ownership_from_security_context", "ignore_image_defined_volumes",
		"netns_mounts_under_state_dir", "enable_unprivileged_ports", "enable_unprivileged_icmp",
		"cdi_spec_dirs", "drain_exec_sync_io_timeout", "ignore_deprecation_warnings",
		"stats_collect_period", "stats_retention_period", "enable_criu")
	// ContainerdConfig, less what moves to the images plugin.
	v3ContainerdKeys = v3Set("default_runtime_name", "runtimes",
		"ignore_blockio_not_enabled_errors", "ignore_rdt_not_enabled_errors")
	v3RuntimeHandlerKeys = v3Set("runtime_type", "runtime_path", "pod_annotations",
		"container_annotations", "options", "privileged_without_host_devices",
		"privileged_without_host_devices_all_devices_allowed", "cgroup_writable",
		"base_runtime_spec", "cni_conf_dir", "cni_max_conf_num", "snapshotter", "sandboxer",
		"disable_pause_image_pull", "io_type")
	v3CNIKeys = v3Set("bin_dirs", "conf_dir", "max_conf_num", "setup_serially",
		"conf_template", "ip_pref", "use_internal_loopback")
	// Hints for settings containerd 2.x removed.
	v3Hints = map[string]string{
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

func v3Set(keys ...string) map[string]bool {
	s := make(map[string]bool, len(keys))
	for _, k := range keys {
		s[k] = true
	}
	return s
}

// v3Dest is a destination plugin table, made when first needed.
type v3Dest struct {
	pt    *v3Table
	id    string
	after func() string // the key to insert a new table after
	node  *v3Node
}

func (d *v3Dest) tab() *v3Table {
	if d.node == nil {
		d.node = &v3Node{table: newV3Table(), src: []string{"plugins", d.id}}
		d.pt.insertAfter(d.after(), d.id, d.node)
	}
	return d.node.open()
}

// sub returns the table at k in t, making it if needed.
func (m *v3Migration) sub(t *v3Table, k string, src []string) (*v3Table, error) {
	n := t.get(k)
	if n == nil {
		n = &v3Node{table: newV3Table(), src: append(append([]string(nil), src...), k)}
		t.set(k, n)
	}
	if err := m.mustTable(n); err != nil {
		return nil, err
	}
	return n.open(), nil
}

// put moves n to k in t. When k is already set, either n replaces it
// (replace, as the images migration does) or n is dropped (as the runtime
// migration does).
func (m *v3Migration) put(t *v3Table, k string, n *v3Node, replace bool) {
	prev := t.get(k)
	switch {
	case prev == nil:
		t.set(k, n)
	case replace:
		m.warn(WarnV3SettingDropped, prev, "containerd's migration replaces %s with %s; this setting is dropped",
			tomldoc.DottedKey(prev.src), tomldoc.DottedKey(n.src))
		t.set(k, n)
	default:
		m.warn(WarnV3SettingDropped, n, "containerd's migration keeps %s, set in the same file, over %s; this setting is dropped",
			tomldoc.DottedKey(prev.src), tomldoc.DottedKey(n.src))
	}
}

// cri splits the CRI plugin's table between the images, runtime and CRI
// server plugins.
func (m *v3Migration) cri(pt *v3Table) error {
	cn := pt.get(v3CRIPlugin)
	if cn == nil {
		return nil
	}
	if err := m.mustTable(cn); err != nil {
		return err
	}
	src := cn.table
	images := &v3Dest{pt: pt, id: v3ImagesPlugin, after: func() string { return v3CRIPlugin }, node: pt.get(v3ImagesPlugin)}
	runtime := &v3Dest{pt: pt, id: v3RuntimePlugin, node: pt.get(v3RuntimePlugin), after: func() string {
		if pt.get(v3ImagesPlugin) != nil {
			return v3ImagesPlugin
		}
		return v3CRIPlugin
	}}
	for _, d := range []*v3Dest{images, runtime} {
		if d.node != nil {
			if err := m.mustTable(d.node); err != nil {
				return err
			}
		}
	}
	server := newV3Table()
	for _, k := range src.keys {
		n := src.fields[k]
		switch {
		case k == "sandbox_image":
			pinned, err := m.sub(images.tab(), "pinned_images", []string{"plugins", v3ImagesPlugin})
			if err != nil {
				return err
			}
			m.put(pinned, "sandbox", n, true)
		case v3ImageKeys[k]:
			if k == "image_decryption" {
				if err := m.checkKeys(n, v3DecryptionKeys); err != nil {
					return err
				}
			}
			m.put(images.tab(), k, n, true)
		case v3ServerKeys[k]:
			if k == "x509_key_pair_streaming" {
				if err := m.checkKeys(n, v3X509Keys); err != nil {
					return err
				}
			}
			server.set(k, n)
		case k == "enable_cdi":
			if n.val == nil || n.val.Kind != tomldoc.Bool || !n.val.Bool {
				m.warn(WarnV3SettingDropped, n, "containerd 2.x always enables CDI; %s is dropped", tomldoc.DottedKey(n.src))
			}
		case k == "containerd":
			if err := m.containerd(n, images, runtime); err != nil {
				return err
			}
		case k == "cni":
			if err := m.cni(n, runtime); err != nil {
				return err
			}
		case v3RuntimeKeys[k]:
			m.put(runtime.tab(), k, n, false)
		default:
			return m.refuse(n, v3Hints[k])
		}
	}
	if len(server.keys) == 0 {
		pt.del(v3CRIPlugin)
		return nil
	}
	pt.set(v3CRIPlugin, &v3Node{table: server, src: cn.src, pos: cn.pos, comment: cn.comment, trailer: cn.trailer})
	m.warn(WarnCRIServerKept, cn, "the CRI server settings (%s) stay under plugins.%s, where containerd 2.x reads them; k0s refuses drop-ins that have this table",
		strings.Join(server.keys, ", "), tomldoc.Key(v3CRIPlugin))
	return nil
}

// checkKeys refuses the keys of table n that are not in keys.
func (m *v3Migration) checkKeys(n *v3Node, keys map[string]bool) error {
	if err := m.mustTable(n); err != nil {
		return err
	}
	for _, k := range n.table.keys {
		if !keys[k] {
			return m.refuse(n.table.fields[k], v3Hints[k])
		}
	}
	return nil
}

// containerd moves the CRI plugin's containerd table.
func (m *v3Migration) containerd(cn *v3Node, images, runtime *v3Dest) error {
	if err := m.mustTable(cn); err != nil {
		return err
	}
	runtimes := cn.table.get("runtimes") != nil
	for _, k := range cn.table.keys {
		n := cn.table.fields[k]
		switch {
		case v3ImageContainerdKeys[k]:
			if !runtimes {
				m.warn(WarnMigrationQuirk, n, "containerd 2.x's own migration of this config drops %s, because %s sets no runtimes; the version 3 config keeps it, as plugins.%s.%s",
					tomldoc.DottedKey(n.src), tomldoc.DottedKey(cn.src), tomldoc.Key(v3ImagesPlugin), tomldoc.Key(k))
			}
			m.put(images.tab(), k, n, true)
		case v3ContainerdKeys[k]:
			if k == "runtimes" {
				if err := m.runtimes(n); err != nil {
					return err
				}
			}
			dst, err := m.sub(runtime.tab(), "containerd", []string{"plugins", v3RuntimePlugin})
			if err != nil {
				return err
			}
			m.put(dst, k, n, false)
		default:
			return m.refuse(n, v3Hints[k])
		}
	}
	return nil
}

// runtimes checks the runtime handlers and renames sandbox_mode.
func (m *v3Migration) runtimes(rn *v3Node) error {
	if err := m.mustTable(rn); err != nil {
		return err
	}
	for _, name := range rn.table.keys {
		h := rn.table.fields[name]
		if err := m.mustTable(h); err != nil {
			return err
		}
		for _, k := range h.table.keys {
			if !v3RuntimeHandlerKeys[k] && k != "sandbox_mode" {
				return m.refuse(h.table.fields[k], v3Hints[k])
			}
		}
		sm := h.table.get("sandbox_mode")
		if sm == nil {
			continue
		}
		if h.table.get("sandboxer") != nil {
			return errorf(at(m.file, sm.pos), "cannot move %s to a version 3 config: it became sandboxer, which is also set", tomldoc.DottedKey(sm.src))
		}
		rn.open()
		h.open().rename("sandbox_mode", "sandboxer")
	}
	return nil
}

// cni moves the CRI plugin's cni table.
func (m *v3Migration) cni(cn *v3Node, runtime *v3Dest) error {
	if err := m.mustTable(cn); err != nil {
		return err
	}
	for _, k := range cn.table.keys {
		n := cn.table.fields[k]
		dst, err := m.sub(runtime.tab(), "cni", []string{"plugins", v3RuntimePlugin})
		if err != nil {
			return err
		}
		switch {
		case k == "bin_dir":
			if n.val == nil || n.val.Kind != tomldoc.String {
				return m.invalid(n, "it must be a string")
			}
			// containerd's test for an existing bin_dirs never matches a
			// decoded config, so bin_dir always wins.
			dirs := &v3Node{raw: "[" + n.raw + "]", src: n.src, pos: n.pos, comment: n.comment, trailer: n.trailer}
			m.put(dst, "bin_dirs", dirs, true)
		case v3CNIKeys[k]:
			m.put(dst, k, n, false)
		default:
			return m.refuse(n, v3Hints[k])
		}
	}
	return nil
}

// v3Builder turns a parsed document into a tree of v3Nodes and writes the
// tree back out.
type v3Builder struct {
	doc  *tomldoc.Doc
	data []byte
	// comments and trailers are the comment lines before a value's
	// statement and the comment after it on its line: tomldoc keeps no
	// comments.
	comments map[*tomldoc.Value][]string
	trailers map[*tomldoc.Value]string
	// top is the comment block that opens the file; tail the comments
	// after its last statement.
	top, tail []string
	// versionComments are the comments before the version statement.
	versionComments []string
}

func newV3Builder(doc *tomldoc.Doc) *v3Builder {
	b := &v3Builder{
		doc: doc, data: doc.Data,
		comments: map[*tomldoc.Value][]string{}, trailers: map[*tomldoc.Value]string{},
	}
	b.scan()
	return b
}

// commentLines returns the comment lines of data[start:end].
func (b *v3Builder) commentLines(start, end int) []string {
	var out []string
	for _, line := range strings.Split(string(b.data[start:end]), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// trailer returns the comment that follows offset i, the end of a
// statement's text, on its line.
func (b *v3Builder) trailer(i int) string {
	for i < len(b.data) && (b.data[i] == ' ' || b.data[i] == '\t') {
		i++
	}
	if i >= len(b.data) || b.data[i] != '#' {
		return ""
	}
	j := i
	for j < len(b.data) && b.data[j] != '\n' {
		j++
	}
	return strings.TrimRight(string(b.data[i:j]), "\r \t")
}

// scan finds the comments around statements.
func (b *v3Builder) scan() {
	stmts := b.doc.Stmts
	// The file's opening comment block: the comment lines before the first
	// blank line or statement, and any before the version.
	prev, i, comments := 0, 0, false
	for i < len(b.data) {
		j := i
		for j < len(b.data) && b.data[j] != '\n' {
			j++
		}
		line := strings.TrimSpace(string(b.data[i:j]))
		if line == "" && comments {
			prev = i
			break
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			prev = i
			break
		}
		comments = comments || line != ""
		i = j + 1
	}
	if i >= len(b.data) && comments {
		prev = len(b.data)
	}
	if len(stmts) > 0 && stmts[0].Kind == tomldoc.KeyValue && len(stmts[0].Table) == 0 &&
		len(stmts[0].Key) == 1 && stmts[0].Key[0] == "version" {
		prev = stmts[0].Start
	}
	b.top = b.commentLines(0, prev)
	for k := range stmts {
		s := &stmts[k]
		lead := b.commentLines(min(prev, s.Start), s.Start)
		prev = s.End
		switch s.Kind {
		case tomldoc.KeyValue:
			if len(s.Table) == 0 && len(s.Key) == 1 && s.Key[0] == "version" {
				b.versionComments = lead
				continue
			}
			b.comments[s.Value] = lead
			b.trailers[s.Value] = b.trailer(s.TextEnd)
		case tomldoc.Header:
			// Lookup finds no table within arrays of tables.
			if v := b.doc.Root.Lookup(s.Table...); v != nil {
				b.comments[v] = lead
				b.trailers[v] = b.trailer(s.TextEnd)
			}
		}
	}
	b.tail = b.commentLines(min(prev, len(b.data)), len(b.data))
}

// root builds the tree of the document.
func (b *v3Builder) root() *v3Table { return b.table(b.doc.Root, nil) }

func (b *v3Builder) table(t *tomldoc.Tab, path []string) *v3Table {
	out := newV3Table()
	for _, k := range t.Keys {
		if len(path) == 0 && k == "version" {
			continue
		}
		out.set(k, b.node(t.Fields[k], append(append([]string(nil), path...), k)))
	}
	return out
}

func (b *v3Builder) node(v *tomldoc.Value, path []string) *v3Node {
	n := &v3Node{val: v, src: path, pos: v.Pos, comment: b.comments[v], trailer: b.trailers[v]}
	if v.KeyPos != (tomldoc.Pos{}) {
		n.pos = v.KeyPos
	}
	switch {
	case v.Kind == tomldoc.Table:
		n.table = b.table(v.Table, path)
		if v.Table.Inline {
			n.raw = b.text(v)
		}
	case v.Kind == tomldoc.Array && v.TableArray:
		for _, item := range v.Items {
			n.elems = append(n.elems, b.table(item.Table, path))
		}
	default:
		n.raw = b.text(v)
	}
	return n
}

// text returns a value's text as written or, for a table that a dotted key
// inside an inline table made (it has no text of its own), the table
// rewritten from its values' text.
func (b *v3Builder) text(v *tomldoc.Value) string {
	if v.Kind != tomldoc.Table || v.End > v.Start {
		return string(b.data[v.Start:v.End])
	}
	items := make([]string, len(v.Table.Keys))
	for i, k := range v.Table.Keys {
		items[i] = tomldoc.Key(k) + " = " + b.text(v.Table.Fields[k])
	}
	return "{ " + strings.Join(items, ", ") + " }"
}

// emit writes the tree as TOML: the opening comments, version = 3, the
// root's other keys, then every table under a [header], keys before
// sub-tables, each in input order.
func (b *v3Builder) emit(root *v3Table) []byte {
	var w strings.Builder
	for _, c := range b.top {
		w.WriteString(c + "\n")
	}
	if len(b.top) > 0 {
		w.WriteString("\n")
	}
	for _, c := range b.versionComments {
		w.WriteString(c + "\n")
	}
	w.WriteString("version = 3\n")
	v3EmitTable(&w, nil, root)
	if len(b.tail) > 0 {
		w.WriteString("\n")
		for _, c := range b.tail {
			w.WriteString(c + "\n")
		}
	}
	return []byte(w.String())
}

// v3EmitTable writes t's keys, then its sub-tables.
func v3EmitTable(w *strings.Builder, path []string, t *v3Table) {
	for _, k := range t.keys {
		n := t.fields[k]
		if n.raw == "" {
			continue
		}
		for _, c := range n.comment {
			w.WriteString(c + "\n")
		}
		w.WriteString(tomldoc.Key(k) + " = " + n.raw)
		if n.trailer != "" {
			w.WriteString(" " + n.trailer)
		}
		w.WriteString("\n")
	}
	for _, k := range t.keys {
		n := t.fields[k]
		if n.raw != "" {
			continue
		}
		sub := append(append([]string(nil), path...), k)
		if n.elems != nil {
			for _, el := range n.elems {
				w.WriteString("\n[[" + tomldoc.DottedKey(sub) + "]]\n")
				v3EmitTable(w, sub, el)
			}
			continue
		}
		leaves := false
		for _, c := range n.table.keys {
			leaves = leaves || n.table.fields[c].raw != ""
		}
		if leaves || len(n.table.keys) == 0 || len(n.comment) > 0 || n.trailer != "" {
			w.WriteString("\n")
			for _, c := range n.comment {
				w.WriteString(c + "\n")
			}
			w.WriteString("[" + tomldoc.DottedKey(sub) + "]")
			if n.trailer != "" {
				w.WriteString(" " + n.trailer)
			}
			w.WriteString("\n")
		}
		v3EmitTable(w, sub, n.table)
	}
}
