package convert

import (
	"fmt"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// Position is a place in an input file.
type Position struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

func at(file string, p tomldoc.Pos) Position { return Position{File: file, Line: p.Line, Col: p.Col} }

// inputError is a problem with the input that stops the conversion.
type inputError struct {
	Pos Position
	Msg string
}

func (e *inputError) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// InputPosition is where in the input the problem is (the CLI's JSON error
// object reports it).
func (e *inputError) InputPosition() Position { return e.Pos }

// IsSyntax reports whether the input is not valid TOML.
func (e *inputError) IsSyntax() bool { return strings.HasPrefix(e.Msg, "invalid TOML") }

func errorf(pos Position, format string, args ...any) *inputError {
	return &inputError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Warning is something the user must know about the conversion: a setting
// with no faithful equivalent, a legacy setting that never had an effect, a
// behaviour that differs between containerd versions.
type Warning struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Pos     Position `json:"position"`
}

func (w Warning) String() string {
	return fmt.Sprintf("%s: warning: %s [%s]", w.Pos, w.Message, w.Code)
}

// Warning codes. They are stable: automation may filter on them.
const (
	WarnDuplicateEndpoint   = "duplicate-endpoint"
	WarnEndpointRootPath    = "endpoint-root-path"
	WarnEndpointUserinfo    = "endpoint-userinfo-ignored"
	WarnTLSOnHTTP           = "tls-on-http-host"
	WarnRelativeTLSPath     = "relative-tls-path"
	WarnDockerHubConfigKey  = "docker-hub-config-key"
	WarnConfigKeyNotHost    = "config-key-not-host"
	WarnAuthsDeadKey        = "auths-dead-key"
	WarnAuthKept            = "auth-kept-in-config"
	WarnAuthHeaderToken     = "auth-header-token-registry"
	WarnIdentityToken       = "identitytoken-no-equivalent"
	WarnShadowedByImport    = "shadowed-by-import"
	WarnIgnoredTable        = "ignored-registry-table"
	WarnV1ConfigOn2x        = "v1-config-on-2x"
	WarnTLSRestoredOn2x     = "tls-restored-on-2x"
	WarnHalfMigrated        = "half-migrated"
	WarnConfigPathList      = "config-path-list"
	WarnEmptyWildcard       = "empty-wildcard-mirror"
	WarnCAFile              = "ca-file-invalid"
	WarnClientCertFile      = "client-cert-file-invalid"
	WarnShadowingDir        = "shadowed-by-existing-dir"
	WarnEmptyTLSTable       = "empty-tls-table"
	WarnYAMLAuthsIgnored    = "yaml-auths-ignored"
	WarnInvalidEndpoint     = "invalid-endpoint"
	WarnRewriteToPath       = "rewrite-to-path"
	WarnK0sDropInVersion    = "k0s-dropin-version"
	WarnWildcardTLSDropped  = "wildcard-tls-dropped"
	WarnAuthsAmbiguous      = "auths-ambiguous"
	WarnRelativeConfigPath  = "relative-config-path"
	WarnDefaultLoopback     = "default-loopback-scheme"
	WarnRewriteUnused       = "rewrite-unused"
	WarnInertKey            = "inert-key"
	WarnMirrorKeyNotHost    = "mirror-key-not-host"
	WarnDockerHubTLS        = "docker-hub-tls-weakened"
	WarnHigherVersionImport = "higher-version-import"
	// --to-config-version 3.
	WarnV1PluginAmbiguous = "v1-plugin-name-ambiguous"
	WarnV3SettingDropped  = "v3-setting-dropped"
	WarnCRIServerKept     = "cri-server-settings-kept"
	WarnMigrationQuirk    = "containerd-migration-quirk"
)

// quoteKey renders a key path for messages, e.g. mirrors."docker.io".
func quoteKey(parts ...string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = tomldoc.Key(p)
	}
	return strings.Join(out, ".")
}
