#!/usr/bin/env bash
# Installs what the e2e suite needs on Debian 12 (bookworm):
#   * containerd (1.6.x), runc, docker-registry (distribution) and strace
#     (the kill tests of internal/cli) with apt;
#   * a containerd 2.4.2 daemon built from the Go module proxy into
#     $(go env GOPATH)/bin/containerd-v2.4.2 (about 3 minutes on 2 cores the
#     first time), where the suite looks for it (override: E2E_CONTAINERD2).
# Certificates, htpasswd files and the test image are made by the suite itself
# in Go, so nothing else is required.
# Idempotent: does nothing when every binary is already present.
set -euo pipefail

CONTAINERD2_VERSION=v2.4.2

need=()
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
# strace kills a real apply at each rename, mkdir and fsync
# (internal/cli TestKillAtEverySyscall).
command -v strace >/dev/null 2>&1 || need+=(strace)

if [ ${#need[@]} -eq 0 ]; then
	echo "install-deps: containerd, runc, docker-registry and strace already installed"
else
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: need root to install: ${need[*]}" >&2
		exit 1
	fi

	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${need[@]}"

	# The packages' services are not wanted here (the suite runs its own isolated
	# instances); stop them if the package scripts managed to start them.
	for svc in containerd docker-registry; do
		if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
			systemctl stop "$svc" || true
		fi
	done
fi
containerd --version

# containerd 2.x: Debian 12 has no package, so build the daemon from its Go
# module. The suite computes the same path: $(go env GOPATH)/bin/containerd-<version>.
GO=go
if ! command -v "$GO" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	GO=/usr/local/go/bin/go
fi
if ! command -v "$GO" >/dev/null 2>&1; then
	echo "install-deps: go not found; cannot build containerd $CONTAINERD2_VERSION" >&2
	exit 1
fi
gopath_bin="$("$GO" env GOPATH | cut -d: -f1)/bin"
ctrd2="$gopath_bin/containerd-$CONTAINERD2_VERSION"
if [ -x "$ctrd2" ] && "$ctrd2" --version 2>/dev/null | grep -q " ${CONTAINERD2_VERSION#v}"; then
	echo "install-deps: $ctrd2 already built"
else
	echo "install-deps: building containerd $CONTAINERD2_VERSION into $ctrd2 (takes a few minutes)"
	mkdir -p "$gopath_bin"
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	# GOFLAGS= : a -mod=vendor or similar from the environment must not apply
	# to a module built outside this repository.
	GOFLAGS= GOBIN="$tmp" "$GO" install -tags "no_btrfs no_devmapper no_zfs" \
		"github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD2_VERSION"
	mv "$tmp/containerd" "$ctrd2"
fi
"$ctrd2" --version
