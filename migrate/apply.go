package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/certsd-migrate/certsd-migrate/internal/lastapply"
)

// ApplyOptions control Apply.
type ApplyOptions struct {
	// NoBackup skips the timestamped backups FileChange.Backup asks for.
	// The journal's record of the last apply still holds the originals.
	NoBackup bool
	// StateDir is the node's state directory, which holds the journal and
	// the record ("" is the default, StateDir).
	StateDir string
	// Now is the clock for backup names; nil means time.Now.
	Now func() time.Time

	// fail, when set, is called at each step with the step's name and node
	// path, and an error from it fails that step. The steps are "journal"
	// (before the journal is written), "mkdir", "backup", "write" (before
	// a file's temporary copy is made), "sync", "rename", "dirsync",
	// "wrote" (after a file is in place), "commit", "undo" (before each
	// rollback step) and "undo-dirsync" (after a rollback removal). Tests use it to fail midway, or to panic there as a
	// crash would stop the process.
	fail func(step, path string) error
}

// ApplyResult says what Apply did.
type ApplyResult struct {
	Written []string // node paths of the files created or replaced, in the order written
	Backups []string // node paths of the backups made
	// Record is the record of this apply, as committed (see LastApply).
	Record *lastapply.Record
}

// errChanged reports that a file's content is no longer what the plan was
// made from.
var errChanged = errors.New("changed since the preview; run again")

// backupTimeFormat is the UTC timestamp in backup names.
const backupTimeFormat = "20060102T150405Z"

