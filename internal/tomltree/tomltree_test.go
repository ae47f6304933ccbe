package tomltree

import (
	"testing"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

func tree(t *testing.T, in string) *Tree {
	t.Helper()
	doc, err := tomldoc.Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return New(doc)
}

// TestEmitKeepsCommentsAndText: an unchanged tree comes back with its
// comments, each value's text as written, and the version it is given.
func TestEmitKeepsCommentsAndText(t *testing.T) {
	in := `# opening comment

version = 2

# about a
[a]
  x = 0x10 # hex stays hex
  s = 'literal'
  [a.b]
    list = [1, 2] # trailing
`
	want := `# opening comment

version = 3

# about a
[a]
x = 0x10 # hex stays hex
s = 'literal'

[a.b]
list = [1, 2] # trailing
`
	if got := string(tree(t, in).Emit(3)); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestReshape moves a key to a new table and renames a table.
func TestReshape(t *testing.T) {
	tr := tree(t, `[old]
  k = "v" # note
  stay = true
`)
	old := tr.Root.Get("old").Open()
	moved := NewTable()
	moved.Set("k", old.Get("k"))
	old.Del("k")
	tr.Root.InsertAfter("old", "new", &Node{Table: moved})
	tr.Root.Rename("old", "kept")
	want := `version = 2

[kept]
stay = true

[new]
k = "v" # note
`
	if got := string(tr.Emit(2)); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
