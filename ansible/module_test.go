package ansible

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const moduleFile = collectionSource + "/plugins/modules/registry_hosts.py"

const moduleName = "certsd_migrate.containerd.registry_hosts"

// moduleParts loads the module's documentation and argument spec with
// Python, as Ansible does.
const moduleParts = `
import importlib.util, json, sys, yaml
spec = importlib.util.spec_from_file_location("registry_hosts", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
print(json.dumps({
    "spec": m.ARGUMENT_SPEC,
    "doc": yaml.safe_load(m.DOCUMENTATION),
    "examples": yaml.safe_load(m.EXAMPLES),
    "return": yaml.safe_load(m.RETURN),
    "flags": [f for _, f in m.VALUE_FLAGS],
}))
`

type optionDoc struct {
	Type     string `json:"type"`
	Elements string `json:"elements"`
	Default  any    `json:"default"`
	Choices  []any  `json:"choices"`
}

type moduleDoc struct {
	Spec map[string]optionDoc `json:"spec"`
	Doc  struct {
		Module     string               `json:"module"`
		Options    map[string]optionDoc `json:"options"`
		Attributes map[string]struct {
			Support string `json:"support"`
		} `json:"attributes"`
	} `json:"doc"`
	Examples []map[string]any `json:"examples"`
	Return   map[string]struct {
		Returned string `json:"returned"`
		Type     string `json:"type"`
	} `json:"return"`
	Flags []string `json:"flags"`
}

func loadModuleDoc(t *testing.T) moduleDoc {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c", moduleParts, moduleFile).CombinedOutput()
	if err != nil {
		t.Fatalf("loading the module: %v\n%s", err, out)
	}
	var d moduleDoc
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return d
}

// TestModuleDocAgreesWithCode: every option is documented with the type,
// default and choices the argument spec enforces; every example uses real
// options with valid values and together they use every option; the
// module's flags are the CLI's.
func TestModuleDocAgreesWithCode(t *testing.T) {
	requireAnsible(t)
	d := loadModuleDoc(t)
	if d.Doc.Module != "registry_hosts" {
		t.Errorf("DOCUMENTATION names module %q", d.Doc.Module)
	}
	for name, spec := range d.Spec {
		doc, ok := d.Doc.Options[name]
		if !ok {
			t.Errorf("option %s is not documented", name)
			continue
		}
		if doc.Type != spec.Type || doc.Elements != spec.Elements || !reflect.DeepEqual(doc.Choices, spec.Choices) || !sameDefault(doc.Default, spec.Default) {
			t.Errorf("option %s: documented %+v, argument spec %+v", name, doc, spec)
		}
	}
	for name := range d.Doc.Options {
		if _, ok := d.Spec[name]; !ok {
			t.Errorf("documented option %s is not in the argument spec", name)
		}
	}
	for _, attr := range []string{"check_mode", "diff_mode"} {
		if d.Doc.Attributes[attr].Support != "full" {
			t.Errorf("attributes.%s.support = %q, want full", attr, d.Doc.Attributes[attr].Support)
		}
	}

	used := map[string]bool{"binary": true} // set by the action plugin, not by users
	for _, task := range d.Examples {
		args, ok := task[moduleName]
		if !ok {
			t.Errorf("example %q does not call %s by its full name", task["name"], moduleName)
			continue
		}
		m, _ := args.(map[string]any)
		for name, value := range m {
			used[name] = true
			doc, ok := d.Doc.Options[name]
			if !ok {
				t.Errorf("example %q uses unknown option %s", task["name"], name)
				continue
			}
			if len(doc.Choices) > 0 && !containsValue(doc.Choices, value) {
				t.Errorf("example %q: %s = %v is not one of %v", task["name"], name, value, doc.Choices)
			}
		}
	}
	for name := range d.Spec {
		if !used[name] {
			t.Errorf("no example uses option %s", name)
		}
	}

	// The options mirror the CLI: each flag the module passes exists, and
	// each CLI flag that changes the migration has an option.
	bin := filepath.Join(collectionsPath(t), collectionSource, "files", "certsd-migrate-linux-"+runtime.GOARCH)
	help, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("certsd-migrate --help: %v\n%s", err, help)
	}
	for _, flag := range d.Flags {
		if !strings.Contains(string(help), flag+" ") {
			t.Errorf("the module passes %s, which certsd-migrate --help does not list", flag)
		}
	}
	notOptions := map[string]bool{"output": true, "color": true, "show-secrets": true, "help": true, "version": true,
		"no-backup": true /* the option backup */, "strict": true, /* fail_on_warnings: all */
		"dry-run": true /* rollback's; the module does not roll back */, "wait": true, /* the lock wait; the default suits the module */
		"state-dir": true /* the default, under root, suits the module */}
	for _, line := range strings.Split(string(help), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "--") && !(len(f) > 1 && strings.HasPrefix(f[1], "--")) {
			continue
		}
		flag := f[0]
		if !strings.HasPrefix(flag, "--") {
			flag = f[1]
		}
		name := strings.TrimPrefix(flag, "--")
		if notOptions[name] {
			continue
		}
		if _, ok := d.Spec[strings.ReplaceAll(name, "-", "_")]; !ok {
			t.Errorf("CLI flag %s has no module option", flag)
		}
	}
}

