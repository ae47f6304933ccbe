package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/internal/lastapply"
	"github.com/certsd-migrate/certsd-migrate/migrate"
)

// warningsError is --fail-on-warnings matching: the run stops before
// anything is written.
type warningsError struct {
	matched []convert.Warning
	first   convert.Warning
	flag    string // "" is --fail-on-warnings
}

func (e *warningsError) Error() string {
	codes := make([]string, 0, len(e.matched))
	seen := map[string]bool{}
	for _, w := range e.matched {
		if !seen[w.Code] {
			seen[w.Code] = true
			codes = append(codes, w.Code)
		}
	}
	if e.flag != "" {
		return fmt.Sprintf("%s (%s makes every warning an error); nothing was written", e.first, e.flag)
	}
	return fmt.Sprintf("%s (--fail-on-warnings %s); nothing was written", e.first, strings.Join(codes, ","))
}

// parseWarningCodes parses --fail-on-warnings: "all" or a comma-separated
// list of warning codes.
func parseWarningCodes(s string) (all bool, codes map[string]bool, err error) {
	if s == "" {
		return false, nil, nil
	}
	if s == "all" {
		return true, nil, nil
	}
	codes = map[string]bool{}
	for _, code := range strings.Split(s, ",") {
		code = strings.TrimSpace(code)
		if !validCode(code) {
			return false, nil, fmt.Errorf("--fail-on-warnings: %q is not a warning code (see the README's list) or all", code)
		}
		codes[code] = true
	}
	return false, codes, nil
}

func validCode(code string) bool {
	if code == "" || code == "all" || strings.HasPrefix(code, "-") || strings.HasSuffix(code, "-") {
		return false
	}
	for _, r := range code {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// checkWarnings applies --fail-on-warnings to the plan, before anything is
// written.
func (c *invocation) checkWarnings(plan *migrate.Plan) error {
	all, codes, _ := parseWarningCodes(c.failOnWarnings) // validated in options
	var matched []convert.Warning
	for _, w := range plan.Report(c.showSecrets).Warnings { // redacted
		if all || codes[w.Code] {
			matched = append(matched, w)
		}
	}
	if len(matched) == 0 {
		return nil
	}
	return &warningsError{matched: matched, first: matched[0]}
}

// strictError is --strict's refusal as a warningsError, for the JSON
// error object (the text form is plan.WriteErrors).
func (c *invocation) strictError(plan *migrate.Plan) error {
	ws := plan.Report(c.showSecrets).Warnings // redacted
	return &warningsError{matched: ws, first: ws[0], flag: "--strict"}
}

// nodeState is what the node's apply record says about containerd.
type nodeState struct {
	record *lastapply.Record
	// restartPending is nil when containerd's start time is unknown.
	restartPending *bool
}

// containerdStart is when the node's containerd started: --containerd-started-at,
// else, on the real root, the running daemon's start in /proc. Under --root
// the running daemon is not the node's, so it is unknown.
func (c *invocation) containerdStart(config string) (lastapply.Start, bool) {
	if c.startedAt != "" {
		t, _ := time.Parse(time.RFC3339Nano, c.startedAt) // validated in options
		return lastapply.Start{Time: t}, true
	}
	if c.root != "" {
		return lastapply.Start{}, false
	}
	return lastapply.RunningContainerd(config)
}

// readState reads the record of the last apply (which the apply, or the
// recovery, committed).
func (c *invocation) readState(plan *migrate.Plan, stderr io.Writer) nodeState {
	rec, err := migrate.LastApply(c.root, c.stateDir)
	if err != nil {
		fmt.Fprintf(stderr, "certsd-migrate: warning: %v (ignored)\n", err)
	}
	return c.state(plan, rec)
}

func (c *invocation) state(plan *migrate.Plan, rec *lastapply.Record) nodeState {
	if plan.NoConfig {
		return nodeState{}
	}
	s := nodeState{record: rec}
	if start, ok := c.containerdStart(plan.ConfigFile); ok {
		pending := rec.RestartPending(plan.ConfigFile, start)
		s.restartPending = &pending
	}
	return s
}
