package convert

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
)

// hostAuth is one host's credentials after auths were folded into configs.
type hostAuth struct {
	*authConfig
	fromAuths string // the auths key it came from, if any
	// alsoAuths are other auths keys for the same host, which the
	// migration removes too.
	alsoAuths []string
	header    string // the Authorization value, when turned into a header
}

// secrets lists every credential value the run read or wrote.
func (c *converter) secrets() []string {
	var out []string
	addAuth := func(a *authConfig) {
		if a != nil {
			out = append(out, a.Password, a.Auth, a.IdentityToken)
		}
	}
	for _, r := range append(c.inputs, c.reg) {
		for _, cfg := range r.Configs {
			addAuth(cfg.Auth)
		}
		for _, a := range r.Auths {
			addAuth(a)
		}
		for _, m := range r.Mirrors {
			for _, ep := range m.Endpoints {
				if u := userinfo(ep.Value); u != "" {
					out = append(out, u)
				}
			}
		}
	}
	for _, ha := range c.auth {
		if ha.header != "" {
			out = append(out, ha.header, strings.TrimPrefix(ha.header, "Basic "))
		}
	}
	var nonEmpty []string
	for _, s := range out {
		if s != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	sort.Strings(nonEmpty)
	return slices.Compact(nonEmpty)
}

// foldAuths applies containerd's own auths → configs conversion
// (docs/semantics.md §3.9) and decides, per host, whether credentials stay or
// become a header.
func (c *converter) foldAuths() error {
	c.auth = map[string]*hostAuth{}
	for _, h := range sortedKeys(c.reg.Configs) {
		if a := c.reg.Configs[h].Auth; a != nil {
			c.auth[h] = &hostAuth{authConfig: a}
		}
	}
	for _, raw := range sortedKeys(c.reg.Auths) {
		a := c.reg.Auths[raw]
		u, err := url.Parse(raw)
		if err != nil {
			shown := redactUserinfo(raw)
			return errorf(a.Pos, "auths key %q is not a URL (%v): containerd refuses to load the CRI plugin with it; write it as a URL such as https://%s", shown, unwrapURLError(err), strings.TrimPrefix(strings.TrimPrefix(shown, "https://"), "http://"))
		}
		key := raw
		if u.Scheme != "" {
			key = u.Host
		}
		if key == "" {
			c.warn(Warning{Code: WarnAuthsDeadKey, Pos: a.Pos,
				Message: fmt.Sprintf("auths key %q never matched any host (containerd reads a scheme-less host:port as a URL scheme); it is left as it is: rewrite it as configs.%s.auth to use it", redactUserinfo(raw), quoteKey(strings.TrimSuffix(redactUserinfo(raw), "/")))})
			continue
		}
		ha := &hostAuth{authConfig: a, fromAuths: raw}
		if prev := c.auth[key]; prev != nil && prev.fromAuths != "" {
			// containerd folds auths in map order, so which entry wins
			// was random; keep one, and remove both.
			ha.alsoAuths = append(prev.alsoAuths, prev.fromAuths)
			c.warn(Warning{Code: WarnAuthsAmbiguous, Pos: a.Pos,
				Message: fmt.Sprintf("auths keys %q and %q both name %s, and containerd picked either at random; the credentials of %q are kept as configs.%s.auth", redactUserinfo(prev.fromAuths), redactUserinfo(raw), key, redactUserinfo(raw), quoteKey(key))})
		}
		c.auth[key] = ha
	}
	if c.opts.Auth != AuthHeader {
		return nil
	}
	for _, h := range sortedKeys(c.auth) {
		ha := c.auth[h]
		v, err := basicAuth(ha.authConfig)
		if err != nil {
			return err
		}
		if v == "" {
			c.warn(Warning{Code: WarnIdentityToken, Pos: ha.Pos,
				Message: fmt.Sprintf("the identitytoken for %s (an OAuth refresh token) has no hosts.toml equivalent; these credentials stay in %s", h, path.Base(c.authFile(ha.Pos)))})
			continue
		}
		if validHost(h) != nil || h == "docker.io" {
			continue // never used by containerd; versionGates says so
		}
		ha.header = v
	}
	return nil
}

// basicAuth is the Authorization value for credentials, following
// containerd's ParseAuth precedence: username, then identitytoken, then
// auth. It returns "" for an identity token, which a header cannot carry.
func basicAuth(a *authConfig) (string, error) {
	switch {
	case a.Username != "":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password)), nil
	case a.IdentityToken != "":
		return "", nil
	case a.Auth != "":
		decoded, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil || !strings.Contains(string(decoded), ":") {
			return "", errorf(a.Pos, "auth is not base64 of user:password; containerd fails pulls with it (invalid decoded auth)")
		}
		user, pass, _ := strings.Cut(strings.Trim(string(decoded), "\x00"), ":")
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)), nil
	}
	return "", errorf(a.Pos, "auth table without username, auth or identitytoken")
}

// authFile is the config file credentials stay in: where they were, or
// for registries.yaml input, the config that receives them.
func (c *converter) authFile(pos Position) string {
	if c.configFile != "" {
		return c.configFile
	}
	return pos.File
}

// dockerHubCredentials moves credentials keyed "docker.io", which k3s's
// containerd uses for Docker Hub, to "registry-1.docker.io", where upstream
// containerd looks them up (docs/semantics.md §5.14).
func (c *converter) dockerHubCredentials(rf *RegistriesFile) map[string]*registryConfig {
	hub := rf.Configs["docker.io"]
	if c.opts.Flavor == FlavorK3s || hub == nil || hub.Auth == nil {
		return rf.Configs
	}
	if r1 := rf.Configs["registry-1.docker.io"]; r1 != nil && r1.Auth != nil {
		return rf.Configs
	}
	configs := map[string]*registryConfig{}
	for k, v := range rf.Configs {
		configs[k] = v
	}
	configs["docker.io"] = &registryConfig{TLS: hub.TLS, Pos: hub.Pos}
	configs["registry-1.docker.io"] = &registryConfig{Auth: hub.Auth, Pos: hub.Pos}
	c.warn(Warning{Code: WarnDockerHubConfigKey, Pos: hub.Auth.Pos,
		Message: "k3s's containerd reads Docker Hub credentials under configs.\"docker.io\"; upstream containerd looks them up under registry-1.docker.io, so they are written there"})
	return configs
}

func sameCredentials(a, b *authConfig) bool {
	return a.Username == b.Username && a.Password == b.Password && a.Auth == b.Auth && a.IdentityToken == b.IdentityToken
}