// Apply writes the plan's changes to the node. It first checks that no file
// changed since the plan was made, and writes nothing if one did.
//
// The node is migrated by one rename: every hosts file is written first,
// each config file last, so that until the config's rename containerd
// reads the node as before. Before the first write the plan, with the
// original bytes of every file it modifies, goes to the journal; a process
// killed midway leaves the journal, and the next run finishes or undoes
// the apply from it (Recover). The journal becomes the record of the last
// apply once everything is written: that rename is the commit. If a step
// fails, everything done so far is undone.
//
// The caller holds the node's lock (LockNode) from before the plan was
// built.
func Apply(p *Plan, opts ApplyOptions) (*ApplyResult, error) {
	changes, err := changesOf(p)
	if err != nil {
		return nil, err
	}
	n, err := openNode(p.Root)
	if err != nil {
		return nil, err
	}
	defer n.close()
	olds := make([]fileState, len(changes))
	for i, c := range changes {
		if olds[i], err = currentState(n, c); err != nil {
			return nil, err
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &applier{n: n, plan: p, opts: opts, stamp: opts.Now().UTC().Format(backupTimeFormat)}
	dirs, err := a.missingDirs(changes)
	if err != nil {
		return nil, err
	}
	j := newJournal(p, changes, olds, dirs, opts.Now())
	j.Root, j.State = p.Root, stateIn(opts.StateDir)
	journalPath := j.State.journal()
	err = a.step("journal", journalPath)
	if err == nil {
		err = writeJournal(n, journalPath, j)
	}
	if err != nil {
		return nil, fmt.Errorf("writing the journal %s: %w; nothing else was written, the node is as it was", journalPath, err)
	}
	a.journaled = true
	for i, c := range changes {
		if err := a.apply(c, olds[i]); err != nil {
			return nil, a.rollback(err)
		}
	}
	if err := a.step("commit", journalPath); err != nil {
		return nil, a.rollback(err)
	}
	// Every file is written. Should the journal's rename fail, the next
	// run finds the journal with nothing left to do but this commit: the
	// node is migrated either way.
	commitJournal(n, j, opts.Now())
	a.result.Record = j.Applied
	return &a.result, nil
}

// changesOf returns the plan's files that Apply must write, hosts files
// before config files (a config's rename is what switches containerd to
// the hosts files, so they must all be there first), and rejects plans it
// cannot carry out safely.
func changesOf(p *Plan) ([]FileChange, error) {
	var changes []FileChange
	seen := make(map[string]bool)
	for _, c := range p.Files {
		switch {
		case c.Action == Unchanged:
			continue
		case c.Action != Create && c.Action != Modify:
			return nil, fmt.Errorf("%s: unknown plan action %q", c.Path, c.Action)
		case c.Mode.Perm() == 0:
			return nil, fmt.Errorf("%s: the plan gives the file no permissions", c.Path)
		case seen[path.Clean(c.Path)]:
			// A second write would make the first one's rollback wrong.
			return nil, fmt.Errorf("%s: listed twice in the plan", c.Path)
		}
		seen[path.Clean(c.Path)] = true
		changes = append(changes, c)
	}
	slices.SortStableFunc(changes, func(a, b FileChange) int { return writeRank(a) - writeRank(b) })
	return changes, nil
}

// writeRank orders an apply's writes: hosts files, then config files that
// only lose settings, then the config file that gains config_path. With
// several config files the renames cannot be one; this order keeps
// containerd in the legacy mode it was in (the CRI plugin loads) until the
// last rename, and the journal covers the moment between them.
func writeRank(c FileChange) int {
	switch {
	case c.Kind != ConfigKind:
		return 0
	case bytes.Contains(c.After, []byte("config_path")) && !bytes.Contains(c.Before, []byte("config_path")):
		return 2
	}
	return 1
}

// fileState is what Apply must know of a file it replaces: the owner to
// give the new file, and how to restore the old one.
type fileState struct {
	mode  fs.FileMode // permissions with the setuid, setgid and sticky bits
	owner *owner      // nil for a file Apply creates
}

type owner struct{ uid, gid int }

// specialBits are the mode bits besides the permissions that a replaced
// file keeps.
const specialBits = fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// currentState checks that c's file is still as the plan saw it: absent
// for Create, holding exactly c.Before for Modify. The Action decides, not
// whether Before is nil, so an empty existing file cannot pass for absent.
func currentState(n *node, c FileChange) (fileState, error) {
	fi, err := n.lstat(c.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && c.Action == Create:
		return fileState{}, nil
	case errors.Is(err, fs.ErrNotExist) || err == nil && c.Action == Create:
		return fileState{}, fmt.Errorf("%s: %w", c.Path, errChanged)
	case err != nil:
		return fileState{}, fmt.Errorf("checking %s: %w", c.Path, unwrapPathError(err))
	case !fi.Mode().IsRegular():
		// Renaming over a symlink would replace the link, not its target.
		return fileState{}, fmt.Errorf("%s: not a regular file (a symlink?); refusing to replace it", c.Path)
	}
	data, _, err := n.readInput(c.Path)
	if err != nil {
		return fileState{}, fmt.Errorf("reading %s: %w", c.Path, err)
	}
	if !bytes.Equal(data, c.Before) {
		return fileState{}, fmt.Errorf("%s: %w", c.Path, errChanged)
	}
	return stateOf(fi), nil
}

func stateOf(fi fs.FileInfo) fileState {
	st := fi.Sys().(*syscall.Stat_t)
	return fileState{mode: fi.Mode() & (fs.ModePerm | specialBits), owner: &owner{int(st.Uid), int(st.Gid)}}
}

// applier carries out one plan and remembers how to undo each step.
type applier struct {
	n         *node
	plan      *Plan
	opts      ApplyOptions
	stamp     string // backup timestamp, the same for the whole run
	undo      []undoStep
	result    ApplyResult
	journaled bool // the journal is on disk and must go once undone
}

// undoStep reverses one step of Apply.
type undoStep struct {
	path string // node path
	left string // the state path is left in if run fails
	run  func() error
	// backup marks the removal of a backup: skipped once another step
	// failed, since the backup may then be the only copy of the original.
	backup bool
}

func (a *applier) remember(u undoStep) { a.undo = append(a.undo, u) }

// step gives the test hook its chance to fail a step.
func (a *applier) step(name, path string) error {
	if a.opts.fail == nil {
		return nil
	}
	return a.opts.fail(name, path)
}

// missingDirs lists the directories Apply will create, parents first.
func (a *applier) missingDirs(changes []FileChange) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, c := range changes {
		var missing []string
		for d := path.Dir(c.Path); !seen[d]; d = path.Dir(d) {
			seen[d] = true
			_, err := a.n.stat(d)
			if err == nil {
				break
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("checking directory %s: %w", d, unwrapPathError(err))
			}
			missing = append(missing, d)
			if d == "/" {
				break
			}
		}
		slices.Reverse(missing)
		out = append(out, missing...)
	}
	return out, nil
}

// apply creates or replaces one file, after its missing directories and
// its backup.
func (a *applier) apply(c FileChange, old fileState) error {
	if err := a.mkdirs(path.Dir(c.Path)); err != nil {
		return err
	}
	if c.Action == Modify && c.Backup && !a.opts.NoBackup {
		if err := a.backup(c, old); err != nil {
			return err
		}
	}
	if err := a.write(c, old); err != nil {
		return fmt.Errorf("writing %s: %w", c.Path, err)
	}
	a.result.Written = append(a.result.Written, c.Path)
	return nil
}

// write replaces c's file and remembers how to undo that.
func (a *applier) write(c FileChange, old fileState) error {
	if err := a.step("write", c.Path); err != nil {
		return err
	}
	mode := c.Mode.Perm()
	if c.Action == Modify {
		mode |= old.mode & specialBits
	}
	// Just before the rename, the file must still be what the plan was
	// made from: an edit made during apply is refused, never lost.
	recheck := func() error {
		_, err := currentState(a.n, c)
		if errors.Is(err, errChanged) {
			return fmt.Errorf("changed while apply ran, refusing to replace it: %w", errChanged)
		}
		return err
	}
	w := atomicWrite{n: a.n, path: c.Path, data: c.After, mode: mode, owner: old.owner, step: a.step, beforeRename: recheck}
	if err := w.run(); err != nil {
		return err
	}
	if c.Action == Create {
		a.remember(undoStep{path: c.Path, left: "created file not removed", run: func() error { return removeCreated(a.n, c.Path, a.step) }})
	} else {
		a.remember(undoStep{path: c.Path, left: "has the new content, old content not restored", run: func() error {
			w := atomicWrite{n: a.n, path: c.Path, data: c.Before, mode: old.mode, owner: old.owner}
			return w.run()
		}})
	}
	if w.syncErr != nil {
		return w.syncErr
	}
	return a.step("wrote", c.Path)
}

// mkdirs creates the node directory dir and its missing parents.
func (a *applier) mkdirs(dir string) error {
	var missing []string
	for d := dir; ; d = path.Dir(d) {
		_, err := a.n.stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checking directory %s: %w", d, unwrapPathError(err))
		}
		missing = append(missing, d)
		if d == "/" {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := a.mkdir(missing[i]); err != nil {
			return fmt.Errorf("creating directory %s: %w", missing[i], unwrapPathError(err))
		}
	}
	return nil
}

func (a *applier) mkdir(dir string) error {
	if err := a.step("mkdir", dir); err != nil {
		return err
	}
	if err := mkdirNode(a.n, dir, 0o755); err != nil {
		return err
	}
	a.remember(undoStep{path: dir, left: "created directory not removed", run: func() error { return removeCreated(a.n, dir, a.step) }})
	if err := a.step("dirsync", path.Dir(dir)); err != nil {
		return err
	}
	return syncDir(a.n, path.Dir(dir))
}

// backup writes a copy of the file's current content beside it, under a
// name no file has yet: <name>.certsd-migrate-<stamp>.bak, then .bak.1 …,
// with the original's mode and owner.
//
// Where an import glob of the config would match that name (imports =
// ["conf.d/*"]), containerd would load the backup as configuration: the
// backup then goes to /var/backups/certsd-migrate<path> instead.
func (a *applier) backup(c FileChange, old fileState) error {
	if err := a.step("backup", c.Path); err != nil {
		return fmt.Errorf("backing up %s: %w", c.Path, err)
	}
	base := c.Path + ".certsd-migrate-" + a.stamp + ".bak"
	if a.imported(base) || a.imported(base+".1") {
		base = path.Join(backupDir, c.Path) + "." + a.stamp + ".bak"
		if err := a.mkdirs(path.Dir(base)); err != nil {
			return fmt.Errorf("backing up %s: %w", c.Path, err)
		}
	}
	for i := 0; i < 1000; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s.%d", base, i)
		}
		// Exclusive: an existing backup is never overwritten, even one
		// made by a concurrent run.
		created, err := writeNew(a.n, name, c.Before, old.mode, old.owner)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if created {
			a.remember(undoStep{path: name, left: "backup not removed", backup: true, run: func() error { return removeCreated(a.n, name, a.step) }})
		}
		if err != nil {
			return fmt.Errorf("backing up %s to %s: %w", c.Path, name, unwrapPathError(err))
		}
		a.result.Backups = append(a.result.Backups, name)
		return nil
	}
	return fmt.Errorf("backing up %s: too many backups named %s.*", c.Path, base)
}

