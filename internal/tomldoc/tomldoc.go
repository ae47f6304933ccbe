// Package tomldoc parses a TOML document into a tree of values that remember
// where they came from (line, column and byte range), and a flat list of the
// document's top-level statements, so that callers can report positions and
// edit the original bytes without re-serialising the document.
package tomldoc

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Pos is a 1-based line and column in a document.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Kind is the type of a value.
type Kind int

// The value kinds. Dates, times, integers and floats keep only their raw text:
// nothing in a registry table needs them.
const (
	String Kind = iota + 1
	Bool
	Integer
	Float
	DateTime
	Array
	Table
)

var kindNames = map[Kind]string{
	String: "string", Bool: "boolean", Integer: "integer", Float: "float",
	DateTime: "date-time", Array: "array", Table: "table",
}

func (k Kind) String() string { return kindNames[k] }

// Value is one TOML value with its position.
type Value struct {
	Kind  Kind
	Str   string   // String: the decoded string; other scalars: the raw text
	Bool  bool     // Bool
	Items []*Value // Array
	Table *Tab     // Table
	// TableArray reports an array made by [[header]]s.
	TableArray bool
	Pos        Pos // where the value (or, for tables, the defining key) starts
	// Start and End are the value's raw byte range (arrays and inline
	// tables included); zero for tables that a header or a dotted key
	// created.
	Start, End int
	// KeyPos is where the key of a key-value's value starts (its first
	// part, for a dotted key), in a statement or an inline table; zero for
	// other values.
	KeyPos Pos
}

// Tab is a table: its keys in document order and their values.
type Tab struct {
	Keys   []string
	Fields map[string]*Value
	// Inline reports that the table is an inline table ({...}).
	Inline bool
	origin origin
}

// origin is how a table came to be; TOML's rules against defining a table
// twice depend on it.
type origin int

const (
	implicit origin = iota // a parent named by a [header] or the root
	explicit               // named by its own [header]
	dotted                 // created by a dotted key
	inline                 // an inline table, closed to additions
	element                // an element of an array of tables
)

// Get returns the value at key, or nil.
func (t *Tab) Get(key string) *Value {
	if t == nil {
		return nil
	}
	return t.Fields[key]
}

// Lookup follows a path of keys through nested tables and returns the value
// at its end, or nil if any part is missing or not a table.
func (t *Tab) Lookup(path ...string) *Value {
	var v *Value
	for i, k := range path {
		v = t.Get(k)
		if v == nil {
			return nil
		}
		if i < len(path)-1 {
			if v.Kind != Table {
				return nil
			}
			t = v.Table
		}
	}
	return v
}

// StmtKind is the kind of a top-level statement.
type StmtKind int

// Statement kinds.
const (
	Header      StmtKind = iota + 1 // [table]
	ArrayHeader                     // [[table]]
	KeyValue                        // key = value
)

// Stmt is one top-level statement of the document.
type Stmt struct {
	Kind StmtKind
	// Table is the path of the table the statement belongs to: for a header,
	// the header's own path; for a key-value, the enclosing table's.
	Table []string
	// Key is the (possibly dotted) key of a key-value, relative to Table.
	Key []string
	// Value is the value of a key-value.
	Value *Value
	// Start and End delimit the statement's whole lines: from the start of
	// its first line to just after the newline ending its last line.
	Start, End int
	// TextEnd is the offset just after the statement's text: a header's
	// closing bracket(s), a key-value's value. Only white space and a
	// comment can follow it on its line.
	TextEnd int
	// Indent is the white space before the statement on its first line.
	Indent string
	Pos    Pos
}

// Path is the statement's full key path.
func (s *Stmt) Path() []string {
	if s.Kind != KeyValue {
		return s.Table
	}
	return append(append([]string(nil), s.Table...), s.Key...)
}

// Doc is a parsed document.
type Doc struct {
	Data  []byte
	Root  *Tab
	Stmts []Stmt
}

