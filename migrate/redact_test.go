package migrate

import "testing"

// The patterns for the forms a single line can show.
func TestRedactForms(t *testing.T) {
	tests := []struct{ in, want string }{
		{`password = 'ab'`, `password = "<redacted>"`},
		{`password = "a"`, `password = "<redacted>"`},
		{`password = """abc`, `password = "<redacted>"`},
		{`password = '''abc'''`, `password = "<redacted>"`},
		{`password = """a\"b"""`, `password = "<redacted>"`},
		{`auth = [`, `auth = "<redacted>"`},
		{`  X-Api-Key = ["k1"]`, `  X-Api-Key = "<redacted>"`},
		{`  "X-Auth-Token" = ["t"]`, `  "X-Auth-Token" = "<redacted>"`},
		{`  Cookie = ["s=1"]`, `  Cookie = "<redacted>"`},
		{`  X-Client-Secret = "s"`, `  X-Client-Secret = "<redacted>"`},
		{`    password: hunter2`, `    password: "<redacted>"`},
		{`    password: "a b"`, `    password: "<redacted>"`},
		{`    identity_token: 'x'`, `    identity_token: "<redacted>"`},
		{`    auth: |`, `    auth: "<redacted>"`},
		{`endpoint "https://user:pa/ss@host" is invalid`, `endpoint "https://<redacted>@host" is invalid`},
		{`  key_file = "/etc/pki/client.key"`, `  key_file = "/etc/pki/client.key"`},
		{`  username: alice`, `  username: alice`},
		{`author = "x"`, `author = "x"`},
	}
	for _, tt := range tests {
		if got := redactPatterns(tt.in); got != tt.want {
			t.Errorf("redactPatterns(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// What only parsing the whole file can see: the lines inside multi-line
// values, and credential headers whose names the patterns do not know.
func TestRedactorSeesMultiLineValues(t *testing.T) {
	config := "version = 2\n" +
		"[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"m\".auth]\n" +
		"  password = \"\"\"\n  ab\n  cd\"\"\"\n" +
		"  identitytoken = '''\nxy\n'''\n" +
		"  auth = \"\"\"e\\\n    f\"\"\"\n" +
		"[plugins.\"io.containerd.grpc.v1.cri\".registry.headers]\n" +
		"  X-Custom-Key = [\n    \"k\",\n    'l',\n  ]\n" +
		"  X-Signature-Key = [\"q\"]\n" +
		"  Accept = [\"text/plain\"]\n"
	p := &Plan{Files: []FileChange{{Path: "/c", Before: []byte(config), After: []byte("x = 1\n"), Action: Modify}}}
	got := p.redactor(false)(config)
	want := "version = 2\n" +
		"[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"m\".auth]\n" +
		"  password = \"<redacted>\"\n  <redacted>\n  <redacted>\n" +
		"  identitytoken = \"<redacted>\"\n<redacted>\n'''\n" +
		"  auth = \"<redacted>\"\n    <redacted>\n" +
		"[plugins.\"io.containerd.grpc.v1.cri\".registry.headers]\n" +
		"  X-Custom-Key = [\n    <redacted>\n    <redacted>\n  ]\n" +
		"  X-Signature-Key = \"<redacted>\"\n" +
		"  Accept = [\"text/plain\"]\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
