// Package migrate is the file-system side of certsd-migrate: it finds a
// node's containerd config files, turns a conversion into a plan of file
// changes, shows the plan as a diff, and applies it safely.
package migrate

import (
	"io/fs"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// Action is what a plan does to one file.
type Action string

// Actions.
const (
	Create    Action = "create"
	Modify    Action = "modify"
	Unchanged Action = "unchanged"
	// Remove is rollback's: a file that apply created goes.
	Remove Action = "remove"
)

// Kind tells config files from hosts files.
type Kind string

// File kinds.
const (
	ConfigKind Kind = "config"
	HostsKind  Kind = "hosts"
)

// FileChange is one file of a plan. Preview and apply share it, so the
// preview cannot differ from what apply writes.
type FileChange struct {
	// Path is the file's path on the node (as containerd sees it).
	Path   string
	Kind   Kind
	Action Action
	// Before is the current content (nil when the file does not exist).
	Before []byte
	After  []byte
	// Mode is the permission the file gets (0600 for one holding
	// credentials).
	Mode fs.FileMode
	// Backup asks apply to keep a timestamped copy of Before beside the
	// file before replacing it.
	Backup bool
}

// Plan is the complete list of changes for one run.
type Plan struct {
	// Root is the directory that stands for the node's "/" ("" is "/").
	Root     string
	CertsDir string
	Files    []FileChange
	Warnings []convert.Warning
	// ImportGlobs are the config import patterns containerd matches (node
	// paths): a backup must not land where one matches, or containerd
	// would import it.
	ImportGlobs []string
	// ConfigFile is the main config file, the one containerd is started
	// with (its imports are read from it).
	ConfigFile string
	// NoConfig: no config was named and none exists where containerd
	// looks, so containerd runs on its defaults and nothing is migrated.
	NoConfig bool
	// Secrets are the credential values in the inputs and outputs, hidden
	// in anything printed.
	Secrets []string
}

// Changed reports whether applying the plan would change any file.
func (p *Plan) Changed() bool {
	for _, f := range p.Files {
		if f.Action != Unchanged {
			return true
		}
	}
	return false
}
