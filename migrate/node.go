package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/diagnose"
)

// ReadNode reads what `certsd-migrate check` inspects, the way Build reads
// the node for a migration: the main config (found as Build finds it) and
// its imports, and the node's file system for the certs directory. A node
// with no config file is read too (containerd then runs on defaults),
// unless the config was named.
func ReadNode(opts Options) (diagnose.Node, error) {
	named := opts.ConfigFile != ""
	sn, err := openNode(opts.Root)
	if err != nil {
		return diagnose.Node{}, err
	}
	defer sn.close()
	findConfig(sn, &opts)
	root := opts.Root
	if root == "" {
		root = "/"
	}
	n := diagnose.Node{FS: os.DirFS(root), Target: opts.Target, ConfigPath: opts.ConfigFile, CertsDir: opts.CertsDir}
	_, err = sn.stat(opts.ConfigFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !named:
		n.ConfigPath = ""
	case err != nil:
		return n, fmt.Errorf("reading %s: %w", opts.ConfigFile, unwrapPathError(err))
	default:
		files, _, err := loadNodeConfigs(sn, &opts)
		if err != nil {
			return n, err
		}
		n.Configs, n.Target = files, opts.Target
	}
	var main *convert.ConfigFile
	if len(n.Configs) > 0 {
		main = n.Configs[0]
	}
	n.DefaultCertsDir, n.K0s = convert.UnconfiguredCertsDir(main)
	return n, nil
}
