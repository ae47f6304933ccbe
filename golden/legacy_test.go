package golden

// A reference implementation of containerd's LEGACY CRI registry resolution
// (registry.mirrors / configs / auths with config_path empty), written
// independently of the convert package so TestLoaderCrossCheck can compare
// the tool's hosts.toml output with what containerd did before the
// migration. It mirrors, function for function:
//
//   - config decoding: the registry table per config version
//     (docs/semantics.md §2.1), `imports` resolved like
//     LoadConfigWithPlugins/resolveImports;
//   - auths → configs folding: ValidatePluginConfig / ValidateImageConfig (§3.9);
//   - registryEndpoints, addDefaultScheme, defaultScheme (§3.2–3.4):
//     internal/cri/server/images/image_pull.go (v2.4.2), identical to
//     pkg/cri/server/image_pull.go (v1.7.27) from 1.6.0 on;
//   - registryHosts' per-endpoint settings (§3.5–3.8), with 1.x's TLS from
//     getTLSConfig (pkg/cri/server/image_pull.go v1.7.27) and ParseAuth.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/pelletier/go-toml/v2"
)

// legacyRegistry mirrors the CRI config's Registry struct (1.x / 2.x).
type legacyRegistry struct {
	ConfigPath string                          `toml:"config_path"`
	Mirrors    map[string]legacyMirror         `toml:"mirrors"`
	Configs    map[string]legacyRegistryConfig `toml:"configs"`
	Auths      map[string]legacyAuth           `toml:"auths"`
}

type legacyMirror struct {
	Endpoints []string `toml:"endpoint"`
}

type legacyRegistryConfig struct {
	Auth *legacyAuth `toml:"auth"`
	TLS  *legacyTLS  `toml:"tls"`
}

type legacyAuth struct {
	Username      string `toml:"username"`
	Password      string `toml:"password"`
	Auth          string `toml:"auth"`
	IdentityToken string `toml:"identitytoken"`
}

type legacyTLS struct {
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
	CAFile             string `toml:"ca_file"`
	CertFile           string `toml:"cert_file"`
	KeyFile            string `toml:"key_file"`
}

// criPluginKeys are the plugin tables that can hold a CRI registry table.
var criPluginKeys = []string{"cri", "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images"}

// registryPluginKey is the plugin holding the registry for a config version
// (docs/semantics.md §2.1): 1 (or missing) → cri,
// 2 → io.containerd.grpc.v1.cri, 3 → io.containerd.cri.v1.images.
func registryPluginKey(version int64) string {
	switch version {
	case 0, 1:
		return "cri"
	case 2:
		return "io.containerd.grpc.v1.cri"
	default:
		return "io.containerd.cri.v1.images"
	}
}

// legacyConfigFile is one decoded config file of an import chain.
type legacyConfigFile struct {
	path       string // node path
	version    int64
	imports    []string
	plugins    map[string]any
	registry   *legacyRegistry // nil when the file has no registry table at its version's location
	regTree    map[string]any  // the same table, undecoded
	criPlugins []string        // CRI plugin tables present in the file
	k0sManaged bool            // first line "# k0s_managed=true"
	// k0sPatch: a k0s drop-in that k0s before 1.36 merges into its own
	// CRI config instead of letting containerd import it.
	k0sPatch bool
}