// backupDir holds the backups that cannot go beside their file.
const backupDir = "/var/backups/certsd-migrate"

// imported reports whether one of the config's import globs matches path.
func (a *applier) imported(p string) bool { return matchesGlob(a.plan.ImportGlobs, p) }

func matchesGlob(globs []string, p string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	return false
}

// rollback undoes every step done so far, newest first. It stops at the
// first step it cannot undo: the steps before it are what make that one
// safe (the hosts files a migrated config needs, the backup of a config
// not restored), so they stay, and the journal with them. The error says
// what failed and whether the node is back as it was, or else which paths
// are left in which state.
func (a *applier) rollback(cause error) error {
	var left []string
	stopped := false
	for i := len(a.undo) - 1; i >= 0; i-- {
		u := a.undo[i]
		if stopped {
			if u.backup {
				left = append(left, fmt.Sprintf("%s: backup kept, the original is not restored", u.path))
			} else {
				left = append(left, fmt.Sprintf("%s: left as apply made it", u.path))
			}
			continue
		}
		err := a.step("undo", u.path)
		if err == nil {
			err = u.run()
		}
		var nd *notDurable
		switch {
		case errors.As(err, &nd):
			// Done, only perhaps not durably: going on is safe.
			left = append(left, fmt.Sprintf("%s: removed, but the removal may not survive a crash (%v)", u.path, nd.err))
		case err != nil:
			left = append(left, fmt.Sprintf("%s: %s (%v)", u.path, u.left, unwrapPathError(err)))
			stopped = true
		}
	}
	journalPath := stateIn(a.opts.StateDir).journal()
	if len(left) == 0 && a.journaled {
		if err := removeJournal(a.n, journalPath); err != nil {
			left = append(left, fmt.Sprintf("%s: journal not removed (%v); the next run will apply the migration again", journalPath, err))
		}
	}
	if len(left) == 0 {
		return fmt.Errorf("%w; the node was restored to its state before apply", cause)
	}
	hint := ""
	if a.journaled {
		hint = "\n(the journal " + journalPath + " remembers the originals: `certsd-migrate rollback` restores them, `certsd-migrate apply` finishes the migration)"
	}
	return fmt.Errorf("%w; restoring the node failed, these paths are not as they were:\n\t%s%s",
		cause, strings.Join(left, "\n\t"), hint)
}

// notDurable reports an undo step whose change is made but whose
// directory could not be synced: not the same as not done.
type notDurable struct{ err error }

func (e *notDurable) Error() string { return "not durable: " + e.err.Error() }

// removeCreated removes a file or empty directory that Apply created. A
// failure to sync the directory afterwards is a notDurable: the file is
// gone, which a plain error would deny. hook, if set, is the fault hook
// (step "undo-dirsync").
func removeCreated(n *node, nodePath string, hook func(step, path string) error) error {
	name, err := n.resolve(nodePath)
	if err != nil {
		return err
	}
	if err := n.removeName(name); err != nil {
		return err
	}
	if hook != nil {
		err = hook("undo-dirsync", path.Dir(nodePath))
	}
	if err == nil {
		err = syncDir(n, path.Dir(nodePath))
	}
	if err != nil {
		return &notDurable{unwrapPathError(err)}
	}
	return nil
}
