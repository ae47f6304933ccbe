#!/usr/bin/env bash
# The whole test suite: static checks, unit and golden tests, the loader
# cross-check, and the end-to-end pulls through a real containerd. It
# installs what the tests need (Debian packages via apt-get when run as
# root, Go modules via the module proxy), so it works on a fresh machine
# with only Go. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -eq 0 ]; then
	bash e2e/install-deps.sh
	bash ansible/install-deps.sh
else
	echo "test.sh: not root, so the e2e and Ansible suites' packages are not installed (they skip, or fail under CI=true)"
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test"
go test -count=1 ./...
