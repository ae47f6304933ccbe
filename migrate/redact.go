package migrate

import (
	"regexp"
	"strings"
	"sync"
)

// secretValue matches the value of a credential key in TOML: password,
// auth, identitytoken (configs.*.auth, auths) and Authorization (hosts.toml
// headers), as a string or an array of strings. The patterns are compiled
// on first use, not at start-up.
var secretValue = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)((?:^|[\s{,."'])(?:password|auth|identitytoken|identity_token|authorization)["']?\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*'|\[[^\]]*\])`)
})

// urlUserinfo matches the user information of a URL (https://user:pass@host).
var urlUserinfo = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(://)[^/@\s"']+@`) })

// Redacted is what a secret is replaced with.
const Redacted = `"<redacted>"`

// Redact hides credentials in one line or a whole file of TOML.
func Redact(s string) string {
	// Most lines hold no credential key: skip the regexps for them.
	if containsFold(s, "auth") || containsFold(s, "password") || containsFold(s, "identity") {
		s = secretValue().ReplaceAllString(s, "${1}"+Redacted)
	}
	if strings.Contains(s, "@") {
		s = urlUserinfo().ReplaceAllString(s, "${1}<redacted>@")
	}
	return s
}

// containsFold reports whether s contains the lower-case ASCII word,
// ignoring case.
func containsFold(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		j := 0
		for j < len(word) && s[i+j]|0x20 == word[j] {
			j++
		}
		if j == len(word) {
			return true
		}
	}
	return false
}
