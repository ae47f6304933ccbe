package e2e

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// Set by TestMain, read-only afterwards.
var (
	shared      *testRig
	unavailable string // why the suite cannot run on this machine
	rigErr      error  // why the shared rig failed to start
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	containerd2Binary, containerd2Missing = findContainerd2()
	if unavailable = prerequisites(); unavailable != "" {
		return m.Run() // every test then fails (CI) or skips with the reason
	}
	shared, rigErr = startRig(context.Background())
	if shared != nil {
		defer func() {
			if err := shared.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: cleaning up:", err)
			}
		}()
		// An interrupted run still stops the daemons it started.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			if _, ok := <-sigs; ok {
				shared.Close()
				os.Exit(130)
			}
		}()
	}
	return m.Run()
}

// needRig returns the shared rig, or ends the test: skipped with the reason
// when prerequisites are missing outside CI, failed in CI (CI=true) or when
// the rig itself failed to start.
func needRig(t *testing.T) *testRig {
	t.Helper()
	if unavailable != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(unavailable)
		}
		t.Skip(unavailable)
	}
	if rigErr != nil {
		t.Fatalf("starting the e2e rig: %v", rigErr)
	}
	return shared
}