// loadLegacyChain decodes the main config at node path mainPath under root
// and every file it imports, in containerd's order (breadth first, each
// file's imports in order, globs sorted, files seen before skipped). A
// relative import is relative to the importing file's directory, except a
// relative glob on the containerd versions before 1.6.29 / 1.7.16, which
// matched it against the daemon's working directory, "/" (containerd #9745;
// resolveImports in services/server/config/config.go at v1.6.20/v1.7.15).
func loadLegacyChain(root, mainPath, target string) ([]*legacyConfigFile, error) {
	globFromCwd := globImportsFromCwd(target)
	var files []*legacyConfigFile
	loaded := map[string]bool{}
	queue := []string{filepath.Clean(mainPath)}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if loaded[p] {
			continue
		}
		loaded[p] = true
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return nil, err
		}
		f, err := decodeLegacyConfig(p, data)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		for _, imp := range f.imports {
			imp = filepath.Clean(imp)
			if files[0].k0sManaged && strings.HasPrefix(imp, "/run/k0s/") {
				// k0s before 1.36: its generated CRI config, made of the
				// drop-ins added below.
				files[0].k0sPatch = true
				continue
			}
			if !filepath.IsAbs(imp) {
				if globFromCwd && strings.Contains(imp, "*") {
					imp = filepath.Join("/", imp)
				} else {
					imp = filepath.Join(filepath.Dir(p), imp)
				}
			}
			if !strings.Contains(imp, "*") {
				queue = append(queue, imp)
				continue
			}
			matches, err := filepath.Glob(filepath.Join(root, imp))
			if err != nil {
				return nil, fmt.Errorf("%s: import %q: %w", p, imp, err)
			}
			sort.Strings(matches)
			for _, m := range matches {
				rel, _ := filepath.Rel(root, m)
				queue = append(queue, "/"+filepath.ToSlash(rel))
			}
		}
	}
	if files[0].k0sPatch {
		files[0].k0sPatch = false
		matches, _ := filepath.Glob(filepath.Join(root, "/etc/k0s/containerd.d/*.toml"))
		sort.Strings(matches)
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			p := "/" + filepath.ToSlash(rel)
			if loaded[p] {
				continue
			}
			data, err := os.ReadFile(m)
			if err != nil {
				return nil, err
			}
			f, err := decodeLegacyConfig(p, data)
			if err != nil {
				return nil, err
			}
			_, f.k0sPatch = f.plugins["io.containerd.grpc.v1.cri"]
			files = append(files, f)
		}
	}
	return files, nil
}

// globImportsFromCwd reports whether a --containerd-version target (with a
// patch number) predates the relative-glob fix: 1.5.x, 1.6.0–1.6.28,
// 1.7.0–1.7.15.
func globImportsFromCwd(target string) bool {
	var major, minor, patch int
	if n, _ := fmt.Sscanf(strings.TrimPrefix(target, "v"), "%d.%d.%d", &major, &minor, &patch); n != 3 || major != 1 {
		return false
	}
	switch minor {
	case 6:
		return patch < 29
	case 7:
		return patch < 16
	}
	return minor < 6
}

func decodeLegacyConfig(path string, data []byte) (*legacyConfigFile, error) {
	var raw struct {
		Version int64          `toml:"version"`
		Imports []string       `toml:"imports"`
		Plugins map[string]any `toml:"plugins"`
	}
	if err := toml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &legacyConfigFile{path: path, version: raw.Version, imports: raw.Imports, plugins: raw.Plugins}
	// k0s's isK0sManagedConfig: the marker on a line of its own (k0s
	// before 1.30 wrote an empty line first).
	for _, line := range strings.Split(string(data), "\n") {
		f.k0sManaged = f.k0sManaged || strings.TrimSuffix(line, "\r") == "# k0s_managed=true"
	}
	for _, k := range criPluginKeys {
		if _, ok := raw.Plugins[k]; ok {
			f.criPlugins = append(f.criPlugins, k)
		}
	}
	plugin, _ := raw.Plugins[registryPluginKey(raw.Version)].(map[string]any)
	regTable, ok := plugin["registry"].(map[string]any)
	if !ok {
		return f, nil
	}
	// Re-encode the registry sub-tree and decode it into the typed struct.
	b, err := toml.Marshal(regTable)
	if err != nil {
		return nil, fmt.Errorf("%s: re-encoding registry: %w", path, err)
	}
	reg := &legacyRegistry{}
	if err := toml.Unmarshal(b, reg); err != nil {
		return nil, fmt.Errorf("%s: registry: %w", path, err)
	}
	f.registry, f.regTree = reg, regTable
	return f, nil
}

// deepMerge merges src into dst: tables key by key, anything else replaced.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				deepMerge(dv, sv)
				continue
			}
			cp := map[string]any{}
			deepMerge(cp, sv)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// foldAuths applies containerd's auths → configs conversion
