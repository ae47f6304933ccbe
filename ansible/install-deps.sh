#!/usr/bin/env bash
# Installs what the Ansible tests need on Debian 12 (bookworm): Debian's
# ansible-core (2.14) and ansible-lint. Idempotent: does nothing when both
# commands exist.
set -euo pipefail
if command -v ansible-playbook >/dev/null 2>&1 && command -v ansible-lint >/dev/null 2>&1; then
	echo "install-deps: ansible-core and ansible-lint already installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install ansible-core and ansible-lint" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends ansible-core ansible-lint
