package rig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ContainerdBinary is the default daemon under test (Debian's containerd 1.6).
const ContainerdBinary = "containerd"

// Containerd is one isolated containerd daemon.
type Containerd struct {
	Config string
	Socket string
	proc   *Proc
	CRI    *CRIClient
}

// ContainerdPaths are the per-instance locations a config.toml must use so
// that the daemon shares nothing with the system's containerd. Dir must be
// short: Socket is a unix socket path.
type ContainerdPaths struct {
	Root, State, Socket, TTRPCSocket, Opt string
}

// PathsIn lays out an instance under dir.
func PathsIn(dir string) ContainerdPaths {
	return ContainerdPaths{
		Root:        filepath.Join(dir, "root"),
		State:       filepath.Join(dir, "state"),
		Socket:      filepath.Join(dir, "ctd.sock"),
		TTRPCSocket: filepath.Join(dir, "ctd.sock.ttrpc"),
		Opt:         filepath.Join(dir, "opt"),
	}
}

// StartContainerd runs `<binary> --config config` (its log in logPath) and
// waits until the gRPC server answers. The returned error is nil when the CRI
// image service is ready; it wraps ErrCRIImageServiceMissing when containerd
// runs without it (a config the CRI plugin refused). In both cases the daemon
// is running and must be stopped with Stop.
func StartContainerd(ctx context.Context, binary, config, socket, logPath string) (*Containerd, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	proc, err := StartProc("containerd", logPath, binary, "--config", config)
	if err != nil {
		return nil, err
	}
	cri, err := DialCRI(socket)
	if err != nil {
		proc.Stop(time.Second)
		return nil, err
	}
	c := &Containerd{Config: config, Socket: socket, proc: proc, CRI: cri}
	return c, c.waitCRI(ctx)
}

func (c *Containerd) waitCRI(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lastErr error
	for {
		if c.proc.Exited() {
			return fmt.Errorf("containerd exited during start-up (see its log)")
		}
		if _, err := os.Stat(c.Socket); err == nil {
			callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
			err = c.CRI.Ready(callCtx)
			callCancel()
			if err == nil || errors.Is(err, ErrCRIImageServiceMissing) {
				return err
			}
			lastErr = err // e.g. "server is not initialized yet"
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the CRI image service: %w (last: %v)", ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Log is everything the daemon has logged.
func (c *Containerd) Log() string {
	s, err := c.proc.ReadLog(0)
	if err != nil {
		return err.Error()
	}
	return s
}

// Stop stops the daemon and closes the CRI connection.
func (c *Containerd) Stop() error {
	c.CRI.Close()
	return c.proc.Stop(5 * time.Second)
}