// TestModuleReturnValuesDocumented runs the module on a TLS+auth node in
// check and diff mode and on a broken one, and checks what it returns
// against RETURN.
func TestModuleReturnValuesDocumented(t *testing.T) {
	requireAnsible(t)
	d := loadModuleDoc(t)
	f := newFleet(t, []fleetHost{{name: "tls-auth", golden: "v2-docker-hub-mirror-tls-auth"}, {name: "broken", golden: "malformed-toml"}}, "")
	ansibleKeys := map[string]bool{"invocation": true, "changed": true, "diff": true, "warnings": true, "failed": true,
		"msg": true, "rc": true, "stderr": true, "stderr_lines": true, "_ansible_no_log": true, "ansible_facts": true, "deprecations": true, "action": true /* the json callback */}
	for _, host := range []string{"tls-auth", "broken"} {
		run := runAnsible(t, f.dir, []string{"ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_LOAD_CALLBACK_PLUGINS=1"},
			"ansible", "-i", "inventory.yml", host, "--check", "--diff", "-m", moduleName,
			"-a", fmt.Sprintf("root=%s containerd_started_at=2026-01-01T00:00:00Z", f.root(host)))
		start := strings.Index(run.output, "{")
		var out struct {
			Plays []struct {
				Tasks []struct {
					Hosts map[string]map[string]any `json:"hosts"`
				} `json:"tasks"`
			} `json:"plays"`
		}
		if start < 0 || json.Unmarshal([]byte(run.output[start:]), &out) != nil || len(out.Plays) == 0 || len(out.Plays[0].Tasks) == 0 {
			t.Fatalf("%s: no JSON result:\n%s", host, run.output)
		}
		result := out.Plays[0].Tasks[0].Hosts[host]
		failed, _ := result["failed"].(bool)
		if failed != (host == "broken") {
			t.Errorf("%s: failed = %v\n%v", host, failed, result)
		}
		for key := range result {
			if _, ok := d.Return[key]; !ok && !ansibleKeys[key] {
				t.Errorf("%s: the module returns %s, which RETURN does not document", host, key)
			}
		}
		for key, r := range d.Return {
			_, ok := result[key]
			want := r.Returned == "always" || (r.Returned == "success" && !failed) || (r.Returned == "failure" && failed)
			if want && !ok {
				t.Errorf("%s: RETURN says %s is returned %s, but it is missing", host, key, r.Returned)
			}
		}
		if host == "tls-auth" {
			diffs, _ := result["diff"].([]any)
			if len(diffs) != 3 {
				t.Errorf("tls-auth: %d diff entries, want 3 (config and two hosts.toml)", len(diffs))
			}
			for _, e := range diffs {
				entry, _ := e.(map[string]any)
				for _, k := range []string{"before", "after", "before_header", "after_header"} {
					if _, ok := entry[k]; !ok {
						t.Errorf("tls-auth: a diff entry lacks %s: %v", k, entry)
					}
				}
			}
			if strings.Contains(run.output, "s3cr3t-pa55") {
				t.Error("tls-auth: the module result holds the on-disk password")
			}
		}
	}
}

