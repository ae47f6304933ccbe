package migrate

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestUnifiedDiffFormat(t *testing.T) {
	before := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	after := "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\n"
	want := `--- a/x.toml
+++ b/x.toml
@@ -1,7 +1,7 @@
 a
 b
 c
-d
+D
 e
 f
 g
@@ -9,3 +9,4 @@
 i
 j
 k
+l
`
	if got := unifiedDiff("/x.toml", []byte(before), []byte(after), nil); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := unifiedDiff("/x.toml", []byte(before), []byte(before), nil); got != "" {
		t.Errorf("diff of equal files = %q, want empty", got)
	}
	created := unifiedDiff("/n.toml", nil, []byte("x\ny"), nil)
	wantCreated := "--- /dev/null\n+++ b/n.toml\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n"
	if created != wantCreated {
		t.Errorf("new file:\n%s\nwant:\n%s", created, wantCreated)
	}
}

// TestUnifiedDiffRoundTrip checks, on random edits, that applying the
// printed diff to before gives after, and that GNU patch agrees when
// it is installed.
func TestUnifiedDiffRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	patchBin, _ := exec.LookPath("patch")
	for i := 0; i < 300; i++ {
		before := randomLines(rng, rng.Intn(30))
		after := mutate(rng, before)
		d := unifiedDiff("/f", []byte(before), []byte(after), nil)
		got, err := applyUnified(before, d)
		if err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, d)
		}
		if got != after {
			t.Fatalf("case %d: patched result differs\nbefore:\n%s\nafter:\n%s\ndiff:\n%s\ngot:\n%s", i, before, after, d, got)
		}
		if patchBin != "" && d != "" && i%30 == 0 {
			dir := t.TempDir()
			file := filepath.Join(dir, "f")
			if err := os.WriteFile(file, []byte(before), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(patchBin, "-s", "-p1", "-d", dir)
			cmd.Stdin = strings.NewReader(d)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("case %d: patch: %v\n%s\n%s", i, err, out, d)
			}
			data, _ := os.ReadFile(file)
			if string(data) != after {
				t.Fatalf("case %d: GNU patch result differs", i)
			}
		}
	}
}

func randomLines(rng *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "line %d\n", rng.Intn(8))
	}
	return b.String()
}

func mutate(rng *rand.Rand, s string) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var out []string
	for _, l := range lines {
		switch rng.Intn(6) {
		case 0: // drop
		case 1:
			out = append(out, l, "new "+strconv.Itoa(rng.Intn(5))+"\n")
		default:
			out = append(out, l)
		}
	}
	res := strings.Join(out, "")
	if rng.Intn(10) == 0 {
		res = strings.TrimSuffix(res, "\n")
	}
	return res
}

// applyUnified applies a diff made by unifiedDiff.
func applyUnified(before, diff string) (string, error) {
	if diff == "" {
		return before, nil
	}
	src := strings.SplitAfter(before, "\n")
	if len(src) > 0 && src[len(src)-1] == "" {
		src = src[:len(src)-1]
	}
	lines := strings.SplitAfter(diff, "\n")
	var out []string
	at := 0
	for i := 2; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "@@") {
			var oldStart, oldN int
			var rest string
			if _, err := fmt.Sscanf(l, "@@ -%s", &rest); err != nil {
				return "", err
			}
			rng := strings.SplitN(rest, ",", 2)
			oldStart, _ = strconv.Atoi(rng[0])
			oldN = 1
			if len(rng) == 2 {
				oldN, _ = strconv.Atoi(rng[1])
			}
			start := oldStart - 1
			if oldN == 0 {
				start = oldStart
			}
			out = append(out, src[at:start]...)
			at = start
			continue
		}
		if strings.HasPrefix(l, "\\") {
			out[len(out)-1] = strings.TrimSuffix(out[len(out)-1], "\n")
			continue
		}
		text := l[1:]
		switch l[0] {
		case ' ':
			if at >= len(src) || strings.TrimSuffix(src[at], "\n") != strings.TrimSuffix(text, "\n") {
				return "", fmt.Errorf("context mismatch at line %d", at+1)
			}
			out = append(out, src[at])
			at++
		case '-':
			if at >= len(src) || strings.TrimSuffix(src[at], "\n") != strings.TrimSuffix(text, "\n") {
				return "", fmt.Errorf("deletion mismatch at line %d", at+1)
			}
			at++
		case '+':
			out = append(out, text)
		}
	}
	out = append(out, src[at:]...)
	return strings.Join(out, ""), nil
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`  password = "hunter2"`, `  password = "<redacted>"`},
		{`  password = ""`, `  password = ""`}, // empty: nothing to hide
		{`auth = ''`, `auth = ''`},
		{`password='x'`, `password="<redacted>"`},
		{`  auth = "dXNlcjpwYXNz"`, `  auth = "<redacted>"`},
		{`identitytoken = "tok"`, `identitytoken = "<redacted>"`},
		{`    Authorization = "Basic dTpw"`, `    Authorization = "<redacted>"`},
		{`Authorization = ["Basic a", "Basic b"]`, `Authorization = "<redacted>"`},
		{`auth = { username = "u", password = "p\"q" }`, `auth = { username = "u", password = "<redacted>" }`},
		{`"password" = "x"`, `"password" = "<redacted>"`},
		{`endpoint = ["https://user:pw@m.example"]`, `endpoint = ["https://<redacted>@m.example"]`},
		{`username = "alice"`, `username = "alice"`},
		{`[plugins."io.containerd.grpc.v1.cri".registry.configs."m".auth]`, `[plugins."io.containerd.grpc.v1.cri".registry.configs."m".auth]`},
		{`author = "x"`, `author = "x"`},
		{`x.password = "p"`, `x.password = "<redacted>"`},
	}
	for _, tt := range tests {
		if got := redactPatterns(tt.in); got != tt.want {
			t.Errorf("redactPatterns(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
