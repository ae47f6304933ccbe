package convert

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// editSpec says how to edit one config file: which registry settings go,
// which credentials are added, and what config_path becomes.
type editSpec struct {
	regPath []string
	// dropConfigAuth lists configs keys whose auth table is removed (turned into
	// a header, or replaced by the auths entry that overrides it).
	dropConfigAuth map[string]bool
	// dropAuthsKeys lists auths keys, as written, that are removed.
	dropAuthsKeys map[string]bool
	// addAuth adds configs."<key>".auth tables (auths entries folded into
	// configs as containerd itself does).
	addAuth []authBlock
	// configPath is the value config_path gets; "" leaves it alone.
	configPath string
}

type authBlock struct {
	Key  string
	Auth *authConfig
}

// removes reports whether the registry setting at rel (a key path below
// the registry table) goes.
func (s *editSpec) removes(rel []string) bool {
	switch {
	case len(rel) == 0:
		return false
	case rel[0] == "mirrors":
		return true
	case rel[0] == "configs" && len(rel) >= 3 && rel[2] == "tls":
		return true
	case rel[0] == "configs" && len(rel) >= 3 && rel[2] == "auth":
		return s.dropConfigAuth[rel[1]]
	case rel[0] == "auths" && len(rel) >= 2:
		return s.dropAuthsKeys[rel[1]]
	}
	return false
}

// editConfig edits the original bytes of f: every byte outside the removed
// statements and the inserted lines stays as it was.
func editConfig(f *ConfigFile, spec *editSpec) ([]byte, error) {
	doc := f.Doc
	reg := spec.regPath
	removed := make([]bool, len(doc.Stmts))
	for i := range doc.Stmts {
		st := &doc.Stmts[i]
		switch st.Kind {
		case tomldoc.KeyValue:
			var kept, gone int
			walkLeaves(st.Path(), st.Value, func(path []string) {
				if tomldoc.HasPrefix(path, reg) && spec.removes(path[len(reg):]) {
					gone++
				} else {
					kept++
				}
			})
			if gone > 0 && kept > 0 {
				return nil, errorf(at(f.Path, st.Pos),
					"this inline table mixes registry settings that move to hosts.toml with settings that stay; write it as [table] sections and run again")
			}
			removed[i] = gone > 0
		default:
			if p := st.Path(); len(p) > len(reg) && tomldoc.HasPrefix(p, reg) && spec.removes(p[len(reg):]) {
				removed[i] = true
			}
		}
	}
	removeEmptyTables(doc, reg, removed)

	inserts, err := insertions(f, spec, removed)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(doc.Data, []byte("\r\n")) {
		for i := range inserts {
			inserts[i].Text = strings.ReplaceAll(inserts[i].Text, "\n", "\r\n")
		}
	}
	edits := append([]tomldoc.Edit(nil), inserts...)
	edits = append(edits, removals(doc, removed, inserts)...)
	out, err := tomldoc.ApplyEdits(doc.Data, edits)
	if err != nil {
		return nil, fmt.Errorf("%s: editing: %w", f.Path, err)
	}
	if err := verifyTrimmed(f.Path, out, spec); err != nil {
		return nil, err
	}
	return out, nil
}

// removeEmptyTables marks the registry sub-tables that the removals left
// empty (configs."h" once its tls table went, configs once every entry
// went), deepest first so that emptiness cascades upwards. kept counts, per
// key path, the statements at or below it that stay.
func removeEmptyTables(doc *tomldoc.Doc, reg []string, removed []bool) {
	kept := map[string]int{}
	forPrefixes := func(path []string, delta int) {
		for n := 1; n <= len(path); n++ {
			kept[pathKey(path[:n])] += delta
		}
	}
	var candidates []int
	for i := range doc.Stmts {
		st := &doc.Stmts[i]
		if removed[i] {
			continue
		}
		p := st.Path()
		forPrefixes(p, 1)
		if st.Kind == tomldoc.Header && len(p) > len(reg) && tomldoc.HasPrefix(p, reg) {
			if k := p[len(reg)]; k == "configs" || k == "auths" || k == "mirrors" {
				candidates = append(candidates, i)
			}
		}
	}
	sort.SliceStable(candidates, func(a, b int) bool {
		return len(doc.Stmts[candidates[a]].Table) > len(doc.Stmts[candidates[b]].Table)
	})
	for _, i := range candidates {
		p := doc.Stmts[i].Path()
		if kept[pathKey(p)] == 1 { // only the header itself
			removed[i] = true
			forPrefixes(p, -1)
		}
	}
}

func pathKey(path []string) string { return strings.Join(path, "\x00") }

