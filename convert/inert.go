package convert

import (
	"fmt"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// Keys that containerd's CRI plugin never read: 1.x decodes its config
// non-strictly and drops them silently, 2.x logs "Ignoring unknown key in
// TOML for plugin" (cmd/containerd/server/config Config.Decode, v2.0.0+).
// Since they never took effect, they never block a migration: each is a
// warning naming the key and, where the writer clearly meant something
// else, what that is.

// inertHints are the keys real configs carry, with what their writers
// meant; the key is the last element of the key path and its parent.
var inertHints = map[string]string{
	// KubeOne wrote it in every mirror table.
	"mirror/override_path": "override_path is a hosts.toml [host] setting; legacy containerd used an endpoint's path as is, which the migration already writes as override_path = true on that endpoint's [host]",
	// Docker's daemon.json setting, copied next to mirrors.
	"registry/insecure_registries": "insecure_registries is Docker's daemon.json setting; in containerd a plain-http registry is an http:// endpoint, and skipping certificate checks is configs.<host>.tls.insecure_skip_verify",
	// A widely read guide to plain-HTTP registries.
	"config/http":     "configs.<host>.http is not a containerd table; a plain-http registry is an http:// endpoint, and skipping certificate checks is configs.<host>.tls.insecure_skip_verify",
	"tls/skip_verify": "did you mean insecure_skip_verify (skip_verify is its hosts.toml name)",
	"tls/ca":          "did you mean ca_file (ca is its hosts.toml name)",
}

// inertKey adds to w the warning for key in the table what (e.g.
// registry.mirrors."docker.io"), whose known keys are listed in known.
func inertKey(w *[]Warning, file string, v *tomldoc.Value, what, key, known string) {
	kind := tableKind(what)
	hint := inertHints[kind+"/"+key]
	if hint == "" {
		if near := didYouMean(key, strings.Split(known, ", ")); near != "" {
			hint = "did you mean " + near
		} else {
			hint = "known keys: " + known
		}
	}
	fate := "it is left as it is"
	switch kind {
	case "mirror":
		fate = "it is removed with the mirror"
	case "tls":
		fate = "it is removed with the TLS table"
	}
	pos := v.Pos
	if v.KeyPos.Line > 0 {
		pos = v.KeyPos // point at the key, not its value
	}
	*w = append(*w, Warning{Code: WarnInertKey, Pos: at(file, pos),
		Message: fmt.Sprintf("%s.%s is not a containerd setting and never took effect (containerd 1.x ignores it silently, 2.x logs \"Ignoring unknown key\"): %s; %s", what, tomldoc.Key(key), hint, fate)})
}

// tableKind names the kind of registry table a key path is.
func tableKind(what string) string {
	switch {
	case what == "registry":
		return "registry"
	case strings.HasPrefix(what, "registry.mirrors."):
		return "mirror"
	case strings.HasPrefix(what, "registry.configs.") && strings.HasSuffix(what, ".tls"):
		return "tls"
	case strings.HasPrefix(what, "registry.configs.") && strings.HasSuffix(what, ".auth"):
		return "auth"
	case strings.HasPrefix(what, "registry.configs."):
		return "config"
	}
	return "other"
}

// didYouMean returns the known key closest to key, if it is close enough
// to be a typo: at most two edits, or key with a word missing or added.
func didYouMean(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		k = strings.TrimSpace(k)
		if d := editDistance(strings.ToLower(key), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range known {
		if strings.HasSuffix(k, "_"+key) || strings.HasSuffix(key, "_"+k) || strings.HasPrefix(k, key+"_") {
			return k
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
