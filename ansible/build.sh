#!/usr/bin/env bash
# Builds the certsd-migrate binaries the collection carries to its nodes:
# static (CGO_ENABLED=0) linux amd64 and arm64, into the collection's files/
# directory, where the registry_hosts action plugin looks for them. The
# binaries are build output, never committed (see the collection's .gitignore).
#
#   ansible/build.sh [OUTDIR]     (default: the collection's files/ directory)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/ansible_collections/certsd_migrate/containerd/files}"
mkdir -p "$out"
GO=go
if ! command -v "$GO" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	GO=/usr/local/go/bin/go
fi
cd "$here/.."
for arch in amd64 arm64; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -o "$out/certsd-migrate-linux-$arch" .
done
echo "build.sh: built $out/certsd-migrate-linux-{amd64,arm64}"
