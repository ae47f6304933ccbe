package migrate

import (
	"bytes"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// foundSecrets are the credential values of a plan's files, found by
// parsing them: what a line-by-line pattern cannot see.
type foundSecrets struct {
	// lines are the lines (trimmed) that lie inside a multi-line value,
	// after the key's own line.
	lines map[string]bool
	// values are single-line values' raw text, quotes included, for keys
	// the patterns do not know (in header tables).
	values []string
}

// secretsIn parses the TOML files of a plan and collects their credential
// values. A file that does not parse (none should) adds nothing; the
// patterns still apply to it.
func secretsIn(files []FileChange) foundSecrets {
	found := foundSecrets{lines: map[string]bool{}}
	for _, f := range files {
		for _, data := range [][]byte{f.Before, f.After} {
			if len(data) == 0 || !mayHoldCredentialKey(string(data)) || !mayNeedParsing(data) {
				continue
			}
			doc, err := tomldoc.Parse(data)
			if err != nil {
				continue
			}
			found.walk(doc.Data, doc.Root, false)
		}
	}
	return found
}

// walk collects the credential values of table t; inHeaders says that t
// is a header table, where any key naming a credential holds one.
func (f *foundSecrets) walk(data []byte, t *tomldoc.Tab, inHeaders bool) {
	for _, k := range t.Keys {
		v := t.Fields[k]
		switch {
		case v.Kind == tomldoc.Table:
			f.walk(data, v.Table, isHeaderTable(k))
		case v.Kind == tomldoc.Array && v.TableArray:
			for _, item := range v.Items {
				if item.Table != nil {
					f.walk(data, item.Table, isHeaderTable(k))
				}
			}
		case isCredentialName(k) || inHeaders && isHeaderCredential(k):
			f.add(data, v)
		case v.Kind == tomldoc.Array:
			for _, item := range v.Items {
				if item.Kind == tomldoc.Table && item.Table != nil {
					f.walk(data, item.Table, false)
				}
			}
		}
	}
}

func (f *foundSecrets) add(data []byte, v *tomldoc.Value) {
	if v.End <= v.Start || v.End > len(data) {
		return
	}
	raw := string(data[v.Start:v.End])
	lines := strings.Split(raw, "\n")
	if len(lines) == 1 {
		f.values = append(f.values, raw)
		return
	}
	for _, l := range lines[1:] {
		// A line of delimiters only (the closing "]" of an array) holds
		// nothing to hide, and hiding it would hide every such line.
		if l = strings.TrimSpace(l); strings.Trim(l, `[]{},"' `) != "" {
			f.lines[l] = true
		}
	}
}

// isHeaderTable reports a table of HTTP headers: hosts.toml's
// [host."…".header], the registry's headers.
func isHeaderTable(name string) bool {
	return strings.EqualFold(name, "header") || strings.EqualFold(name, "headers")
}

// isCredentialName reports a key that holds a credential anywhere.
func isCredentialName(name string) bool {
	switch strings.ToLower(name) {
	case "password", "auth", "identitytoken", "identity_token", "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	return isHeaderCredential(name) && !strings.Contains(strings.ToLower(name), "key")
}

// isHeaderCredential reports a header name that carries a credential.
func isHeaderCredential(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "token", "secret", "key", "passw", "cookie", "credential", "session", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// mayNeedParsing reports whether a file may hold what only parsing finds:
// a multi-line string or array, or a header table. Most files hold
// neither, and the patterns suffice for them.
func mayNeedParsing(data []byte) bool {
	if bytes.Contains(data, []byte(`"""`)) || bytes.Contains(data, []byte("'''")) || containsFold(string(data), "header") {
		return true
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 && (line[len(line)-1] == '[' || line[len(line)-1] == ',') {
			return true
		}
	}
	return false
}
