package rig

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RegistryBinary is the distribution registry shipped by Debian's docker-registry package.
const RegistryBinary = "docker-registry"

// RegistryOptions describes one registry instance.
type RegistryOptions struct {
	// Name identifies the instance; it also names its directory.
	Name string
	// ServerCert, if set, makes the registry serve HTTPS with this pair.
	ServerCert *KeyPair
	// ClientCA, if set (with ServerCert), requires client certificates signed by it.
	ClientCA *CA
	// Auth, if set, requires HTTP basic auth with these credentials (htpasswd).
	Auth *Credentials
	// Trust is the pool the test's own client verifies the server with.
	Trust *CA
	// TrustAny makes the test's own client skip verification (untrusted certificate).
	TrustAny bool
	// ClientCert is presented by the test's own client (for mutual TLS).
	ClientCert *KeyPair
}

// Registry is a running docker-registry instance on 127.0.0.1.
type Registry struct {
	opts   RegistryOptions
	Addr   string // 127.0.0.1:port
	proc   *Proc
	client *http.Client
}

// StartRegistry writes a config under dir/<name>/ and starts the registry,
// waiting until it answers /v2/. A port taken between choosing and binding
// it is retried with another port.
func StartRegistry(ctx context.Context, dir string, opts RegistryOptions) (*Registry, error) {
	rdir := filepath.Join(dir, opts.Name)
	if err := os.MkdirAll(filepath.Join(rdir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("registry %s: %w", opts.Name, err)
	}
	client, err := registryClient(opts)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", opts.Name, err)
	}
	for attempt := 1; ; attempt++ {
		r, err := startRegistryOnce(ctx, rdir, opts, client)
		if err == nil || attempt == 3 || !errors.Is(err, errExited) {
			return r, err
		}
	}
}

var errExited = errors.New("process exited")

func startRegistryOnce(ctx context.Context, rdir string, opts RegistryOptions, client *http.Client) (*Registry, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", opts.Name, err)
	}
	cfg, err := registryConfig(rdir, addr, opts)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", opts.Name, err)
	}
	cfgPath := filepath.Join(rdir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("registry %s: writing config: %w", opts.Name, err)
	}
	proc, err := StartProc("registry "+opts.Name, filepath.Join(rdir, "registry.log"), RegistryBinary, "serve", cfgPath)
	if err != nil {
		return nil, err
	}
	r := &Registry{opts: opts, Addr: addr, proc: proc, client: client}
	if err := r.waitReady(ctx); err != nil {
		r.Close()
		log, _ := proc.ReadLog(0)
		return nil, fmt.Errorf("registry %s did not come up on %s: %w\n%s", opts.Name, addr, err, log)
	}
	return r, nil
}

func registryConfig(rdir, addr string, opts RegistryOptions) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.1\n")
	fmt.Fprintf(&b, "log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n")
	fmt.Fprintf(&b, "storage:\n  filesystem:\n    rootdirectory: %q\n", filepath.Join(rdir, "data"))
	fmt.Fprintf(&b, "  maintenance:\n    uploadpurging:\n      enabled: false\n")
	fmt.Fprintf(&b, "health:\n  storagedriver:\n    enabled: false\n")
	fmt.Fprintf(&b, "http:\n  addr: %q\n  secret: e2e-%s\n", addr, opts.Name)
	if opts.ServerCert != nil {
		fmt.Fprintf(&b, "  tls:\n    certificate: %q\n    key: %q\n", opts.ServerCert.CertFile, opts.ServerCert.KeyFile)
		if opts.ClientCA != nil {
			fmt.Fprintf(&b, "    clientcas:\n      - %q\n", opts.ClientCA.CertFile)
		}
	}
	if opts.Auth != nil {
		htpasswd := filepath.Join(rdir, "htpasswd")
		if err := writeHtpasswd(htpasswd, *opts.Auth); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: e2e-%s\n    path: %q\n", opts.Name, htpasswd)
	}
	return b.String(), nil
}

// registryClient is the test's own client for pushing and health checks.
func registryClient(opts RegistryOptions) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if opts.ServerCert != nil {
		tc := &tls.Config{InsecureSkipVerify: opts.TrustAny} //nolint:gosec // throwaway test registry
		if opts.Trust != nil {
			tc.RootCAs = opts.Trust.Pool()
		}
		if opts.ClientCert != nil {
			c, err := opts.ClientCert.Load()
			if err != nil {
				return nil, err
			}
			tc.Certificates = []tls.Certificate{c}
		}
		tr.TLSClientConfig = tc
	}
	var rt http.RoundTripper = tr
	if opts.Auth != nil {
		rt = basicAuth{creds: *opts.Auth, next: tr}
	}
	return &http.Client{Transport: rt, Timeout: 30 * time.Second}, nil
}

type basicAuth struct {
	creds Credentials
	next  http.RoundTripper
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.creds.Username, b.creds.Password)
	return b.next.RoundTrip(r)
}

func (r *Registry) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var lastErr error
	for {
		if r.proc.Exited() {
			return errExited
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL()+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := r.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Name identifies the instance.
func (r *Registry) Name() string { return r.opts.Name }

// Scheme is http or https.
func (r *Registry) Scheme() string {
	if r.opts.ServerCert != nil {
		return "https"
	}
	return "http"
}

// URL is scheme://127.0.0.1:port.
func (r *Registry) URL() string { return r.Scheme() + "://" + r.Addr }

// Client is an HTTP client that can talk to (and push to) this registry.
func (r *Registry) Client() *http.Client { return r.client }

// Auth is the registry's credentials, nil if it needs none.
func (r *Registry) Auth() *Credentials { return r.opts.Auth }

// Mark is a position in the access log.
func (r *Registry) Mark() int64 { return r.proc.LogSize() }

// RequestsSince parses the access log after mark.
func (r *Registry) RequestsSince(mark int64) ([]Request, error) {
	text, err := r.proc.ReadLog(mark)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", r.opts.Name, err)
	}
	return parseAccessLog(text), nil
}

// LogSince is the raw log after mark.
func (r *Registry) LogSince(mark int64) string {
	text, err := r.proc.ReadLog(mark)
	if err != nil {
		return err.Error()
	}
	return text
}

// Close stops the registry.
func (r *Registry) Close() error { return r.proc.Stop(5 * time.Second) }
