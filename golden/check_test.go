package golden

// Golden cases for `certsd-migrate check`: one txtar archive per finding
// code (or layout) under testdata/check/, holding
//
//	-- args --           check's flags, one per line (--root is added)
//	-- in/<node path> -- the node's files (a .keep file stands for an
//	                     otherwise empty directory: containerd reads neither)
//	-- want.stdout --    the findings and explanations check prints
//	-- want.stderr --    the summary line
//	-- want.exit --      check's exit status
//
// `go test ./golden -run TestCheckGolden -update` rewrites the want
// sections.

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/certsd-migrate/certsd-migrate/diagnose"
)

func loadCheckCases(t *testing.T) []*goldenCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/check/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no check cases in testdata/check/")
	}
	var cases []*goldenCase
	for _, p := range paths {
		a, err := txtar.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		c := &goldenCase{name: strings.TrimSuffix(filepath.Base(p), ".txtar"), file: p, archive: a,
			in: map[string][]byte{}, want: map[string][]byte{}}
		for _, f := range a.Files {
			switch {
			case f.Name == "args":
				c.args = strings.Fields(string(f.Data))
			case strings.HasPrefix(f.Name, "in/"):
				c.in[strings.TrimPrefix(f.Name, "in")] = f.Data
			}
		}
		cases = append(cases, c)
	}
	return cases
}

func TestCheckGolden(t *testing.T) {
	for _, c := range loadCheckCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := c.writeTree(t)
			res := runCheckCmd(t, root, c.args...)
			if *update {
				var files []txtar.File
				for _, f := range c.archive.Files {
					if !strings.HasPrefix(f.Name, "want") {
						files = append(files, f)
					}
				}
				c.archive.Files = append(files,
					txtar.File{Name: "want.stdout", Data: []byte(res.stdout)},
					txtar.File{Name: "want.stderr", Data: []byte(res.stderr)},
					txtar.File{Name: "want.exit", Data: []byte(strconv.Itoa(res.exit) + "\n")})
				if err := os.WriteFile(c.file, txtar.Format(c.archive), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			compare(t, "want.stdout", string(c.section("want.stdout")), res.stdout)
			compare(t, "want.stderr", string(c.section("want.stderr")), res.stderr)
			compare(t, "want.exit", strings.TrimSpace(string(c.section("want.exit"))), strconv.Itoa(res.exit))
		})
	}
}

func runCheckCmd(t *testing.T, root string, args ...string) runResult {
	t.Helper()
	return runTool(t, root, append([]string{"check"}, args...)...)
}

// TestCheckCodesCovered: every finding code has a golden case whose
// output shows it.
func TestCheckCodesCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadCheckCases(t) {
		out := string(c.section("want.stdout"))
		for code := range diagnose.Codes {
			if strings.Contains(out, "["+code+"]") {
				seen[code] = true
			}
		}
	}
	var missing []string
	for code := range diagnose.Codes {
		if !seen[code] {
			missing = append(missing, code)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("finding codes no case under testdata/check/ shows: %s", strings.Join(missing, ", "))
	}
}
