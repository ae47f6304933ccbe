// Package golden runs certsd-migrate's command line (internal/cli.Run, in
// process, cases in parallel) on golden cases: one txtar archive per case
// under testdata/, in the style of Go's cmd/go script tests. Each archive holds:
//
//	-- args --                the command-line flags, separated by white space
//	-- in/<node path> --      the node's files before the run (the --root tree)
//	-- want/<node path> --    each file created or modified by apply
//	-- want.diff --           what `diff` prints on stdout, in the cases about
//	                          the diff itself (format, redaction, line endings,
//	                          silence); elsewhere the diff must name exactly
//	                          the files apply writes, and -update adds no
//	                          want.diff (add an empty one to opt a case in)
//	-- want.stderr --         what `diff` prints on stderr (warnings, summary)
//	-- want.exit --           diff's exit status
//
// Other sections are kept as they are (k3s/ holds what k3s itself would
// write, for TestK3sParity).
//
// `go test ./golden -update` rewrites the want sections from the tool's
// current output; review the change before committing it.
package golden

import (
	"bytes"
	"flag"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/certsd-migrate/certsd-migrate/internal/cli"
	"github.com/certsd-migrate/certsd-migrate/migrate"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// goldenCase is one parsed archive.
type goldenCase struct {
	name    string
	file    string
	archive *txtar.Archive
	args    []string
	in      map[string][]byte // node path → content
	want    map[string][]byte // node path → content after apply
}

func loadCases(t *testing.T) []*goldenCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	// testdata/real/ holds configurations copied from public sources
	// (each case's prose names it); they run as real/<name>.
	corpus, err := filepath.Glob("testdata/real/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, corpus...)
	if len(paths) == 0 {
		t.Fatal("no golden cases in testdata/")
	}
	var cases []*goldenCase
	for _, p := range paths {
		a, err := txtar.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel("testdata", p)
		name := strings.TrimSuffix(filepath.ToSlash(rel), ".txtar")
		c := &goldenCase{name: name, file: p, archive: a,
			in: map[string][]byte{}, want: map[string][]byte{}}
		for _, f := range a.Files {
			switch {
			case f.Name == "args":
				c.args = strings.Fields(string(f.Data))
			case strings.HasPrefix(f.Name, "in/"):
				c.in[strings.TrimPrefix(f.Name, "in")] = f.Data
			case strings.HasPrefix(f.Name, "want/"):
				c.want[strings.TrimPrefix(f.Name, "want")] = f.Data
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// has reports whether the case has a section, empty or not.
func (c *goldenCase) has(name string) bool {
	for _, f := range c.archive.Files {
		if f.Name == name {
			return true
		}
	}
	return false
}

func (c *goldenCase) section(name string) []byte {
	for _, f := range c.archive.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

// writeTree lays out the case's input files under a new root.
func (c *goldenCase) writeTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range c.in {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type runResult struct {
	stdout, stderr string
	exit           int
}

// runTool runs the command line in process, as the binary would.
func runTool(t *testing.T, root string, args ...string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	exit := cli.Run(append(args, "--root", root, "--color", "never"), &stdout, &stderr)
	// Messages name temp paths only through --root, which never appears
	// in node paths; guard against a leak anyway.
	clean := func(s string) string { return strings.ReplaceAll(s, root, "$ROOT") }
	return runResult{clean(stdout.String()), clean(stderr.String()), exit}
}

// readTree returns every regular file under root by node path.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		node := "/" + filepath.ToSlash(rel)
		if strings.HasPrefix(node, "/var/lib/certsd-migrate/") {
			return nil // the tool's own timestamped state (the apply record), tested in internal/cli
		}
		files[node] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each case has its own root; the tool keeps no global state
			root := c.writeTree(t)
			diff := runTool(t, root, append([]string{"diff"}, c.args...)...)
			var after map[string][]byte
			if diff.exit == 1 {
				apply := runTool(t, root, append([]string{"apply"}, c.args...)...)
				if apply.exit != 0 {
					t.Fatalf("apply exited %d:\n%s", apply.exit, apply.stderr)
				}
				after = readTree(t, root)
				again := runTool(t, root, append([]string{"diff"}, c.args...)...)
				if again.exit != 0 || again.stdout != "" {
					t.Errorf("diff after apply is not empty (exit %d):\n%s%s", again.exit, again.stdout, again.stderr)
				}
			}
			if *update {
				c.rewrite(t, diff, after)
				return
			}
			c.check(t, diff, after)
		})
	}
}

func (c *goldenCase) check(t *testing.T, diff runResult, after map[string][]byte) {
	t.Helper()
	if c.has("want.diff") {
		compare(t, "want.diff", string(c.section("want.diff")), diff.stdout)
	} else {
		checkDiffNames(t, diff, changedFiles(c.in, after))
	}
	compare(t, "want.stderr", string(c.section("want.stderr")), diff.stderr)
	compare(t, "want.exit", strings.TrimSpace(string(c.section("want.exit"))), strconv.Itoa(diff.exit))
	if after == nil {
		if len(c.want) > 0 {
			t.Errorf("want/ files listed, but diff exited %d and nothing was applied", diff.exit)
		}
		return
	}
	changed := changedFiles(c.in, after)
	for _, p := range sortedKeys(changed) {
		want, ok := c.want[p]
		if !ok {
			t.Errorf("apply wrote %s, which the case does not list under want/", p)
			continue
		}
		compare(t, "want"+p, string(want), string(changed[p]))
	}
	for _, p := range sortedKeys(c.want) {
		if _, ok := changed[p]; !ok {
			t.Errorf("want%s: apply did not write it", p)
		}
	}
}

// changedFiles are the files apply created or modified, without backups.
func changedFiles(in, after map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for p, data := range after {
		if isBackup(p) {
			continue
		}
		if old, ok := in[p]; !ok || !bytes.Equal(old, data) {
			out[p] = data
		}
	}
	return out
}

// isBackup also covers the journal's directory: the record of the last
// apply, another copy of the originals.
func isBackup(p string) bool {
	if strings.HasPrefix(p, migrate.StateDir+"/") {
		return true
	}
	return strings.HasSuffix(p, ".bak") &&
		(strings.Contains(filepath.Base(p), ".certsd-migrate-") || strings.HasPrefix(p, "/var/backups/certsd-migrate/"))
}

// checkDiffNames checks, for a case that does not spell out its diff, that
// the diff names exactly the files apply wrote, and that nothing is printed
// when nothing is applied.
func checkDiffNames(t *testing.T, diff runResult, changed map[string][]byte) {
	t.Helper()
	var named []string
	for _, line := range strings.Split(diff.stdout, "\n") {
		if name, ok := strings.CutPrefix(line, "+++ b"); ok {
			named = append(named, name)
		}
	}
	sort.Strings(named)
	if want := sortedKeys(changed); strings.Join(named, "\n") != strings.Join(want, "\n") {
		t.Errorf("the diff names %q; apply wrote %q", named, want)
	}
	if len(changed) == 0 && diff.stdout != "" {
		t.Errorf("nothing was applied, but diff printed:\n%s", diff.stdout)
	}
}

func (c *goldenCase) rewrite(t *testing.T, diff runResult, after map[string][]byte) {
	t.Helper()
	var files []txtar.File
	for _, f := range c.archive.Files {
		if !strings.HasPrefix(f.Name, "want") {
			files = append(files, f) // args, in/ and any other sections
		}
	}
	if after != nil {
		changed := changedFiles(c.in, after)
		for _, p := range sortedKeys(changed) {
			files = append(files, txtar.File{Name: "want" + p, Data: changed[p]})
		}
	}
	if c.has("want.diff") {
		files = append(files, txtar.File{Name: "want.diff", Data: []byte(diff.stdout)})
	}
	files = append(files,
		txtar.File{Name: "want.stderr", Data: []byte(diff.stderr)},
		txtar.File{Name: "want.exit", Data: []byte(strconv.Itoa(diff.exit) + "\n")})
	c.archive.Files = files
	if err := os.WriteFile(c.file, txtar.Format(c.archive), 0o644); err != nil {
		t.Fatal(err)
	}
}

func compare(t *testing.T, what, want, got string) {
	t.Helper()
	if want != got {
		t.Errorf("%s differs (go test ./golden -update rewrites it):\n--- want\n%s\n--- got\n%s", what, want, got)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
