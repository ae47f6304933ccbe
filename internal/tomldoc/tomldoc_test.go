package tomldoc

import (
	"reflect"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

func TestRedefinitions(t *testing.T) {
	tests := []struct {
		doc   string
		valid bool
	}{
		{"[a]\nx = 1\n[a.b]\ny = 2\n", true},
		{"[a.b]\n[a]\n", true},                 // a super-table after its sub-table
		{"[a]\n[a]\n", false},                  // a table twice
		{"[a]\nb.c = 1\n[a.b]\n", false},       // re-opening a dotted table
		{"[a]\nb.c = 1\n[a.b.d]\n", true},      // a sub-table of a dotted table
		{"[a.b.c]\n[a]\nb.d = 1\n", false},     // dotted key into a header table
		{"a = {b = 1}\n[a.c]\n", false},        // extending an inline table
		{"a = {b.c = 1}\na.b.d = 2\n", false},  // ... through a dotted key
		{"[[a]]\nx = 1\n[[a]]\n[a.b]\n", true}, // sub-table of the last element
		{"a = [1]\n[[a]]\n", false},            // a static array as array of tables
		{"[[a]]\n[a]\n", false},                // an array of tables as a table
		{"x = 1\nx = 2\n", false},              // a key twice
		{"a.b = 1\na.c = 2\n", true},           // dotted keys sharing a table
		{"x = 99999999999999999999\n", false},  // integer out of range
		{"d = 2026-13-01\n", false},            // invalid date
		{"s = \"\\q\"\n", false},               // invalid escape
		{"[a]\nb = 1\n[a.b]\n", false},         // a value re-opened as a table
		{"a = {x = 1, x = 2}\n", false},        // a key twice in an inline table
		{"[plugins.\"x.y\".z]\nk = \"v\"\n", true},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		var probe map[string]any
		decodeErr := toml.Unmarshal([]byte(tt.doc), &probe)
		if (err == nil) != tt.valid {
			t.Errorf("Parse(%q) error = %v, want valid=%v", tt.doc, err, tt.valid)
		}
		if (decodeErr == nil) != tt.valid {
			t.Errorf("go-toml disagrees with the test on %q: %v", tt.doc, decodeErr)
		}
	}
}

func TestPositions(t *testing.T) {
	doc, err := Parse([]byte("# c\n[a]\n  x = \"y\" # t\n  [a.b]\n  z = [1,\n   2]\n"))
	if err != nil {
		t.Fatal(err)
	}
	x := doc.Root.Lookup("a", "x")
	if x == nil || x.Pos != (Pos{3, 7}) || x.Str != "y" {
		t.Errorf("a.x = %+v, want \"y\" at 3:7", x)
	}
	if len(doc.Stmts) != 4 {
		t.Fatalf("%d statements, want 4", len(doc.Stmts))
	}
	z := doc.Stmts[3]
	if got := string(doc.Data[z.Start:z.End]); got != "  z = [1,\n   2]\n" {
		t.Errorf("z spans %q", got)
	}
	if got := string(doc.Data[doc.Stmts[1].Start:doc.Stmts[1].End]); got != "  x = \"y\" # t\n" {
		t.Errorf("x spans %q", got)
	}
	_, err = Parse([]byte("a = 1\nb = \n"))
	se, ok := err.(*SyntaxError)
	if !ok || se.Pos.Line != 2 {
		t.Errorf("error = %v, want a syntax error on line 2", err)
	}
}

// FuzzParseAgreesWithDecoder checks that Parse accepts exactly what
// go-toml's decoder accepts, so that no invalid config slips through and
// no valid one is refused.
func FuzzParseAgreesWithDecoder(f *testing.F) {
	for _, s := range []string{
		"[a]\nb.c = 1\n[a.b.d]\n", "[[a]]\n[a.b]\n", "a = {b = 1}\n", "x = 1\n", "[a.b]\n[a]\n",
		"[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m\"]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc, err := Parse([]byte(s))
		var probe map[string]any
		decodeErr := toml.Unmarshal([]byte(s), &probe)
		if (err == nil) != (decodeErr == nil) {
			if strings.ContainsRune(s, '\r') {
				t.Skip("go-toml's handling of bare CR differs between its parser and decoder")
			}
			t.Fatalf("Parse error = %v, decoder error = %v for %q", err, decodeErr, s)
		}
		if err != nil {
			return
		}
		for _, st := range doc.Stmts {
			// Only white space and a comment follow a statement's text.
			if rest := strings.TrimLeft(s[st.TextEnd:st.End], " \t"); rest != "" && rest[0] != '#' &&
				strings.TrimRight(rest, "\r\n") != "" {
				t.Fatalf("statement text of %q is followed by %q", s, rest)
			}
			// Every key-value's recorded range is a whole value.
			if st.Kind != KeyValue {
				continue
			}
			raw := s[st.Value.Start:st.Value.End]
			if err := toml.Unmarshal([]byte("v = "+raw), &probe); err != nil {
				t.Fatalf("value range %q of %q is not a value: %v", raw, s, err)
			}
		}
	})
}