// (docs/semantics.md §3.9): the key is parsed as a URL; with a scheme it
// becomes u.Host, else it stays; the auths entry overwrites
// configs[key].auth.
//
// containerd ranges over the auths map, so when two keys name one host the
// winner is random; the reference takes them in sorted order, the last
// winning, which is the choice the tool documents (auths-ambiguous).
func (r *legacyRegistry) foldAuths() error {
	for _, k := range sortedKeys(r.Auths) {
		a := r.Auths[k]
		u, err := url.Parse(k)
		if err != nil {
			return fmt.Errorf("failed to parse registry url %q from `registry.auths`: %w", k, err)
		}
		if u.Scheme != "" {
			k = u.Host
		}
		if r.Configs == nil {
			r.Configs = map[string]legacyRegistryConfig{}
		}
		cfg := r.Configs[k]
		cfg.Auth = &a
		r.Configs[k] = cfg
	}
	r.Auths = nil
	return nil
}

// defaultHost is docker.DefaultHost.
func defaultHost(ns string) string {
	if ns == "docker.io" {
		return "registry-1.docker.io"
	}
	return ns
}

// defaultScheme and addDefaultScheme are the CRI helpers of the same name.
func defaultScheme(host string) string {
	if docker.IsLocalhost(host) {
		return "http"
	}
	return "https"
}

func addDefaultScheme(endpoint string) (string, error) {
	if strings.Contains(endpoint, "://") {
		return endpoint, nil
	}
	u, err := url.Parse("dummy://" + endpoint)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s://%s", defaultScheme(u.Host), endpoint), nil
}

// registryEndpoints is the CRI's registryEndpoints (docs/semantics.md
// §3.2–3.4).
func (r *legacyRegistry) registryEndpoints(host string) ([]string, error) {
	var endpoints []string
	if m, ok := r.Mirrors[host]; ok {
		endpoints = append(endpoints, m.Endpoints...)
	} else {
		endpoints = append(endpoints, r.Mirrors["*"].Endpoints...)
	}
	dh := defaultHost(host)
	for i := range endpoints {
		en, err := addDefaultScheme(endpoints[i])
		if err != nil {
			return nil, fmt.Errorf("parse endpoint url: %w", err)
		}
		endpoints[i] = en
	}
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil {
			return nil, fmt.Errorf("parse endpoint url: %w", err)
		}
		if u.Host == host {
			return endpoints, nil
		}
	}
	return append(endpoints, defaultScheme(dh)+"://"+dh), nil
}

// hostEntry is one resolved registry host, normalised so that the legacy
// reference and containerd's hosts.toml loader can be compared.
type hostEntry struct {
	Scheme, Host, Path string
	Caps               uint8  // pull|resolve bits only
	Transport          string // "" for a plain *http.Transport, else its type
	SkipVerify         bool
	RootCAs            *x509.CertPool // nil: system roots (no ca configured)
	ClientLeaves       [][]byte       // DER of each client certificate's leaf
	Authorization      []string       // values of the Authorization header
	NonCanonicalAuth   []string       // header keys equal to Authorization ignoring case but not canonical
	Credentials        *[2]string     // legacy only: ParseAuth(configs[host].auth)
}

const (
	capPull    = 1
	capResolve = 2
)

