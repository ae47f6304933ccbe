package migrate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// secretAlphabet is what planted secrets are made of: characters that
// appear nowhere else in the fuzz node or in anything the tool prints
// about it, so any of them in the output is a leak, however short.
const secretAlphabet = "~^|!"

// tomlString writes secret in one of TOML's string forms.
func tomlString(form uint8, secret string) string {
	switch form % 5 {
	case 0: // basic, with escapes
		r := strings.NewReplacer("\n", `\n`, "|", `\u007C`, "!", `\U00000021`)
		return `"` + r.Replace(secret) + `"`
	case 1: // literal
		return `'` + strings.ReplaceAll(secret, "\n", "") + `'`
	case 2: // multi-line basic, the newline after the quotes trimmed
		return "\"\"\"\n" + secret + `"""`
	case 3: // multi-line basic with line continuations
		var b strings.Builder
		b.WriteString(`"""`)
		for i, part := range strings.Split(strings.ReplaceAll(secret, "\n", ""), "") {
			if i > 0 && i%3 == 0 {
				b.WriteString("\\\n      ")
			}
			b.WriteString(part)
		}
		b.WriteString(`"""`)
		return b.String()
	default: // multi-line literal
		return "'''" + secret + "'''"
	}
}

// fuzzSecretNode is a node whose config holds secret in the given string
// form as a password, an identity token or a custom header's value.
func fuzzSecretNode(form, where uint8, secret string) string {
	value := tomlString(form, secret)
	var planted string
	switch where % 4 {
	case 0:
		planted = "password = " + value
	case 1:
		planted = "identitytoken = " + value
	case 2:
		planted = "username = \"u\"\n  password = " + value
	default:
		return `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.headers]
  X-Api-Key = [` + value + `]
  X-Custom-Credential-Key = [
    ` + value + `,
  ]
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example.com"]
`
	}
	return `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example.com"]
[plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example.com".auth]
  ` + planted + `
`
}

// FuzzSecretNeverPrinted plants a random secret, of any length, in a
// random TOML string form, and checks that no part of it appears in the
// diff, the warnings, the summary, the JSON report or an error. The seeds
// cover every form and place, so it runs as a normal test.
func FuzzSecretNeverPrinted(f *testing.F) {
	for form := uint8(0); form < 5; form++ {
		for where := uint8(0); where < 4; where++ {
			for _, s := range []string{"\x00", "\x00\x01\x02\x03", "\x00\x04\x01\x01\x04\x02\x03\x00\x00\x01"} {
				f.Add(form, where, []byte(s), false)
			}
			f.Add(form, where, bytes.Repeat([]byte{0, 1, 2, 3, 4}, 30), true)
		}
	}
	f.Fuzz(func(t *testing.T, form, where uint8, raw []byte, header bool) {
		if len(raw) == 0 || len(raw) > 200 {
			return
		}
		var b strings.Builder
		for _, c := range raw {
			if k := int(c) % (len(secretAlphabet) + 1); k < len(secretAlphabet) {
				b.WriteByte(secretAlphabet[k])
			} else {
				b.WriteByte('\n')
			}
		}
		secret := strings.Trim(b.String(), "\n")
		if secret == "" {
			return
		}
		config := fuzzSecretNode(form, where, secret)
		root := t.TempDir()
		p := filepath.Join(root, "etc/containerd/config.toml")
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(config), 0o644))
		opts := Options{Root: root}
		if header {
			opts.Auth = convert.AuthHeader
		}
		var out bytes.Buffer
		plan, err := Build(opts)
		if err != nil {
			fmt.Fprintln(&out, err)
		} else {
			plan.WriteDiff(&out, false, false)
			plan.WriteWarnings(&out, false)
			fmt.Fprintln(&out, plan.Summary())
			j, err := json.Marshal(plan.Report(false))
			must(t, err)
			out.Write(j)
		}
		if i := strings.IndexAny(out.String(), secretAlphabet); i >= 0 || strings.Contains(out.String(), `\u007C`) || strings.Contains(out.String(), `\U00000021`) {
			t.Fatalf("secret %q leaked (at byte %d) from\n%s\noutput:\n%s", secret, i, config, out.String())
		}
	})
}
