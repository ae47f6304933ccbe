package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// toolRun is one invocation of certsd-migrate.
type toolRun struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r toolRun) String() string {
	return fmt.Sprintf("$ certsd-migrate %s\n(exit %d)\n--- stdout\n%s--- stderr\n%s",
		strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runTool runs the built certsd-migrate; it fails the test if the binary
// could not be built or run at all, or if a command that uses the tool's
// state directory is not given one of the test's (--state-dir or --root):
// the suite runs on the real root and must not touch the machine's
// /var/lib/certsd-migrate.
func (r *testRig) runTool(t *testing.T, args ...string) toolRun {
	t.Helper()
	if r.tool == "" {
		t.Fatalf("certsd-migrate is not available: %v", r.toolErr)
	}
	if len(args) > 0 && args[0] != "check" && !slices.Contains(args, "--state-dir") && !slices.Contains(args, "--root") {
		t.Fatalf("certsd-migrate %s: no --state-dir (it would use the machine's)", strings.Join(args, " "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.tool, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := toolRun{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		run.code = exit.ExitCode()
	default:
		t.Fatalf("running certsd-migrate %s: %v", strings.Join(args, " "), err)
	}
	return run
}
