// Package tomltree holds a TOML document as a tree that can be reshaped
// (keys moved between tables, tables renamed) and written back out with
// its comments and each value's text as written: what rewriting a config
// under a new layout needs, where internal/tomldoc's byte ranges serve
// edits in place. Values keep the input's text; only the layout changes.
package tomltree

import (
	"strconv"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// Node is one value of the document.
type Node struct {
	Val *tomldoc.Value // the input value; nil for values made by the migration
	// raw is the value's text for everything written as key = value:
	// scalars, arrays, inline tables. Empty for tables written as [headers]
	// and for arrays of tables.
	Raw   string
	Table *Table   // tables, inline or not
	Elems []*Table // arrays of tables ([[header]])
	Src   []string // the key path in the input
	Pos   tomldoc.Pos
	// comment holds the comment lines before the value's statement; trailer
	// the comment after it on the same line.
	Comment []string
	Trailer string
}

func (n *Node) IsTable() bool { return n.Table != nil && n.Elems == nil }

// Open returns the node's table for changes, writing it as a [header]
// table from now on.
func (n *Node) Open() *Table {
	n.Raw = ""
	return n.Table
}

// Table is a table whose keys keep their order.
type Table struct {
	Keys   []string
	Fields map[string]*Node
}

func NewTable() *Table { return &Table{Fields: map[string]*Node{}} }

func (t *Table) Get(k string) *Node { return t.Fields[k] }

// Set replaces the value at k, keeping its place, or appends k.
func (t *Table) Set(k string, n *Node) {
	if _, ok := t.Fields[k]; !ok {
		t.Keys = append(t.Keys, k)
	}
	t.Fields[k] = n
}

// InsertAfter adds k just after the key after (at the end if after is
// absent).
func (t *Table) InsertAfter(after, k string, n *Node) {
	t.Del(k)
	i := len(t.Keys)
	for j, key := range t.Keys {
		if key == after {
			i = j + 1
		}
	}
	t.Keys = append(t.Keys[:i], append([]string{k}, t.Keys[i:]...)...)
	t.Fields[k] = n
}

func (t *Table) Del(k string) {
	if _, ok := t.Fields[k]; !ok {
		return
	}
	delete(t.Fields, k)
	for i, key := range t.Keys {
		if key == k {
			t.Keys = append(t.Keys[:i:i], t.Keys[i+1:]...)
			break
		}
	}
}

// Rename renames old to k in place, replacing any value at k.
func (t *Table) Rename(old, k string) {
	n := t.Fields[old]
	t.Del(k)
	for i, key := range t.Keys {
		if key == old {
			t.Keys[i] = k
		}
	}
	delete(t.Fields, old)
	t.Fields[k] = n
}

// Tree is a parsed document as a tree of Nodes, with the comments around
// its statements, to be changed and written back out. The top-level
// version key is held apart: Emit writes it first, with its comments.
type Tree struct {
	// Root is the document's top-level table, without version.
	Root *Table
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

func New(doc *tomldoc.Doc) *Tree {
	b := &Tree{
		doc: doc, data: doc.Data,
		comments: map[*tomldoc.Value][]string{}, trailers: map[*tomldoc.Value]string{},
	}
	b.scan()
	b.Root = b.table(doc.Root, nil)
	return b
}

// commentLines returns the comment lines of data[start:end].
func (b *Tree) commentLines(start, end int) []string {
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
func (b *Tree) trailer(i int) string {
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
func (b *Tree) scan() {
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

func (b *Tree) table(t *tomldoc.Tab, path []string) *Table {
	out := NewTable()
	for _, k := range t.Keys {
		if len(path) == 0 && k == "version" {
			continue
		}
		out.Set(k, b.node(t.Fields[k], append(append([]string(nil), path...), k)))
	}
	return out
}

func (b *Tree) node(v *tomldoc.Value, path []string) *Node {
	n := &Node{Val: v, Src: path, Pos: v.Pos, Comment: b.comments[v], Trailer: b.trailers[v]}
	if v.KeyPos != (tomldoc.Pos{}) {
		n.Pos = v.KeyPos
	}
	switch {
	case v.Kind == tomldoc.Table:
		n.Table = b.table(v.Table, path)
		if v.Table.Inline {
			n.Raw = b.Text(v)
		}
	case v.Kind == tomldoc.Array && v.TableArray:
		for _, item := range v.Items {
			n.Elems = append(n.Elems, b.table(item.Table, path))
		}
	default:
		n.Raw = b.Text(v)
	}
	return n
}

// Text returns a value's text as written or, for a table that a dotted key
// inside an inline table made (it has no text of its own), the table
// rewritten from its values' text.
func (b *Tree) Text(v *tomldoc.Value) string {
	if v.Kind != tomldoc.Table || v.End > v.Start {
		return string(b.data[v.Start:v.End])
	}
	items := make([]string, len(v.Table.Keys))
	for i, k := range v.Table.Keys {
		items[i] = tomldoc.Key(k) + " = " + b.Text(v.Table.Fields[k])
	}
	return "{ " + strings.Join(items, ", ") + " }"
}

// Emit writes the tree as TOML: the opening comments, version = version,
// the root's other keys, then every table under a [header], keys before
// sub-tables, each in input order.
func (b *Tree) Emit(version int) []byte {
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
	w.WriteString("version = " + strconv.Itoa(version) + "\n")
	emitTable(&w, nil, b.Root)
	if len(b.tail) > 0 {
		w.WriteString("\n")
		for _, c := range b.tail {
			w.WriteString(c + "\n")
		}
	}
	return []byte(w.String())
}

// emitTable writes t's keys, then its sub-tables.
func emitTable(w *strings.Builder, path []string, t *Table) {
	for _, k := range t.Keys {
		n := t.Fields[k]
		if n.Raw == "" {
			continue
		}
		for _, c := range n.Comment {
			w.WriteString(c + "\n")
		}
		w.WriteString(tomldoc.Key(k) + " = " + n.Raw)
		if n.Trailer != "" {
			w.WriteString(" " + n.Trailer)
		}
		w.WriteString("\n")
	}
	for _, k := range t.Keys {
		n := t.Fields[k]
		if n.Raw != "" {
			continue
		}
		sub := append(append([]string(nil), path...), k)
		if n.Elems != nil {
			for _, el := range n.Elems {
				w.WriteString("\n[[" + tomldoc.DottedKey(sub) + "]]\n")
				emitTable(w, sub, el)
			}
			continue
		}
		leaves := false
		for _, c := range n.Table.Keys {
			leaves = leaves || n.Table.Fields[c].Raw != ""
		}
		if leaves || len(n.Table.Keys) == 0 || len(n.Comment) > 0 || n.Trailer != "" {
			w.WriteString("\n")
			for _, c := range n.Comment {
				w.WriteString(c + "\n")
			}
			w.WriteString("[" + tomldoc.DottedKey(sub) + "]")
			if n.Trailer != "" {
				w.WriteString(" " + n.Trailer)
			}
			w.WriteString("\n")
		}
		emitTable(w, sub, n.Table)
	}
}
