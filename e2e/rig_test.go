package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/certsd-migrate/certsd-migrate/e2e/rig"
)

// testRig is the infrastructure shared by every case: started once in
// TestMain, read-only afterwards.
type testRig struct {
	base string // short temporary directory (unix socket paths live below it)

	tool    string // the built certsd-migrate, "" when the build failed
	toolErr error

	ca        *rig.CA     // trusted through ca_file
	client    rig.KeyPair // mutual-TLS client certificate
	creds     rig.Credentials
	tlsAuth   *rig.Registry   // HTTPS (custom CA) + htpasswd basic auth
	plain     *rig.Registry   // plain HTTP
	mtls      *rig.Registry   // HTTPS requiring a client certificate
	untrusted *rig.Registry   // HTTPS with a certificate nobody trusts (skip_verify)
	backend   *rig.Registry   // plain HTTP, reached only through proxy
	second    *rig.Registry   // plain HTTP, a later mirror that must not be used
	proxy     *rig.HTTPServer // /prefix/<name>/... -> backend /v2/<name>/...
	down      *rig.HTTPServer // answers 503 to everything
	gate      *rig.HTTPServer // proxies to backend only with gateHeader: gateValue

	images  map[string]*Image // pushed image, by registry (witness) name
	closers []func() error
}

// repos are the repositories every registry holds, all tagged "latest":
// library/test for docker.io/library/test, test and other for <host>/...
var repos = []string{"library/test", "test", "other"}

// imageKey names the image pushed to repo on the registry called registry.
func imageKey(registry, repo string) string { return registry + "/" + repo }

// prefixPath is the path prefix the proxy serves the backend registry under.
const prefixPath = "/prefix"

// The header (and value) the gate requires.
const (
	gateHeader = "X-E2e-Gate"
	gateValue  = "open-sesame"
)

// prerequisites says why the suite cannot run here, "" if it can.
func prerequisites() string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (containerd needs it)")
	}
	for _, bin := range []string{rig.ContainerdBinary, "runc", rig.RegistryBinary} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "e2e prerequisites missing: " + strings.Join(missing, ", ") + " (run `bash e2e/install-deps.sh` as root)"
}

// startRig builds the tool and starts every shared server. On error the
// returned rig still needs Close.
func startRig(ctx context.Context) (*testRig, error) {
	base, err := os.MkdirTemp("", "cme2e-")
	if err != nil {
		return nil, fmt.Errorf("creating the work directory: %w", err)
	}
	r := &testRig{base: base, images: map[string]*Image{}, creds: rig.Credentials{Username: "e2e", Password: "s3cret-pw"}}
	if os.Getenv("E2E_KEEP") != "" {
		fmt.Fprintf(os.Stderr, "e2e: E2E_KEEP set: keeping %s\n", base)
	} else {
		r.closers = append(r.closers, func() error { return os.RemoveAll(base) })
	}
	r.tool, r.toolErr = buildTool(ctx, filepath.Join(base, "certsd-migrate"))

	if err := r.startServers(ctx); err != nil {
		return r, err
	}
	if err := r.pushImages(ctx); err != nil {
		return r, err
	}
	return r, nil
}

func (r *testRig) startServers(ctx context.Context) error {
	pki := filepath.Join(r.base, "pki")
	if err := os.MkdirAll(pki, 0o755); err != nil {
		return fmt.Errorf("creating pki dir: %w", err)
	}
	var err error
	if r.ca, err = rig.NewCA(pki, "e2e-ca"); err != nil {
		return err
	}
	other, err := rig.NewCA(pki, "untrusted-ca")
	if err != nil {
		return err
	}
	tlsCert, err := r.ca.ServerCert(pki, "tls-auth")
	if err != nil {
		return err
	}
	mtlsCert, err := r.ca.ServerCert(pki, "mtls")
	if err != nil {
		return err
	}
	if r.client, err = r.ca.ClientCert(pki, "client"); err != nil {
		return err
	}
	untrustedCert, err := other.ServerCert(pki, "untrusted")
	if err != nil {
		return err
	}

	regs := filepath.Join(r.base, "registries")
	for _, s := range []struct {
		dst  **rig.Registry
		opts rig.RegistryOptions
	}{
		{&r.tlsAuth, rig.RegistryOptions{Name: "tls-auth", ServerCert: &tlsCert, Auth: &r.creds, Trust: r.ca}},
		{&r.plain, rig.RegistryOptions{Name: "plain"}},
		{&r.mtls, rig.RegistryOptions{Name: "mtls", ServerCert: &mtlsCert, ClientCA: r.ca, Trust: r.ca, ClientCert: &r.client}},
		{&r.untrusted, rig.RegistryOptions{Name: "untrusted", ServerCert: &untrustedCert, TrustAny: true}},
		{&r.backend, rig.RegistryOptions{Name: "backend"}},
		{&r.second, rig.RegistryOptions{Name: "second"}},
	} {
		reg, err := rig.StartRegistry(ctx, regs, s.opts)
		if err != nil {
			return err
		}
		r.closers = append(r.closers, reg.Close)
		*s.dst = reg
	}
	if r.proxy, err = rig.StartPrefixProxy(prefixPath, r.backend.URL()); err != nil {
		return err
	}
	r.closers = append(r.closers, r.proxy.Close)
	if r.down, err = rig.StartDownServer(); err != nil {
		return err
	}
	r.closers = append(r.closers, r.down.Close)
	if r.gate, err = rig.StartHeaderGate(gateHeader, gateValue, r.backend.URL()); err != nil {
		return err
	}
	r.closers = append(r.closers, r.gate.Close)
	return nil
}

// pushImages pushes to each repository of each registry an image whose ID
// (and layer) is unique to it, so an ID tells where an image came from and
// no two pulls share a blob.
func (r *testRig) pushImages(ctx context.Context) error {
	for _, reg := range r.registries() {
		for _, repo := range repos {
			key := imageKey(reg.Name(), repo)
			img, err := NewImage(key)
			if err != nil {
				return err
			}
			if err := Push(ctx, reg.Client(), reg.URL(), repo, "latest", img); err != nil {
				return err
			}
			r.images[key] = img
		}
	}
	return nil
}

func (r *testRig) registries() []*rig.Registry {
	return []*rig.Registry{r.tlsAuth, r.plain, r.mtls, r.untrusted, r.backend, r.second}
}

// witnesses are every server a pull could reach.
func (r *testRig) witnesses() []rig.Witness {
	var ws []rig.Witness
	for _, reg := range r.registries() {
		ws = append(ws, reg)
	}
	return append(ws, r.proxy, r.down, r.gate)
}

// Close stops everything, last started first.
func (r *testRig) Close() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	return errors.Join(errs...)
}

// buildTool builds the module's main package to out.
func buildTool(ctx context.Context, out string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBinary(), "build", "-o", out, "github.com/certsd-migrate/certsd-migrate")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build github.com/certsd-migrate/certsd-migrate: %w\n%s", err, b)
	}
	return out, nil
}

func goBinary() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if p := filepath.Join(goroot, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
