package diagnose

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	toml1 "github.com/pelletier/go-toml"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// v1Position matches go-toml v1's "(line, column): message".
var v1Position = regexp.MustCompile(`^\((\d+), (\d+)\): (.*)$`)

// v1Error splits a go-toml v1 error into its position and message.
func v1Error(err error) (tomldoc.Pos, string) {
	m := v1Position.FindStringSubmatch(err.Error())
	if m == nil {
		return tomldoc.Pos{}, err.Error()
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	return tomldoc.Pos{Line: line, Col: col}, m[3]
}

// hostsFile is one hosts.toml as one containerd release reads it:
//
//	server = "https://registry.example.com"  # the root entry, tried last
//	capabilities, ca, client, skip_verify, override_path, dial_timeout, [header]
//	                                         # root keys: apply to server (or the default upstream)
//	[host."https://mirror.example.com"]      # tried first, in file order
//	  capabilities = ["pull", "resolve"]     # pull, resolve, push, referrers (2.2+); default all
//	  ca = "ca.pem"                          # string or list; relative to this directory
//	  client = [["c.pem", "k.pem"]]          # string, list of strings, or list of [cert, key]
//	  skip_verify = true
//	  override_path = true                   # the URL path is the API root (no /v2 added)
//	  dial_timeout = "5s"                    # 2.0.7+
//	  [host."https://mirror.example.com".header]
//	    Authorization = "Basic …"            # string or list; name used as written
type hostsFile struct {
	path  string // node path
	hosts []entry
}

// parsedFile is a hosts.toml as both TOML parsers read it.
type parsedFile struct {
	doc    *tomldoc.Doc
	err    error
	v1     *toml1.Tree // parsed for 1.x releases only
	v1err  error
	v1done bool
}

// entry is one host containerd tries: a [host."…"] table or the root.
type entry struct {
	key  string // the [host] key as written; "" for the root entry
	root bool
	pos  convert.Position

	scheme, host, path string
	caps               []string // as containerd stores them (lower case); nil = all
	ca                 []tlsPath
	client             [][2]tlsPath
	skipVerify         *bool
	header             []headerField
	overridePath       bool
	overridePos        convert.Position
	dialTimeout        *time.Duration
	dialPos            convert.Position
	capsPos            convert.Position
}

// tlsPath is a certificate file as written and as containerd opens it.
type tlsPath struct {
	written, abs string
	pos          convert.Position
}

type headerField struct {
	name   string
	values []string
	pos    convert.Position
}

// knownKeys are the keys containerd's hostFileConfig decodes.
var knownKeys = []string{"capabilities", "ca", "client", "skip_verify", "header", "override_path", "dial_timeout"}

// parseHosts reads a hosts.toml as release r does. It returns nil when
// containerd would throw the whole file away (it logs "failed to decode"
// and reads the directory as if there were no hosts.toml); the reason is
// a finding.
func (ck *checker) parseHosts(file string, data []byte, r release) *hostsFile {
	c := ck.c
	dir := path.Dir(file)
	ignored := false
	fatal := func(code string, p tomldoc.Pos, fix, format string, args ...any) {
		ignored = true
		c.add(Finding{Code: code, Pos: at(file, p), Ignored: file, Fix: fix,
			Message: fmt.Sprintf(format, args...) + "; containerd logs \"failed to decode hosts.toml\" and ignores the whole file, so pulls go to the upstream registry as if it did not exist"})
	}
	// containerd 1.x parses with go-toml v1, whose grammar differs from
	// TOML 1.0's (go-toml v2, 2.x): it rejects a [ or ] in a quoted table
	// key (an IPv6 host) and accepts some invalid TOML. Each release's
	// file is the tree its own parser builds.
	pf := ck.syntax[file]
	if pf == nil {
		pf = &parsedFile{}
		pf.doc, pf.err = tomldoc.Parse(data)
		ck.syntax[file] = pf
	}
	if !r.goTOML2() && !pf.v1done {
		pf.v1, pf.v1err = toml1.LoadBytes(data)
		pf.v1done = true
	}
	doc, err := pf.doc, pf.err
	var root *tomldoc.Tab
	if r.goTOML2() {
		if err != nil {
			ck.syntaxError(err, fatal)
			return nil
		}
		root = doc.Root
	} else {
		tree, v1err := pf.v1, pf.v1err
		switch {
		case v1err != nil && err != nil:
			ck.syntaxError(err, fatal)
			return nil
		case v1err != nil:
			p, msg := v1Error(v1err)
			fix := "write it in the TOML subset go-toml v1 reads"
			if strings.Contains(msg, "cannot contain ']'") {
				fix = `for containerd 1.x write the host as a dotted key, host."http://[::1]:5000".capabilities = […] (1.x orders hosts by line); 2.x tries only [host."…"] headers, so no one file serves both`
				msg = "containerd 1.x's TOML parser (go-toml v1) cannot read a table header whose key contains [ or ] (an IPv6 address): " + msg
			} else {
				msg = "valid TOML that containerd 1.x's parser (go-toml v1) rejects: " + msg
			}
			fatal("hosts-toml-syntax", p, fix, "%s", msg)
			return nil
		case err != nil:
			c.add(Finding{Code: "hosts-toml-lenient-1x", Pos: convert.Position{File: file},
				Message: fmt.Sprintf("this is not valid TOML (%v), but containerd 1.x's lenient parser reads it; containerd 2.x ignores the whole file", err),
				Fix:     "fix the TOML syntax"})
			doc, root = nil, fromV1(tree)
		default:
			// Both parse it alike; tomldoc has every value's position.
			root = doc.Root
		}
	}
	hf := &hostsFile{path: file}

	// The order hosts are tried in.
	var order []string
	var hostTab *tomldoc.Tab
	hv := root.Get("host")
	switch {
	case hv == nil:
		if r.needsHostTable() {
			fatal("hosts-toml-no-host-table", tomldoc.Pos{}, `add the server as a host too: [host."<server URL>"] with the same keys`,
				"this file has no [host.\"…\"] table: containerd before 1.7.32 fails on it with \"invalid `host` tree\"")
		}
	case hv.Kind != tomldoc.Table:
		fatal("hosts-toml-type", hv.KeyPos, `write hosts as [host."https://…"] tables`, "host must be a table of hosts, not %s", kindOf(hv))
	default:
		hostTab = hv.Table
		if r.goTOML2() {
			order = headerOrder(doc)
		} else {
			order = append(order, hostTab.Keys...)
			sort.SliceStable(order, func(i, j int) bool {
				return hostTab.Fields[order[i]].Pos.Line < hostTab.Fields[order[j]].Pos.Line
			})
		}
	}

	// Decode like toml.Unmarshal into the config struct: a value of the
	// wrong type fails the whole file; unknown keys are dropped silently.
	var rootCfg *tomldoc.Tab = root
	server := ""
	var serverPos tomldoc.Pos
	for _, k := range root.Keys {
		v := root.Fields[k]
		switch {
		case k == "server":
			if v.Kind != tomldoc.String {
				fatal("hosts-toml-type", v.KeyPos, `write server = "https://registry.example.com"`, "server must be a string, not %s", kindOf(v))
				continue
			}
			server, serverPos = v.Str, v.Pos
		case k == "host":
		case k == "dial_timeout" && !r.dialTimeout():
			c.add(Finding{Code: "dial-timeout-unsupported", Pos: at(file, v.KeyPos), IgnoredKey: true,
				Message: "containerd before 2.0.7 does not know dial_timeout and ignores it", Fix: "remove it, or upgrade containerd"})
		case !contains(knownKeys, k):
			ck.unknownKey(file, v, k, true)
		}
	}
	if hostTab != nil {
		for _, h := range hostTab.Keys {
			v := hostTab.Fields[h]
			if v.Kind != tomldoc.Table {
				fatal("hosts-toml-type", v.KeyPos, `write [host."`+h+`"] as a table`, "host %q must be a table, not %s", h, kindOf(v))
				continue
			}
			for _, k := range v.Table.Keys {
				kv := v.Table.Fields[k]
				switch {
				case k == "dial_timeout" && !r.dialTimeout():
					c.add(Finding{Code: "dial-timeout-unsupported", Pos: at(file, kv.KeyPos), IgnoredKey: true,
						Message: "containerd before 2.0.7 does not know dial_timeout and ignores it", Fix: "remove it, or upgrade containerd"})
				case !contains(knownKeys, k):
					ck.unknownKey(file, kv, k, false)
				}
			}
		}
		if r.goTOML2() {
			for _, h := range hostTab.Keys {
				if !contains(order, h) {
					v := hostTab.Fields[h]
					c.add(Finding{Code: "host-not-table-header", Pos: at(file, posOf(v)), IgnoredKey: true,
						Message: fmt.Sprintf("containerd 2.x tries only hosts written as [host.%s] table headers; this host, written as an inline table or dotted key, is never tried", tomldoc.Quote(h)),
						Fix:     fmt.Sprintf("write it as a [host.%s] section", tomldoc.Quote(h))})
				}
			}
			seen := map[string]bool{}
			for _, h := range order {
				if seen[h] {
					c.add(Finding{Code: "host-listed-twice", Pos: at(file, hostTab.Fields[h].Pos),
						Message: fmt.Sprintf("containerd 2.x tries %s twice: one of its sub-tables is separated from [host.%s] by another host", h, tomldoc.Quote(h)),
						Fix:     fmt.Sprintf("move every [host.%s.…] table directly after [host.%s]", tomldoc.Quote(h), tomldoc.Quote(h))})
				}
				seen[h] = true
			}
		}
	}

	headerAt := map[string]tomldoc.Pos{}
	if doc != nil {
		for _, s := range doc.Stmts {
			if s.Kind == tomldoc.Header && len(s.Table) == 2 && s.Table[0] == "host" {
				headerAt[s.Table[1]] = s.Pos
			}
		}
	}
	for _, h := range order {
		v := hostTab.Fields[h]
		if v == nil || v.Kind != tomldoc.Table {
			continue
		}
		p, ok := headerAt[h]
		if !ok {
			p = v.Pos
		}
		e, ok := ck.parseEntry(file, dir, h, at(file, p), v.Table, r, fatal)
		if ok {
			hf.hosts = append(hf.hosts, e)
		}
	}
	rootPos := at(file, serverPos)
	if server == "" {
		rootPos = convert.Position{File: file}
	}
	e, ok := ck.parseEntry(file, dir, server, rootPos, rootCfg, r, fatal)
	e.root = true
	if ok {
		hf.hosts = append(hf.hosts, e)
	}
	if ignored {
		return nil
	}
	return hf
}

// syntaxError reports invalid TOML.
func (ck *checker) syntaxError(err error, fatal func(code string, p tomldoc.Pos, fix, format string, args ...any)) {
	p, msg := tomldoc.Pos{}, err.Error()
	if se, ok := err.(*tomldoc.SyntaxError); ok {
		p, msg = se.Pos, se.Msg
	}
	fatal("hosts-toml-syntax", p, "fix the TOML syntax", "invalid TOML: %s", msg)
}

// fromV1 is go-toml v1's tree as a tomldoc table, keys in file order (as
// containerd 1.x sorts hosts), each value at the position v1 gives it.
func fromV1(t *toml1.Tree) *tomldoc.Tab {
	tab := &tomldoc.Tab{Fields: map[string]*tomldoc.Value{}}
	keys := t.Keys()
	pos := func(k string) tomldoc.Pos {
		p := t.GetPositionPath([]string{k}) // Get and GetPosition would split k at dots
		return tomldoc.Pos{Line: p.Line, Col: p.Col}
	}
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := pos(keys[i]), pos(keys[j])
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	for _, k := range keys {
		v := fromV1Value(t.GetPath([]string{k}))
		v.Pos, v.KeyPos = pos(k), pos(k)
		tab.Keys = append(tab.Keys, k)
		tab.Fields[k] = v
	}
	return tab
}

func fromV1Value(x any) *tomldoc.Value {
	switch x := x.(type) {
	case *toml1.Tree:
		return &tomldoc.Value{Kind: tomldoc.Table, Table: fromV1(x)}
	case []*toml1.Tree:
		v := &tomldoc.Value{Kind: tomldoc.Array, TableArray: true}
		for _, t := range x {
			v.Items = append(v.Items, &tomldoc.Value{Kind: tomldoc.Table, Table: fromV1(t), Pos: tomldoc.Pos{Line: t.Position().Line, Col: t.Position().Col}})
		}
		return v
	case []any:
		v := &tomldoc.Value{Kind: tomldoc.Array}
		for _, it := range x {
			v.Items = append(v.Items, fromV1Value(it))
		}
		return v
	case string:
		return &tomldoc.Value{Kind: tomldoc.String, Str: x}
	case bool:
		return &tomldoc.Value{Kind: tomldoc.Bool, Bool: x}
	case int64, uint64:
		return &tomldoc.Value{Kind: tomldoc.Integer, Str: fmt.Sprint(x)}
	case float64:
		return &tomldoc.Value{Kind: tomldoc.Float, Str: fmt.Sprint(x)}
	}
	return &tomldoc.Value{Kind: tomldoc.DateTime, Str: fmt.Sprint(x)}
}

// parseEntry decodes one host table (or the root) the way
// parseHostConfig does.
func (ck *checker) parseEntry(file, dir, server string, pos convert.Position, t *tomldoc.Tab, r release,
	fatal func(code string, p tomldoc.Pos, fix, format string, args ...any)) (entry, bool) {
	ok := true
	bad := func(code string, p tomldoc.Pos, fix, format string, args ...any) {
		ok = false
		fatal(code, p, fix, format, args...)
	}
	e := entry{key: server, pos: pos}
	if v := t.Get("override_path"); v != nil {
		if v.Kind != tomldoc.Bool {
			bad("hosts-toml-type", v.Pos, "write override_path = true", "override_path must be a boolean, not %s", kindOf(v))
		}
		e.overridePath, e.overridePos = v.Bool, at(file, v.KeyPos)
	}
	if server != "" {
		s := server
		if !strings.HasPrefix(s, "http") {
			s = "https://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			bad("hosts-toml-invalid-url", tomldoc.Pos{Line: pos.Line, Col: pos.Col}, "write a URL such as https://mirror.example.com:5000",
				"%s is not a URL (%v)", server, unwrapURLError(err))
			return e, false
		}
		e.scheme, e.host = u.Scheme, u.Host
		if len(u.Path) > 0 {
			u.Path = path.Clean(u.Path)
			if !strings.HasSuffix(u.Path, "/v2") && !e.overridePath {
				u.Path += "/v2"
			}
		} else if !e.overridePath {
			u.Path = "/v2"
		}
		e.path = u.Path
	}
	if v := t.Get("skip_verify"); v != nil {
		if v.Kind != tomldoc.Bool {
			bad("hosts-toml-type", v.Pos, "write skip_verify = true (no quotes)", "skip_verify must be a boolean, not %s", kindOf(v))
		} else {
			b := v.Bool
			e.skipVerify = &b
		}
	}
	if v := t.Get("capabilities"); v != nil {
		e.capsPos = at(file, v.KeyPos)
		if v.Kind != tomldoc.Array {
			bad("hosts-toml-type", v.Pos, `write capabilities = ["pull", "resolve"]`, "capabilities must be an array of strings, not %s", kindOf(v))
		} else {
			for _, it := range v.Items {
				if it.Kind != tomldoc.String {
					bad("hosts-toml-type", it.Pos, `write capabilities = ["pull", "resolve"]`, "capabilities must be an array of strings, found %s", kindOf(it))
					continue
				}
				c := strings.ToLower(it.Str)
				switch {
				case contains(r.capabilityNames(), c):
					e.caps = append(e.caps, c)
				case c == "referrers":
					bad("referrers-unsupported", it.Pos, `remove "referrers", or upgrade containerd to 2.2+`,
						"containerd before 2.2.0 does not know the referrers capability: \"unknown capability referrers\"")
				default:
					bad("unknown-capability", it.Pos, "use pull, resolve, push (and referrers on 2.2+)",
						"unknown capability %q: \"unknown capability %s\"", it.Str, it.Str)
				}
			}
		}
	}
	if v := t.Get("ca"); v != nil {
		switch v.Kind {
		case tomldoc.String:
			e.ca = []tlsPath{tlsAt(file, dir, v)}
		case tomldoc.Array:
			for _, it := range v.Items {
				if it.Kind != tomldoc.String {
					bad("hosts-toml-type", it.Pos, `write ca = "/path/ca.pem" or ca = ["/a.pem", "/b.pem"]`, "ca must be a string or an array of strings, found %s", kindOf(it))
					continue
				}
				e.ca = append(e.ca, tlsAt(file, dir, it))
			}
			if e.ca == nil {
				e.ca = []tlsPath{} // set: containerd still builds a TLS config
			}
		default:
			bad("hosts-toml-type", v.Pos, `write ca = "/path/ca.pem"`, "ca must be a string or an array of strings, not %s", kindOf(v))
		}
	}
	if v := t.Get("client"); v != nil {
		switch v.Kind {
		case tomldoc.String:
			e.client = [][2]tlsPath{{tlsAt(file, dir, v), {}}}
		case tomldoc.Array:
			for _, it := range v.Items {
				switch {
				case it.Kind == tomldoc.String:
					e.client = append(e.client, [2]tlsPath{tlsAt(file, dir, it), {}})
				case it.Kind == tomldoc.Array && len(it.Items) == 2 && it.Items[0].Kind == tomldoc.String && it.Items[1].Kind == tomldoc.String:
					key := tlsAt(file, dir, it.Items[1])
					e.client = append(e.client, [2]tlsPath{tlsAt(file, dir, it.Items[0]), key})
				default:
					bad("hosts-toml-type", it.Pos, `write client = [["/path/cert.pem", "/path/key.pem"]]`, "client must be a file or a list of files or of [cert, key] pairs")
				}
			}
		default:
			bad("hosts-toml-type", v.Pos, `write client = [["/path/cert.pem", "/path/key.pem"]]`, "client must be a string or an array, not %s", kindOf(v))
		}
	}
	if v := t.Get("header"); v != nil {
		if v.Kind != tomldoc.Table {
			bad("hosts-toml-type", v.Pos, `write a [header] table: Name = "value"`, "header must be a table, not %s", kindOf(v))
		} else {
			for _, name := range v.Table.Keys {
				hv := v.Table.Fields[name]
				f := headerField{name: name, pos: at(file, hv.KeyPos)}
				switch hv.Kind {
				case tomldoc.String:
					f.values = []string{hv.Str}
				case tomldoc.Array:
					f.values = []string{}
					for _, it := range hv.Items {
						if it.Kind != tomldoc.String {
							bad("hosts-toml-type", it.Pos, `write Name = "value" or Name = ["v1", "v2"]`, "header %s must be a string or an array of strings", name)
							continue
						}
						f.values = append(f.values, it.Str)
					}
				default:
					bad("hosts-toml-type", hv.Pos, `write Name = "value"`, "header %s must be a string or an array of strings, not %s", name, kindOf(hv))
				}
				e.header = append(e.header, f)
			}
		}
	}
	if v := t.Get("dial_timeout"); v != nil && r.dialTimeout() {
		if v.Kind != tomldoc.String {
			bad("hosts-toml-type", v.Pos, `write dial_timeout = "5s"`, "dial_timeout must be a string, not %s", kindOf(v))
		} else if v.Str != "" {
			d, err := time.ParseDuration(v.Str)
			if err != nil {
				bad("dial-timeout-invalid", v.Pos, `write a Go duration such as "5s" or "1m30s"`, "dial_timeout %q is not a duration", v.Str)
			} else {
				e.dialTimeout, e.dialPos = &d, at(file, v.KeyPos)
			}
		}
	}
	return e, ok
}

