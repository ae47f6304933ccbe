package migrate

import (
	"regexp"
	"sort"
	"strings"
	"sync"
)

// credentialKey is a key whose value is a credential wherever it stands:
// password, auth, identitytoken (configs.*.auth, auths, registries.yaml's
// identity_token), and header names that carry one (Authorization,
// Cookie, X-Api-Key, X-Auth-Token, anything with token, secret or
// password in its name). In header tables, more names count
// (isHeaderCredential, applied by parsing the files).
const credentialKey = `(?:password|auth|identitytoken|identity_token|authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|apikey|api_key|[\w-]*token[\w-]*|[\w-]*secret[\w-]*|[\w-]*passw[\w-]*)`

// secretValue matches the value of a credential key in TOML, in every
// string form: basic and literal strings, an array, or the opening line of
// a multi-line string or array (hidden to the end of the line; the lines
// that follow are known from parsing the whole file, see redactor). The
// patterns are compiled on first use, not at start-up.
var secretValue = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)((?:^|[\s{,."'])` + credentialKey + `["']?\s*=\s*)(""".*|'''.*|"(?:[^"\\]|\\.)*"|'[^']*'|\[[^\]]*\]|\[.*)`)
})

// yamlSecretValue matches the value of a credential key in YAML
// (registries.yaml): whatever follows the colon on its line.
var yamlSecretValue = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)((?:^|[\s{,])["']?` + credentialKey + `["']?:[ \t]+)(\S.*)`)
})

// urlUserinfo matches the user information of a URL
// (https://user:pass@host), which may itself hold a "/".
var urlUserinfo = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(://)[^\s"'@]+@`) })

// redactedValue is what a secret is replaced with.
const redactedValue = `"<redacted>"`

// redactPatterns hides credentials in one line of TOML or YAML, or in a
// message.
func redactPatterns(s string) string {
	// Most lines hold no credential key: skip the regexps for them.
	if mayHoldCredentialKey(s) {
		s = replaceValues(secretValue(), s)
		s = replaceValues(yamlSecretValue(), s)
	}
	if strings.Contains(s, "@") {
		s = urlUserinfo().ReplaceAllString(s, "${1}<redacted>@")
	}
	return s
}

// replaceValues hides the value (second group) of each match of re,
// unless it is empty: an empty credential hides nothing.
func replaceValues(re *regexp.Regexp, s string) string {
	return re.ReplaceAllStringFunc(s, func(m string) string {
		sub := re.FindStringSubmatch(m)
		if isEmptyValue(sub[2]) {
			return m
		}
		return sub[1] + redactedValue
	})
}

// isEmptyValue reports an empty TOML string or array: "", ”, [], [""].
func isEmptyValue(v string) bool {
	switch strings.Join(strings.Fields(v), "") {
	case `""`, `''`, `[]`, `[""]`:
		return true
	}
	return false
}

// credentialWords are in every credentialKey (and isHeaderCredential
// name), lower case.
var credentialWords = []string{"auth", "passw", "identity", "token", "secret", "cookie", "key"}

func mayHoldCredentialKey(s string) bool {
	if len(s) > 4096 {
		// Whole files: one lower-casing, then fast searches.
		lower := strings.ToLower(s)
		for _, w := range credentialWords {
			if strings.Contains(lower, w) {
				return true
			}
		}
		return false
	}
	// One pass: only where a word's first letter stands, compare.
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c != 'a' && c != 'p' && c != 'i' && c != 't' && c != 's' && c != 'c' && c != 'k' {
			continue
		}
		for _, w := range credentialWords {
			if w[0] == c && hasPrefixFold(s[i:], w) {
				return true
			}
		}
	}
	return false
}

// hasPrefixFold reports whether s starts with the lower-case ASCII word,
// ignoring case.
func hasPrefixFold(s, word string) bool {
	if len(s) < len(word) {
		return false
	}
	for j := 0; j < len(word); j++ {
		if s[j]|0x20 != word[j] {
			return false
		}
	}
	return true
}

// minLiteralSecret is the shortest known secret replaced wherever it
// stands as a word of its own; shorter ones would mangle unrelated text,
// and the patterns above catch them where they are assigned.
const minLiteralSecret = 6

// redactor returns the function that hides credentials in printed text,
// line by line:
//   - a line that lies inside a multi-line credential value of one of the
//     plan's files (a multi-line string or array) is hidden whole;
//   - the raw text of each single-line credential value found by parsing
//     the plan's files (a header table's X-Custom-Key, say) is hidden
//     wherever it appears;
//   - the patterns of redactPatterns hide a credential key's value on the
//     key's own line, and URL user information;
//   - every known secret value (each line of a multi-line one too) is
//     hidden where it stands as a word of its own: in warnings, and where
//     a key that is not recognisably a credential holds one.
//
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
	found := secretsIn(p.Files)
	// Longest first, so that a secret containing another is hidden whole.
	sort.Slice(literals, func(i, j int) bool { return len(literals[i]) > len(literals[j]) })
	sort.Slice(found.values, func(i, j int) bool { return len(found.values[i]) > len(found.values[j]) })
	redactLine := func(line string) string {
		if trimmed := strings.TrimSpace(line); trimmed != "" && found.lines[trimmed] {
			return line[:len(line)-len(strings.TrimLeft(line, " \t"))] + "<redacted>"
		}
		for _, v := range found.values {
			line = strings.ReplaceAll(line, v, redactedValue)
		}
		line = redactPatterns(line)
		for _, lit := range literals {
			line = replaceWord(line, lit, "<redacted>")
		}
		return line
	}
	return func(text string) string {
		if !strings.Contains(text, "\n") {
			return redactLine(text)
		}
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			lines[i] = redactLine(l)
		}
		return strings.Join(lines, "\n")
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