// walkLeaves calls fn with the path of every leaf below v (scalars, arrays
// and empty tables).
func walkLeaves(path []string, v *tomldoc.Value, fn func([]string)) {
	if v.Kind != tomldoc.Table || len(v.Table.Keys) == 0 {
		fn(path)
		return
	}
	for _, k := range v.Table.Keys {
		walkLeaves(append(append([]string(nil), path...), k), v.Table.Fields[k], fn)
	}
}

// removals turns removed statements into byte ranges. Consecutive removed
// statements take the comments and blank lines between them along; a
// removal that leaves two blank lines in a row takes one of them too, but
// never reaches past an insertion point.
func removals(doc *tomldoc.Doc, removed []bool, inserts []tomldoc.Edit) []tomldoc.Edit {
	var out []tomldoc.Edit
	for i := 0; i < len(doc.Stmts); i++ {
		if !removed[i] {
			continue
		}
		start, end := doc.Stmts[i].Start, doc.Stmts[i].End
		for i+1 < len(doc.Stmts) && removed[i+1] {
			i++
			end = doc.Stmts[i].End
		}
		limit := len(doc.Data)
		replaced := false // an insertion takes the block's place
		for _, ins := range inserts {
			if ins.Start >= end && ins.Start < limit {
				limit = ins.Start
			}
			replaced = replaced || ins.Start == start
		}
		if !replaced && (start == 0 || blankLineBefore(doc.Data, start)) {
			for end < limit {
				next := lineEndAt(doc.Data, end)
				if len(bytes.TrimSpace(doc.Data[end:next])) != 0 || next > limit {
					break
				}
				end = next
			}
		}
		if end == len(doc.Data) && !replaced {
			// Removed to the end: drop the blank lines it leaves behind.
			for start > 0 && blankLineBefore(doc.Data, start) && !insertAt(inserts, start) {
				start = bytes.LastIndexByte(doc.Data[:start-1], '\n') + 1
			}
		}
		out = append(out, tomldoc.Edit{Start: start, End: end})
	}
	return out
}

func insertAt(inserts []tomldoc.Edit, offset int) bool {
	for _, ins := range inserts {
		if ins.Start == offset {
			return true
		}
	}
	return false
}

func blankLineBefore(data []byte, offset int) bool {
	if offset < 1 || data[offset-1] != '\n' {
		return false
	}
	prevStart := bytes.LastIndexByte(data[:offset-1], '\n') + 1
	return len(bytes.TrimSpace(data[prevStart:offset-1])) == 0
}

func lineEndAt(data []byte, offset int) int {
	if i := bytes.IndexByte(data[offset:], '\n'); i >= 0 {
		return offset + i + 1
	}
	return len(data)
}