func TestValueRanges(t *testing.T) {
	data := "a = [1, [2, 3], # c\n  \"x]\" ,\n]\nb = { c = [4], d = { e = 'f' } }\n[t]\nk  =  [ ]\n"
	doc, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	raw := func(v *Value) string { return data[v.Start:v.End] }
	tests := []struct {
		v    *Value
		want string
		pos  Pos
	}{
		{doc.Root.Get("a"), "[1, [2, 3], # c\n  \"x]\" ,\n]", Pos{1, 5}},
		{doc.Root.Get("a").Items[1], "[2, 3]", Pos{1, 9}},
		{doc.Root.Get("a").Items[2], "\"x]\"", Pos{2, 3}},
		{doc.Root.Get("b"), "{ c = [4], d = { e = 'f' } }", Pos{4, 5}},
		{doc.Root.Lookup("b", "c"), "[4]", Pos{4, 11}},
		{doc.Root.Lookup("b", "d"), "{ e = 'f' }", Pos{4, 20}},
		{doc.Root.Lookup("t", "k"), "[ ]", Pos{6, 7}},
	}
	for _, tt := range tests {
		if tt.v == nil {
			t.Fatalf("missing value for %q", tt.want)
		}
		if got := raw(tt.v); got != tt.want || tt.v.Pos != tt.pos {
			t.Errorf("range %q at %v, want %q at %v", got, tt.v.Pos, tt.want, tt.pos)
		}
	}
}

func TestKeyPosAndTextEnd(t *testing.T) {
	data := "x = { \"q.k\" . b = 1, c = {d.e = [2]} } # t\n[ a . \"h#\" ]  # u\n[[ arr ]]# v\n  y.z = 'w'\n"
	doc, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	keys := []struct {
		v    *Value
		want Pos
	}{
		{doc.Root.Get("x"), Pos{1, 1}},
		{doc.Root.Lookup("x", "q.k", "b"), Pos{1, 7}},
		{doc.Root.Lookup("x", "c"), Pos{1, 22}},
		{doc.Root.Lookup("x", "c", "d", "e"), Pos{1, 27}},
		{doc.Root.Lookup("arr").Items[0].Table.Lookup("y", "z"), Pos{4, 3}},
		{doc.Root.Lookup("x", "c", "d"), Pos{}},               // made by a dotted key
		{doc.Root.Lookup("x", "c", "d", "e").Items[0], Pos{}}, // an array's item
		{doc.Root.Get("a"), Pos{}},                            // made by a header
	}
	for i, tt := range keys {
		if tt.v == nil || tt.v.KeyPos != tt.want {
			t.Errorf("value %d: key at %+v, want %v", i, tt.v, tt.want)
		}
	}
	var rest []string
	for _, s := range doc.Stmts {
		rest = append(rest, data[s.TextEnd:s.End])
	}
	if want := []string{" # t\n", "  # u\n", "# v\n", "\n"}; !reflect.DeepEqual(rest, want) {
		t.Errorf("after the statements' text: %q, want %q", rest, want)
	}
}