// headerOrder lists the hosts as go-toml v2's containerd finds them: the
// [host.X] and [host.X.…] table headers in file order, a header for the
// same host as the previous one skipped.
func headerOrder(doc *tomldoc.Doc) []string {
	var order []string
	last := ""
	for _, s := range doc.Stmts {
		if s.Kind != tomldoc.Header || len(s.Table) < 2 || s.Table[0] != "host" || s.Table[1] == last {
			continue
		}
		last = s.Table[1]
		order = append(order, last)
	}
	return order
}

func tlsAt(file, dir string, v *tomldoc.Value) tlsPath {
	p := tlsPath{written: v.Str, abs: v.Str, pos: at(file, v.Pos)}
	if !path.IsAbs(v.Str) {
		p.abs = path.Join(dir, v.Str)
	}
	return p
}

func at(file string, p tomldoc.Pos) convert.Position {
	return convert.Position{File: file, Line: p.Line, Col: p.Col}
}

func posOf(v *tomldoc.Value) tomldoc.Pos {
	if v.KeyPos.Line != 0 {
		return v.KeyPos
	}
	return v.Pos
}

// kindOf names v's TOML type with its article, for "must be a string, not
// an integer".
func kindOf(v *tomldoc.Value) string {
	kind := v.Kind.String()
	if v.Kind == tomldoc.Array && v.TableArray {
		kind = "array of tables"
	}
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// misspelt maps keys people write to the key containerd reads.
var misspelt = map[string]string{
	"insecure_skip_verify": "skip_verify", "skip-verify": "skip_verify", "skipverify": "skip_verify", "insecure": "skip_verify",
	"capability": "capabilities", "caps": "capabilities",
	"headers": "header", "ca_file": "ca", "cacert": "ca", "ca_cert": "ca", "cert_file": "client", "key_file": "client",
	"override-path": "override_path", "overridepath": "override_path",
	"endpoint": "[host.\"…\"] tables", "endpoints": "[host.\"…\"] tables", "mirrors": "[host.\"…\"] tables", "url": "server",
	"dialtimeout": "dial_timeout", "dial-timeout": "dial_timeout",
}

// unknownKey reports a key containerd drops without a word.
func (ck *checker) unknownKey(file string, v *tomldoc.Value, k string, top bool) {
	fix := "remove it"
	if s, ok := misspelt[strings.ToLower(k)]; ok {
		fix = "containerd reads " + s
	} else if !top && k == "server" {
		fix = "server belongs at the top of the file; a [host] table's URL is its key"
	} else if !top && k == "host" {
		fix = "hosts are not nested: write each one as a top-level [host.\"…\"] table"
	}
	ck.c.add(Finding{Code: "unknown-key", Pos: at(file, posOf(v)), IgnoredKey: v.Kind != tomldoc.Table,
		Message: fmt.Sprintf("containerd does not know the key %q and ignores it without a warning", k), Fix: fix})
}