// insertions places config_path and the folded auth tables.
func insertions(f *ConfigFile, spec *editSpec, removed []bool) ([]tomldoc.Edit, error) {
	doc := f.Doc
	reg := spec.regPath
	var out []tomldoc.Edit
	first, last := -1, -1
	for i := range doc.Stmts {
		if tomldoc.HasPrefix(doc.Stmts[i].Path(), reg) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	regKey := tomldoc.DottedKey(reg)
	if spec.configPath != "" {
		q := tomldoc.Quote(spec.configPath)
		existing := doc.Root.Lookup(append(append([]string(nil), reg...), "config_path")...)
		switch {
		case existing != nil && existing.End > 0:
			if existing.Kind != tomldoc.String || existing.Str != spec.configPath {
				out = append(out, tomldoc.Edit{Start: existing.Start, End: existing.End, Text: q})
			}
		case headerIndex(doc, reg) >= 0:
			h := headerIndex(doc, reg)
			indent := doc.Stmts[h].Indent + "  "
			if h+1 < len(doc.Stmts) && doc.Stmts[h+1].Kind == tomldoc.KeyValue && !removed[h+1] {
				indent = doc.Stmts[h+1].Indent
			}
			out = append(out, tomldoc.Edit{Start: doc.Stmts[h].End, End: doc.Stmts[h].End, Text: indent + "config_path = " + q + "\n"})
		case first >= 0 && doc.Stmts[first].Kind == tomldoc.KeyValue:
			// The registry is defined by dotted keys or an inline table in
			// an enclosing table: a [registry] header would be a redefinition.
			st := &doc.Stmts[first]
			key := append(append([]string(nil), reg[len(st.Table):]...), "config_path")
			out = append(out, tomldoc.Edit{Start: st.Start, End: st.Start, Text: st.Indent + tomldoc.DottedKey(key) + " = " + q + "\n"})
		case first >= 0:
			st := &doc.Stmts[first]
			text := st.Indent + "[" + regKey + "]\n" + st.Indent + "  config_path = " + q + "\n"
			if !removed[first] {
				text += "\n"
			}
			out = append(out, tomldoc.Edit{Start: st.Start, End: st.Start, Text: text})
		default:
			out = append(out, tomldoc.Edit{Start: len(doc.Data), End: len(doc.Data),
				Text: separator(doc.Data) + "[" + regKey + "]\n  config_path = " + q + "\n"})
		}
	}
	if len(spec.addAuth) > 0 {
		var b strings.Builder
		for _, a := range spec.addAuth {
			b.WriteString("\n[" + regKey + ".configs." + tomldoc.Key(a.Key) + ".auth]\n")
			for _, kv := range [][2]string{{"username", a.Auth.Username}, {"password", a.Auth.Password}, {"auth", a.Auth.Auth}, {"identitytoken", a.Auth.IdentityToken}} {
				if kv[1] != "" {
					b.WriteString("  " + kv[0] + " = " + tomldoc.Quote(kv[1]) + "\n")
				}
			}
		}
		pos := len(doc.Data)
		if last >= 0 {
			pos = doc.Stmts[last].End
			// A header placed among an enclosing table's keys would capture
			// the keys after it: go on to the next header.
			for k := last + 1; k < len(doc.Stmts); k++ {
				if doc.Stmts[k].Kind != tomldoc.KeyValue {
					break
				}
				pos = doc.Stmts[k].End
			}
		}
		text := b.String()
		if pos == len(doc.Data) {
			text = separator(doc.Data) + strings.TrimPrefix(text, "\n")
		}
		out = append(out, tomldoc.Edit{Start: pos, End: pos, Text: text})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}

func headerIndex(doc *tomldoc.Doc, path []string) int {
	for i := range doc.Stmts {
		st := &doc.Stmts[i]
		if st.Kind == tomldoc.Header && len(st.Table) == len(path) && tomldoc.HasPrefix(st.Table, path) {
			return i
		}
	}
	return -1
}

// separator is what goes between existing content and an appended table.
func separator(data []byte) string {
	switch {
	case len(data) == 0:
		return ""
	case !strings.HasSuffix(string(data), "\n"):
		return "\n\n"
	case strings.HasSuffix(string(data), "\n\n"):
		return ""
	}
	return "\n"
}

// verifyTrimmed re-parses the edited file and checks that containerd will
// accept it: no mirrors, no tls tables, config_path as intended.
func verifyTrimmed(path string, out []byte, spec *editSpec) error {
	doc, err := tomldoc.Parse(out)
	if err != nil {
		return fmt.Errorf("%s: the edited config does not parse (%v); nothing was written: please report this", path, err)
	}
	reg := doc.Root.Lookup(spec.regPath...)
	if reg == nil {
		if spec.configPath == "" {
			return nil
		}
		return fmt.Errorf("%s: the edited config has no registry table; nothing was written: please report this", path)
	}
	if reg.Kind != tomldoc.Table {
		return fmt.Errorf("%s: the edited config's registry is not a table", path)
	}
	if reg.Table.Get("mirrors") != nil {
		return fmt.Errorf("%s: the edited config still has mirrors; nothing was written: please report this", path)
	}
	if c := reg.Table.Get("configs"); c != nil && c.Kind == tomldoc.Table {
		for _, h := range c.Table.Keys {
			if e := c.Table.Fields[h]; e.Kind == tomldoc.Table && e.Table.Get("tls") != nil {
				return fmt.Errorf("%s: the edited config still has configs.%s.tls; nothing was written: please report this", path, tomldoc.Key(h))
			}
		}
	}
	if spec.configPath != "" {
		if cp := reg.Table.Get("config_path"); cp == nil || cp.Str != spec.configPath {
			return fmt.Errorf("%s: the edited config does not set config_path; nothing was written: please report this", path)
		}
	}
	return nil
}

// editSpecFor says how f changes: config_path is set in the file that
// gets it, and credentials go or move as foldAuths decided.
func (c *converter) editSpecFor(f *ConfigFile, setConfigPath bool, certsDir string) *editSpec {
	spec := &editSpec{regPath: []string{"plugins", f.regPlugin, "registry"}, dropConfigAuth: map[string]bool{}, dropAuthsKeys: map[string]bool{}}
	if setConfigPath {
		spec.configPath = certsDir
	}
	r := f.Registry
	for _, key := range sortedKeys(c.auth) {
		ha := c.auth[key]
		if ha.fromAuths != "" {
			if _, here := r.Auths[ha.fromAuths]; !here {
				continue
			}
			spec.dropAuthsKeys[ha.fromAuths] = true
			for _, other := range ha.alsoAuths {
				spec.dropAuthsKeys[other] = r.Auths[other] != nil
			}
			// auths overrides configs auth for the same host
			// (docs/semantics.md §3.9).
			spec.dropConfigAuth[key] = r.Configs[key] != nil && r.Configs[key].Auth != nil
			if ha.header == "" {
				spec.addAuth = append(spec.addAuth, authBlock{Key: key, Auth: ha.authConfig})
			}
			continue
		}
		if ha.header != "" {
			spec.dropConfigAuth[key] = true
		}
	}
	return spec
}
