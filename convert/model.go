package convert

import "github.com/certsd-migrate/certsd-migrate/internal/tomldoc"

// The legacy CRI registry table, as containerd's CRI plugin reads it
// (docs/semantics.md §3.1). One registryTable holds what one file sets.
//
//	[plugins.<cri plugin>.registry]
//	  config_path = "/etc/containerd/certs.d"        # string, a path list
//	  [...registry.mirrors."<namespace>"]            # namespace: image registry host, or "*"
//	    endpoint = ["https://mirror.example.com"]    # tried in order, then the upstream
//	  [...registry.configs."<host[:port]>".tls]      # keyed by the *endpoint* host
//	    ca_file, cert_file, key_file = "<path>"
//	    insecure_skip_verify = true
//	  [...registry.configs."<host[:port]>".auth]
//	    username, password, auth, identitytoken = "<string>"
//	  [...registry.auths."<url>"]                    # older form of configs.*.auth
//	  [...registry.headers]                          # name = ["value", ...]
type registryTable struct {
	ConfigPath *stringSetting
	Mirrors    map[string]*mirrorEntry
	Configs    map[string]*registryConfig
	Auths      map[string]*authConfig
	// Headers is kept in config.toml as it is; only its presence matters.
	Headers bool
	// Pos is where the registry table is defined.
	Pos Position
}

// stringSetting is a string setting and where it was set.
type stringSetting struct {
	Value string
	Pos   Position
}

// mirrorEntry is mirrors."<namespace>".
type mirrorEntry struct {
	Endpoints []stringSetting
	Pos       Position
}

// registryConfig is configs."<host>" (containerd's CRI RegistryConfig; not a
// hosts.toml entry, which containerd calls hostConfig).
type registryConfig struct {
	TLS  *tlsConfig
	Auth *authConfig
	Pos  Position
}

// tlsConfig is configs."<host>".tls. File paths are as written.
type tlsConfig struct {
	CAFile, CertFile, KeyFile *stringSetting
	InsecureSkipVerify        bool
	Pos                       Position
	// skipVerifyPos is where insecure_skip_verify is set (registries.yaml).
	skipVerifyPos Position
}

// authConfig is configs."<host>".auth or auths."<url>".
type authConfig struct {
	Username, Password, Auth, IdentityToken string
	Pos                                     Position
}

// Plugin keys of the CRI registry table per config file version
// (docs/semantics.md §2.1).
var criPluginByVersion = map[int]string{
	1: criPluginV1Name,
	2: criPlugin,
	3: criImagesPlugin,
}

// The CRI plugin IDs: the registry table lives under criPlugin in version
// 2 configs (criPluginV1Name in version 1) and under criImagesPlugin in
// version 3, where containerd 2.x split the CRI plugin in three.
const (
	criPluginV1Name  = "cri"
	criPlugin        = "io.containerd.grpc.v1.cri"
	criImagesPlugin  = "io.containerd.cri.v1.images"
	criRuntimePlugin = "io.containerd.cri.v1.runtime"
)

func registryPath(version int) []string {
	return []string{"plugins", criPluginByVersion[version], "registry"}
}

// ConfigFile is one parsed containerd config file.
type ConfigFile struct {
	Path string
	Doc  *tomldoc.Doc
	// Version is the config version containerd reads the file at.
	Version int
	// ExplicitVersion is the file's version line (0 when it has none): an
	// import without one is read at another file's version.
	ExplicitVersion int
	// Imports are the file's imports, as written.
	Imports []string
	// Registry is the registry table containerd reads in this file, nil
	// if the file has none.
	Registry *registryTable
	// regPlugin is the plugin key, as written, whose registry table
	// containerd reads in this file.
	regPlugin string
	// inert are warnings about keys of the registry table that containerd
	// never read.
	inert []Warning
	// imported reports a file loaded through another's imports.
	imported bool
	// k0sMerged reports a drop-in that k0s before 1.36 merges into its
	// own CRI config (it has a plugins."io.containerd.grpc.v1.cri"
	// table): containerd never imports it itself, and k0s reads it as
	// version 2 whatever its version line.
	k0sMerged bool
	// DefinesCRIPlugin reports that the file has a table for the CRI plugin
	// that holds the registry, which in containerd 1.x replaces the same
	// plugin's table from files merged before it.
	DefinesCRIPlugin bool
	// created reports a config that does not exist yet.
	created bool
	// K0sManaged reports k0s's own generated config (first line
	// "# k0s_managed=true"), which k0s rewrites: it is never edited.
	K0sManaged bool
}

