package migrate

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/diagnose"
)

// ReadNode reads what `certsd-migrate check` inspects, the way Build reads
// the node for a migration: the main config (found as Build finds it) and
// its imports, and the node's file system for the certs directory. A node
// with no config file is read too (containerd then runs on defaults),
// unless the config was named.
//
// The node's FS is read as diff and apply read it (nodeFS): confined to
// --root, a link climbing out of it an error naming it, a FIFO or a device
// refused without blocking. It stays open until closeNode is called
// (always non-nil; call it when done with the node).
func ReadNode(opts Options) (n diagnose.Node, closeNode func(), err error) {
	named := opts.ConfigFile != ""
	sn, err := openNode(opts.Root)
	if err != nil {
		return diagnose.Node{}, func() {}, err
	}
	defer func() {
		if err != nil {
			sn.close()
			closeNode = func() {}
		}
	}()
	closeNode = sn.close
	findConfig(sn, &opts)
	n = diagnose.Node{FS: nodeFS{sn}, Target: opts.Target, ConfigPath: opts.ConfigFile, CertsDir: opts.CertsDir}
	_, err = sn.stat(opts.ConfigFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !named:
		n.ConfigPath = ""
	case err != nil:
		return n, closeNode, fmt.Errorf("reading %s: %w", opts.ConfigFile, unwrapPathError(err))
	default:
		files, _, err := loadNodeConfigs(sn, &opts)
		if err != nil {
			return n, closeNode, err
		}
		n.Configs, n.Target = files, opts.Target
	}
	var main *convert.ConfigFile
	if len(n.Configs) > 0 {
		main = n.Configs[0]
	}
	n.DefaultCertsDir, n.K0s = convert.UnconfiguredCertsDir(main)
	return n, closeNode, nil
}
