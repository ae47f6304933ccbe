package migrate

import (
	"regexp"
	"sort"
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

// redactedValue is what a secret is replaced with.
const redactedValue = `"<redacted>"`

// redactPatterns hides credentials in one line or a whole file of TOML.
func redactPatterns(s string) string {
	// Most lines hold no credential key: skip the regexps for them.
	if containsFold(s, "auth") || containsFold(s, "password") || containsFold(s, "identity") {
		re := secretValue()
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			if isEmptyValue(sub[2]) {
				return m // an empty credential hides nothing
			}
			return sub[1] + redactedValue
		})
	}
	if strings.Contains(s, "@") {
		s = urlUserinfo().ReplaceAllString(s, "${1}<redacted>@")
	}
	return s
}

// isEmptyValue reports an empty TOML string or array: "", ”, [], [""].
func isEmptyValue(v string) bool {
	switch strings.Join(strings.Fields(v), "") {
	case `""`, `''`, `[]`, `[""]`:
		return true
	}
	return false
}

// minLiteralSecret is the shortest known secret replaced wherever it
// stands as a word of its own; shorter ones would mangle unrelated text,
// and the patterns above catch them where they are assigned.
const minLiteralSecret = 6

// redactor returns the function that hides credentials in printed text:
// the patterns of redactPatterns, plus every known secret value (each line of a
// multi-line one too) standing as a word of its own, which catches what a
// line-by-line pattern cannot see, such as multi-line strings and arrays.
// It returns nil when secrets are to be shown.
func (p *Plan) redactor(showSecrets bool) func(string) string {
	if showSecrets {
		return nil
	}
	var literals []string
	for _, s := range p.Secrets {
		for _, part := range append([]string{s}, strings.Split(s, "\n")...) {
			if part = strings.TrimSpace(part); len(part) >= minLiteralSecret {
				literals = append(literals, part)
			}
		}
	}
	// Longest first, so that a secret containing another is hidden whole.
	sort.Slice(literals, func(i, j int) bool { return len(literals[i]) > len(literals[j]) })
	return func(text string) string {
		text = redactPatterns(text)
		for _, lit := range literals {
			text = replaceWord(text, lit, "<redacted>")
		}
		return text
	}
}

// replaceWord replaces the occurrences of word that are not part of a
// longer word and are not a key (followed by "=").
func replaceWord(text, word, with string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, word)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		end := i + len(word)
		rest := strings.TrimLeft(text[end:], " \t")
		if (i > 0 && isWordByte(text[i-1])) || (end < len(text) && isWordByte(text[end])) || strings.HasPrefix(rest, "=") {
			b.WriteString(text[:end])
		} else {
			b.WriteString(text[:i] + with)
		}
		text = text[end:]
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
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