// k0sManagedMarker is the first line of the config k0s generates.
const k0sManagedMarker = "# k0s_managed=true"

// file returns the field a TLS file key (ca_file, cert_file, key_file)
// names; the key names are the same in config.toml and registries.yaml.
func (t *tlsConfig) file(key string) **stringSetting {
	switch key {
	case "ca_file":
		return &t.CAFile
	case "cert_file":
		return &t.CertFile
	}
	return &t.KeyFile
}

// field returns the field a key names, or nil; tokenKey is the format's
// name for the identity token (identitytoken in TOML, identity_token in
// registries.yaml).
func (a *authConfig) field(key, tokenKey string) *string {
	switch key {
	case "username":
		return &a.Username
	case "password":
		return &a.Password
	case "auth":
		return &a.Auth
	case tokenKey:
		return &a.IdentityToken
	}
	return nil
}

// RegistriesFile is a k3s/RKE2 registries.yaml (rancher/wharfie's
// pkg/registries types), parsed strictly: k3s silently drops unknown keys,
// which hides typos such as `endpoints:`.
//
//	mirrors:
//	  "<namespace>":                 # registry host, or "*"
//	    endpoint: ["https://m:5000"] # list of URLs, scheme optional
//	    rewrite:                     # regex → replacement, on the repository
//	      "^library/(.*)": "mirror/$1"
//	configs:
//	  "<host[:port]>":               # keyed by endpoint host
//	    auth: {username, password, auth, identity_token}
//	    tls: {ca_file, cert_file, key_file, insecure_skip_verify}
//	auths: ...                       # deprecated; k3s ignores it
type RegistriesFile struct {
	Path    string
	Mirrors map[string]*yamlMirror
	Configs map[string]*registryConfig
	// Auths is the deprecated auths map, which k3s parses and ignores.
	Auths *Position
	// Warnings are about keys k3s ignores.
	Warnings []Warning
}

// yamlMirror is mirrors."<namespace>" of a registries.yaml.
type yamlMirror struct {
	Endpoints []stringSetting
	Rewrites  []rewriteRule
	Pos       Position
}

// rewriteRule is one rewrite rule, applied by k3s's containerd to the
// repository part of an image name.
type rewriteRule struct {
	Pattern, Replacement stringSetting
}

// HostsFile is one <config_path>/<namespace>/hosts.toml, in the format
// containerd's core/remotes/docker/config/hosts.go reads:
//
//	server = "https://registry-1.docker.io"   # tried last; omitted in _default
//	ca = "/etc/certs/ca.pem"                  # root keys apply to server only
//	[header]
//	  Authorization = "Basic ..."
//
//	[host."https://mirror.example.com"]       # tried first, in file order
//	  capabilities = ["pull", "resolve"]
//	  ca = "/etc/certs/ca.pem"                # string or list of PEM files
//	  client = [["/etc/c.pem", "/etc/k.pem"]] # [cert, key] pairs
//	  skip_verify = true
//	  override_path = true                    # the path is the API root (no /v2)
//	  [host."https://mirror.example.com".header]
//	    Authorization = "Basic ..."
type HostsFile struct {
	// Namespace is the registry host the file serves, or "*" for _default.
	Namespace string
	// Server is the root entry: its URL is the server line, and its other
	// keys apply to it. nil, or an empty URL, leaves the root to each
	// image's own registry (as _default needs).
	Server *hostEntry
	Hosts  []hostEntry
	// Source is the config file the settings came from.
	Source string
	// Path is where the file goes on the node:
	// <certs dir>/<Dir()>/hosts.toml, set once certsDir has decided.
	Path string
}

// hostEntry is a [host."…"] table, or the root entry.
type hostEntry struct {
	URL          string
	Capabilities []string
	CA           []string
	Client       [][2]string
	SkipVerify   bool
	OverridePath bool
	Header       map[string][]string
	// Rewrite maps repository regexes to replacements; only k3s's
	// containerd reads it.
	Rewrite map[string]string
}

// Dir is the directory name containerd looks up for the namespace.
func (h *HostsFile) Dir() string { return namespaceDir(h.Namespace) }

// namespaceDir is the directory name containerd looks up for a namespace:
// the host itself, or _default for "*".
func namespaceDir(ns string) string {
	if ns == "*" {
		return "_default"
	}
	return ns
}

// HasSecret reports that the file holds credentials.
func (h *HostsFile) HasSecret() bool {
	if h.Server != nil && h.Server.Header["Authorization"] != nil {
		return true
	}
	for _, e := range h.Hosts {
		if e.Header["Authorization"] != nil {
			return true
		}
	}
	return false
}
