package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/certsd-migrate/certsd-migrate/migrate"
)

// lockAndRecover takes the node's lock for apply and finishes an apply
// that a crash interrupted, printing what that wrote (text output) and
// returning it (for the JSON report). done means the run ends here with
// code (an error).
func (c *invocation) lockAndRecover(stdout, stderr io.Writer) (unlock func(), finished *migrate.Plan, code int, done bool) {
	lock, err := migrate.LockNode(c.root, c.stateDir, c.wait)
	if err != nil {
		fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
		return nil, nil, exitError, true
	}
	finished, info, err := migrate.Recover(c.root, c.stateDir)
	if err != nil {
		lock.Unlock()
		fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
		return nil, nil, exitError, true
	}
	if finished != nil {
		// The node is migrated now; printing is best effort.
		if c.output != "json" {
			summary := fmt.Sprintf("finished the apply of pid %d (started %s), interrupted with %d of %d files written: %s",
				info.PID, info.Started.Format(time.RFC3339), info.Done, info.Total, finished.Summary())
			c.printChanges(finished, stdout, stderr, summary)
		}
	}
	return lock.Unlock, finished, 0, false
}

// mayWrite reports whether apply may have something to write: an
// interrupted apply to finish, or changes planned. Only then does it take
// the lock, which creates the tool's state directory: an apply with
// nothing to do, or refused for bad input, writes nothing at all. The
// plan made here is made again under the lock.
func (c *invocation) mayWrite(opts migrate.Options) bool {
	if pending, _, err := migrate.Pending(c.root, c.stateDir); err != nil || pending != nil {
		return true
	}
	plan, err := migrate.Build(opts)
	refused := err != nil || c.strict && len(plan.Warnings) > 0
	return !refused && plan.Changed()
}

// showInterrupted makes diff report an interrupted apply as the changes
// that finishing it would make, and what happened. done means the run ends
// here with code.
func (c *invocation) showInterrupted(stdout, stderr io.Writer) (code int, done bool) {
	// An apply that is running is not interrupted: wait for it.
	if err := migrate.WaitUnlocked(c.root, c.stateDir, c.wait); err != nil {
		fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
		return exitError, true
	}
	pending, info, err := migrate.Pending(c.root, c.stateDir)
	if err != nil {
		fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
		return exitError, true
	}
	if pending == nil {
		return 0, false
	}
	files := *pending
	files.Warnings = nil // the summary says it all
	summary := info.String() + "; to finish it: " + files.Summary() + "; `certsd-migrate apply` finishes it, `certsd-migrate rollback` undoes it"
	if err := c.printReport(pending, stdout, stderr, summary); err != nil {
		fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
		return exitError, true
	}
	// Pending changes, even if every file is written already: only the
	// commit is missing, which apply does.
	return exitChanges, true
}

// rollback undoes the last apply, or shows what that would do.
func (c *invocation) rollback(stdout, stderr io.Writer) int {
	if c.dryRun {
		if err := migrate.WaitUnlocked(c.root, c.stateDir, c.wait); err != nil {
			fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
			return exitError
		}
		plan, info, err := migrate.RollbackPlan(c.root, c.stateDir)
		if err != nil {
			fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
			return exitError
		}
		summary := "rollback: " + plan.Summary() + "; run `certsd-migrate rollback` to undo the last apply"
		if info != nil {
			summary = info.String() + "; rollback: " + plan.Summary() + "; run `certsd-migrate rollback` to undo it"
		}
		if !plan.Changed() {
			summary = ""
		}
		if err := c.printReport(plan, stdout, stderr, summary); err != nil {
			fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
			return exitError
		}
		if plan.Changed() {
			return exitChanges
		}
		return exitOK
	}
	lock, err := migrate.LockNode(c.root, c.stateDir, c.wait)
	if err != nil {
		fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
		return exitError
	}
	defer lock.Unlock()
	plan, err := migrate.Rollback(c.root, c.stateDir)
	if err != nil {
		fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
		return exitError
	}
	summary := "rolled back: " + plan.Summary() + "; restart containerd to load the restored config"
	if !plan.Changed() {
		summary = "nothing to roll back"
	}
	// The exit status describes the node, which is rolled back.
	if err := c.printReport(plan, stdout, stderr, summary); err != nil {
		fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
	}
	return exitOK
}

// printReport prints a plan that is not a migration (a recovery, a
// rollback) as -o asks: its JSON report, or its diff and summary.
func (c *invocation) printReport(plan *migrate.Plan, stdout, stderr io.Writer, summary string) error {
	if c.output == "json" {
		return writeJSON(stdout, plan.Report(c.showSecrets))
	}
	return c.printChanges(plan, stdout, stderr, summary)
}

// printChanges prints a plan's diff, then summary on stderr.
func (c *invocation) printChanges(plan *migrate.Plan, stdout, stderr io.Writer, summary string) error {
	if plan.Changed() {
		if err := plan.WriteDiff(stdout, c.useColor(stdout), c.showSecrets); err != nil {
			return err
		}
	}
	if summary == "" {
		return nil
	}
	_, err := fmt.Fprintln(stderr, summary)
	return err
}
