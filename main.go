// Command certsd-migrate migrates containerd's deprecated CRI registry
// settings (registry.mirrors, registry.configs.*.tls, registry.auths) to
// config_path and hosts.toml files. It previews a unified diff by default
// and writes only on `apply`. The command line lives in internal/cli.
package main

import (
	"os"

	"github.com/certsd-migrate/certsd-migrate/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
