#!/usr/bin/env bash
# Installs what the e2e suite needs on Debian 12 (bookworm): containerd (1.6.x),
# runc and docker-registry (distribution). Certificates, htpasswd files and the test
# image are made by the suite itself in Go, so nothing else is required.
# Idempotent: does nothing when every binary is already present.
set -euo pipefail

need=()
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)

if [ ${#need[@]} -eq 0 ]; then
	echo "install-deps: containerd, runc and docker-registry already installed"
	exit 0
fi

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

containerd --version