// SyntaxError is a TOML error with its position.
type SyntaxError struct {
	Pos Pos
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// Parse parses data. Invalid TOML (syntax errors, keys or tables defined
// twice, out-of-range numbers and dates) is reported as a *SyntaxError.
func Parse(data []byte) (*Doc, error) {
	b := &builder{data: data, lines: lineStarts(data), doc: &Doc{Data: data, Root: newTab(implicit)}}
	if err := b.build(); err != nil {
		return nil, err
	}
	return b.doc, nil
}

func newTab(o origin) *Tab { return &Tab{Fields: map[string]*Value{}, Inline: o == inline, origin: o} }

type builder struct {
	data  []byte
	lines []int // byte offset of the start of each line
	doc   *Doc
	p     unstable.Parser
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// pos converts a byte offset to a line and column (columns count bytes).
func (b *builder) pos(offset int) Pos {
	lo, hi := 0, len(b.lines)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if b.lines[mid] <= offset {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return Pos{Line: lo + 1, Col: offset - b.lines[lo] + 1}
}

func (b *builder) lineStart(offset int) int {
	return b.lines[b.pos(offset).Line-1]
}

// lineEnd returns the offset just after the newline ending the line that
// holds offset (or the end of the data).
func (b *builder) lineEnd(offset int) int {
	if i := bytes.IndexByte(b.data[offset:], '\n'); i >= 0 {
		return offset + i + 1
	}
	return len(b.data)
}

func (b *builder) build() error {
	b.p.Reset(b.data)
	current := b.doc.Root
	var currentPath []string
	for b.p.NextExpression() {
		e := b.p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys, first, last := b.keyParts(e.Key())
			start := b.lineStart(first)
			end := b.lineEnd(last)
			// The key, white space, then "]" or "]]".
			kind, textEnd := Header, last
			for b.data[textEnd] == ' ' || b.data[textEnd] == '\t' {
				textEnd++
			}
			textEnd++
			if e.Kind == unstable.ArrayTable {
				kind, textEnd = ArrayHeader, textEnd+1
			}
			t, err := b.openTable(keys, kind == ArrayHeader, b.pos(first))
			if err != nil {
				return err
			}
			current, currentPath = t, keys
			b.doc.Stmts = append(b.doc.Stmts, Stmt{
				Kind: kind, Table: keys, Start: start, End: end, TextEnd: textEnd,
				Indent: string(b.data[start : bytes.IndexByte(b.data[start:], '[')+start]),
				Pos:    b.pos(bytes.IndexByte(b.data[start:], '[') + start),
			})
		case unstable.KeyValue:
			keys, first, _ := b.keyParts(e.Key())
			v, err := b.value(e.Value(), b.kvValueStart(e))
			if err != nil {
				return err
			}
			v.KeyPos = b.pos(first)
			if err := b.setDotted(current, keys, v, b.pos(first)); err != nil {
				return err
			}
			start := b.lineStart(first)
			b.doc.Stmts = append(b.doc.Stmts, Stmt{
				Kind: KeyValue, Table: currentPath, Key: keys, Value: v,
				Start: start, End: b.lineEnd(int(e.Raw.Offset + e.Raw.Length)), TextEnd: v.End,
				Indent: string(b.data[start:first]), Pos: b.pos(first),
			})
		}
	}
	if err := b.p.Error(); err != nil {
		var pe *unstable.ParserError
		if errors.As(err, &pe) {
			return &SyntaxError{Pos: b.pos(b.offsetOf(pe.Highlight)), Msg: pe.Message}
		}
		return &SyntaxError{Pos: Pos{1, 1}, Msg: err.Error()}
	}
	return nil
}

// offsetOf returns the offset of a sub-slice of the document.
func (b *builder) offsetOf(sub []byte) int {
	off := cap(b.data) - cap(sub)
	if off < 0 || off > len(b.data) {
		return 0
	}
	return off
}

// keyParts returns the decoded parts of a key and the offsets of its first
// and last bytes.
func (b *builder) keyParts(it unstable.Iterator) (parts []string, first, last int) {
	first = -1
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		if first < 0 {
			first = int(n.Raw.Offset)
		}
		last = int(n.Raw.Offset + n.Raw.Length)
	}
	return parts, first, last
}

// openTable finds or creates the table named by a header, enforcing that
// no table is defined twice.
func (b *builder) openTable(keys []string, array bool, pos Pos) (*Tab, error) {
	t := b.doc.Root
	redefined := func(n int) error {
		return &SyntaxError{Pos: pos, Msg: fmt.Sprintf("table %s is already defined", DottedKey(keys[:n]))}
	}
	for i, k := range keys[:len(keys)-1] {
		v := t.Fields[k]
		switch {
		case v == nil:
			v = &Value{Kind: Table, Table: newTab(implicit), Pos: pos}
			t.Keys = append(t.Keys, k)
			t.Fields[k] = v
		case v.Kind == Array && v.TableArray:
			v = v.Items[len(v.Items)-1]
		case v.Kind != Table || v.Table.origin == inline:
			return nil, redefined(i + 1)
		}
		t = v.Table
	}
	last := keys[len(keys)-1]
	v := t.Fields[last]
	if array {
		switch {
		case v == nil:
			v = &Value{Kind: Array, TableArray: true, Pos: pos}
			t.Keys = append(t.Keys, last)
			t.Fields[last] = v
		case v.Kind != Array || !v.TableArray:
			return nil, redefined(len(keys))
		}
		nt := newTab(element)
		v.Items = append(v.Items, &Value{Kind: Table, Table: nt, Pos: pos})
		return nt, nil
	}
	switch {
	case v == nil:
		v = &Value{Kind: Table, Table: newTab(explicit), Pos: pos}
		t.Keys = append(t.Keys, last)
		t.Fields[last] = v
	case v.Kind == Table && v.Table.origin == implicit:
		v.Table.origin = explicit
		v.Pos = pos
	default:
		return nil, redefined(len(keys))
	}
	return v.Table, nil
}

// setDotted assigns v at a dotted key below t, creating intermediate
// tables; a dotted key may extend only tables other dotted keys created.
func (b *builder) setDotted(t *Tab, keys []string, v *Value, pos Pos) error {
	for i, k := range keys[:len(keys)-1] {
		next := t.Fields[k]
		if next == nil {
			next = &Value{Kind: Table, Table: newTab(dotted), Pos: pos}
			t.Keys = append(t.Keys, k)
			t.Fields[k] = next
		}
		if next.Kind != Table || next.Table.origin != dotted {
			return &SyntaxError{Pos: pos, Msg: fmt.Sprintf("key %s is already defined", DottedKey(keys[:i+1]))}
		}
		t = next.Table
	}
	last := keys[len(keys)-1]
	if _, dup := t.Fields[last]; dup {
		return &SyntaxError{Pos: pos, Msg: fmt.Sprintf("key %s is already defined", DottedKey(keys))}
	}
	t.Keys = append(t.Keys, last)
	t.Fields[last] = v
	return nil
}

// value builds the value of node n, which starts at offset start. The
// parser records no range for arrays and only the opening brace for inline
// tables: their ranges are found from their elements.
func (b *builder) value(n *unstable.Node, start int) (*Value, error) {
	v := &Value{Start: int(n.Raw.Offset), End: int(n.Raw.Offset + n.Raw.Length)}
	switch n.Kind {
	case unstable.String:
		v.Kind, v.Str = String, string(n.Data)
	case unstable.Bool:
		v.Kind, v.Bool = Bool, string(n.Data) == "true"
		v.Str = string(n.Data)
	case unstable.Integer, unstable.Float, unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		v.Kind, v.Str = scalarKinds[n.Kind], string(n.Data)
		// The parser checks only the shape of numbers and dates; the
		// decoder checks their range.
		var probe map[string]any
		if err := toml.Unmarshal([]byte("v = "+v.Str), &probe); err != nil {
			return nil, &SyntaxError{Pos: b.pos(v.Start), Msg: fmt.Sprintf("invalid %s %s", scalarKinds[n.Kind], v.Str)}
		}
	case unstable.Array:
		v.Kind, v.Start = Array, start
		at := start + 1 // after '['
		for it := n.Children(); it.Next(); {
			item, err := b.value(it.Node(), b.skipBlank(at))
			if err != nil {
				return nil, err
			}
			v.Items = append(v.Items, item)
			at = item.End
		}
		v.End = b.closing(at, ']')
	case unstable.InlineTable:
		v.Kind, v.Table = Table, newTab(dotted)
		at := v.Start + 1 // after '{'
		for it := n.Children(); it.Next(); {
			kv := it.Node()
			keys, first, _ := b.keyParts(kv.Key())
			item, err := b.value(kv.Value(), b.kvValueStart(kv))
			if err != nil {
				return nil, err
			}
			item.KeyPos = b.pos(first)
			if err := b.setDotted(v.Table, keys, item, b.pos(first)); err != nil {
				return nil, err
			}
			at = int(kv.Raw.Offset + kv.Raw.Length)
		}
		v.End = b.closing(at, '}')
		closeInline(v.Table)
	default:
		return nil, &SyntaxError{Pos: b.pos(v.Start), Msg: fmt.Sprintf("unexpected %s value", n.Kind)}
	}
	v.Pos = b.pos(v.Start)
	return v, nil
}

// kvValueStart returns the offset of a key-value's value: after its key,
// the "=" and white space.
func (b *builder) kvValueStart(kv *unstable.Node) int {
	_, _, i := b.keyParts(kv.Key())
	for i < len(b.data) && (b.data[i] == ' ' || b.data[i] == '\t' || b.data[i] == '=') {
		i++
	}
	return i
}

// skipBlank skips white space, newlines, comments and commas: what may
// stand between the elements of an array or inline table.
func (b *builder) skipBlank(i int) int {
	for i < len(b.data) {
		switch b.data[i] {
		case ' ', '\t', '\r', '\n', ',':
			i++
		case '#':
			for i < len(b.data) && b.data[i] != '\n' {
				i++
			}
		default:
			return i
		}
	}
	return i
}

// closing returns the offset after the delimiter that closes a container
// whose last element ends at i.
func (b *builder) closing(i int, delim byte) int {
	i = b.skipBlank(i)
	if i < len(b.data) && b.data[i] == delim {
		return i + 1
	}
	return i
}

var scalarKinds = map[unstable.Kind]Kind{
	unstable.Integer: Integer, unstable.Float: Float, unstable.LocalDate: DateTime,
	unstable.LocalTime: DateTime, unstable.LocalDateTime: DateTime, unstable.DateTime: DateTime,
}

// closeInline marks an inline table and the tables its dotted keys made as
// closed to later additions.
func closeInline(t *Tab) {
	t.origin, t.Inline = inline, true
	for _, v := range t.Fields {
		if v.Kind == Table && v.Table.origin == dotted {
			closeInline(v.Table)
		}
	}
}

// Quote returns s as a TOML basic string.
func Quote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\n':
			sb.WriteString(`\n`)
		case '\t':
			sb.WriteString(`\t`)
		case '\r':
			sb.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&sb, `\u%04X`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// Key renders one key part: bare when it can be, quoted otherwise.
func Key(part string) string {
	if part == "" {
		return `""`
	}
	for i := 0; i < len(part); i++ {
		c := part[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return Quote(part)
		}
	}
	return part
}

// DottedKey renders a key path such as plugins."io.containerd.grpc.v1.cri".registry.
func DottedKey(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = Key(p)
	}
	return strings.Join(parts, ".")
}

// HasPrefix reports whether path starts with prefix.
func HasPrefix(path, prefix []string) bool {
	if len(path) < len(prefix) {
		return false
	}
	for i := range prefix {
		if path[i] != prefix[i] {
			return false
		}
	}
	return true
}

// Edit replaces the bytes [Start, End) of a document with Text; Start ==
// End inserts.
type Edit struct {
	Start, End int
	Text       string
}

// ApplyEdits applies non-overlapping edits to data and returns the result.
// Edits at the same offset are applied in the order given.
func ApplyEdits(data []byte, edits []Edit) ([]byte, error) {
	sorted := append([]Edit(nil), edits...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	var out bytes.Buffer
	at := 0
	for _, e := range sorted {
		if e.Start < at || e.End < e.Start || e.End > len(data) {
			return nil, fmt.Errorf("overlapping or out-of-range edit [%d,%d)", e.Start, e.End)
		}
		out.Write(data[at:e.Start])
		out.WriteString(e.Text)
		at = e.End
	}
	out.Write(data[at:])
	return out.Bytes(), nil
}