// legacyHosts is the CRI's registryHosts with config_path empty
// (docs/semantics.md §3.5–3.8): one entry per endpoint with its TLS (1.x
// getTLSConfig, https only — an http endpoint never uses it) and credentials,
// both from configs[u.Host]. TLS file paths resolve against the daemon's
// working directory, "/", which is root on this machine.
func (r *legacyRegistry) legacyHosts(root, host string) ([]hostEntry, error) {
	endpoints, err := r.registryEndpoints(host)
	if err != nil {
		return nil, fmt.Errorf("get registry endpoints: %w", err)
	}
	var out []hostEntry
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil {
			return nil, fmt.Errorf("parse registry endpoint %q from mirrors: %w", e, err)
		}
		cfg := r.Configs[u.Host]
		h := hostEntry{Scheme: u.Scheme, Host: u.Host, Path: u.Path, Caps: capPull | capResolve}
		if cfg.TLS != nil {
			tc, err := getTLSConfig(root, *cfg.TLS)
			if err != nil {
				return nil, fmt.Errorf("get TLSConfig for registry %q: %w", e, err)
			}
			if u.Scheme == "https" {
				h.SkipVerify = tc.InsecureSkipVerify
				h.RootCAs = tc.RootCAs
				for _, c := range tc.Certificates {
					h.ClientLeaves = append(h.ClientLeaves, c.Certificate[0])
				}
			}
		}
		// (The localhost-namespace InsecureSkipVerify on http endpoints
		// has no effect on plain http and is not modelled.)
		if cfg.Auth != nil {
			user, secret, err := parseAuth(cfg.Auth)
			if err != nil {
				return nil, fmt.Errorf("credentials for %s: %w", u.Host, err)
			}
			h.Credentials = &[2]string{user, secret}
		}
		if h.Path == "" {
			h.Path = "/v2"
		}
		out = append(out, h)
	}
	return out, nil
}

// getTLSConfig is 1.x's criService.getTLSConfig.
func getTLSConfig(root string, c legacyTLS) (*tls.Config, error) {
	tlsConfig := &tls.Config{}
	abs := func(p string) string {
		if !filepath.IsAbs(p) {
			p = filepath.Join("/", p)
		}
		return filepath.Join(root, p)
	}
	if c.CertFile != "" && c.KeyFile == "" {
		return nil, fmt.Errorf("cert file %q was specified, but no corresponding key file was specified", c.CertFile)
	}
	if c.CertFile == "" && c.KeyFile != "" {
		return nil, fmt.Errorf("key file %q was specified, but no corresponding cert file was specified", c.KeyFile)
	}
	if c.CertFile != "" && c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(abs(c.CertFile), abs(c.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("failed to load cert file: %w", err)
		}
		if len(cert.Certificate) != 0 {
			tlsConfig.Certificates = []tls.Certificate{cert}
		}
	}
	if c.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("failed to get system cert pool: %w", err)
		}
		ca, err := os.ReadFile(abs(c.CAFile))
		if err != nil {
			return nil, fmt.Errorf("failed to load CA file: %w", err)
		}
		pool.AppendCertsFromPEM(ca) // result ignored, as in containerd
		tlsConfig.RootCAs = pool
	}
	tlsConfig.InsecureSkipVerify = c.InsecureSkipVerify
	return tlsConfig, nil
}

// parseAuth is the CRI's ParseAuth for config credentials (no
// ServerAddress): username > identitytoken > auth.
func parseAuth(a *legacyAuth) (string, string, error) {
	if a.Username != "" {
		return a.Username, a.Password, nil
	}
	if a.IdentityToken != "" {
		return "", a.IdentityToken, nil
	}
	if a.Auth != "" {
		decoded := make([]byte, base64.StdEncoding.DecodedLen(len(a.Auth)))
		if _, err := base64.StdEncoding.Decode(decoded, []byte(a.Auth)); err != nil {
			return "", "", err
		}
		user, passwd, ok := strings.Cut(string(decoded), ":")
		if !ok {
			return "", "", fmt.Errorf("invalid decoded auth: %q", decoded)
		}
		return user, strings.Trim(passwd, "\x00"), nil
	}
	return "", "", nil
}

// basicHeader is the static header a Basic credential becomes, "" when the
// credentials cannot be sent as Basic (identity token, anonymous).
func basicHeader(cred *[2]string) string {
	if cred == nil || cred[0] == "" {
		return ""
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred[0]+":"+cred[1]))
}

// isHostKey reports whether a configs key is a plain host[:port], i.e. can
// be a registry namespace.
func isHostKey(k string) bool {
	if k == "" || strings.ContainsAny(k, "/?#@ ") || strings.Contains(k, "://") {
		return false
	}
	u, err := url.Parse("dummy://" + k)
	return err == nil && u.Host == k && u.Path == ""
}