func sameDefault(doc, spec any) bool {
	if spec == nil {
		return doc == nil
	}
	return reflect.DeepEqual(doc, spec)
}

func containsValue(choices []any, v any) bool {
	for _, c := range choices {
		if fmt.Sprint(c) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}

func TestAnsibleDoc(t *testing.T) {
	requireAnsible(t)
	dir := t.TempDir()
	run := runAnsible(t, dir, nil, "ansible-doc", moduleName)
	if run.exit != 0 {
		t.Fatalf("ansible-doc exit %d:\n%s", run.exit, run.output)
	}
	for _, want := range []string{"CERTSD_MIGRATE.CONTAINERD.REGISTRY_HOSTS", "fail_on_warnings", "check_mode", "diff_mode", "EXAMPLES", "RETURN VALUES", "restart_required"} {
		if !strings.Contains(run.output, want) {
			t.Errorf("ansible-doc output lacks %q", want)
		}
	}
	if strings.Contains(run.output, "ERROR") || strings.Contains(run.output, "WARNING") {
		t.Errorf("ansible-doc complained:\n%s", run.output)
	}
}

func TestAnsibleLint(t *testing.T) {
	requireAnsible(t)
	coll := filepath.Join(collectionsPath(t), collectionSource)
	cmd := exec.Command("ansible-lint", "--offline", "--nocolor", "playbooks/")
	cmd.Dir = coll
	cmd.Env = append(os.Environ(), "ANSIBLE_COLLECTIONS_PATH="+collectionsPath(t), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Passed") {
		t.Errorf("ansible-lint: %v\n%s", err, out)
	}
}

// TestModulePythons runs the module under every Python found: the system
// python3 (Debian's ansible-core 2.14 manages 2.7 and 3.5-3.11) and any
// pyenv interpreters, old and current.
func TestModulePythons(t *testing.T) {
	requireAnsible(t)
	pythons := []string{"/usr/bin/python3"}
	home, _ := os.UserHomeDir()
	more, _ := filepath.Glob(filepath.Join(home, ".pyenv/versions/*/bin/python"))
	sort.Strings(more)
	pythons = append(pythons, more...)
	f := newFleet(t, []fleetHost{{name: "node", golden: "v2-docker-hub-mirror-tls-auth"}}, "")
	for _, py := range pythons {
		run := runAnsible(t, f.dir, nil, "ansible", "-i", "inventory.yml", "node", "--check", "-m", moduleName,
			"-e", "ansible_python_interpreter="+py, "-a", "root="+f.root("node"))
		if run.exit != 0 || !strings.Contains(run.output, "node | CHANGED") {
			t.Errorf("%s: exit %d\n%s", py, run.exit, run.output)
		}
	}
	t.Logf("ran under %v", pythons)
}

// TestModuleWithoutBinary: a collection built without binaries, on a node
// without certsd-migrate, fails with a message that says what to do.
func TestModuleWithoutBinary(t *testing.T) {
	requireAnsible(t)
	bare := t.TempDir()
	if err := copyTree(collectionSource, filepath.Join(bare, collectionSource)); err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, []fleetHost{{name: "node", golden: "v2-dotted-keys"}}, "")
	run := runAnsible(t, f.dir, []string{"ANSIBLE_COLLECTIONS_PATH=" + bare, "PATH=/usr/bin:/bin"},
		"ansible", "-i", "inventory.yml", "node", "--check", "-m", moduleName, "-a", "root="+f.root("node"))
	if run.exit == 0 || !strings.Contains(run.output, "ansible/build.sh") {
		t.Errorf("exit %d, want a failure naming ansible/build.sh:\n%s", run.exit, run.output)
	}
}
