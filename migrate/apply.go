package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
)

// ApplyOptions control Apply.
type ApplyOptions struct {
	// NoBackup skips the timestamped backups FileChange.Backup asks for.
	NoBackup bool
	// Now is the clock for backup names; nil means time.Now.
	Now func() time.Time

	// fail, when set, is called at each step with the step's name and node
	// path, and an error from it fails that step. The steps are "write"
	// (before a file is replaced), "wrote" (after) and "undo" (before each
	// rollback step). Tests use it to fail midway.
	fail func(step, path string) error
}

// ApplyResult says what Apply did.
type ApplyResult struct {
	Written []string // node paths of the files created or replaced, in plan order
	Backups []string // node paths of the backups made
}

// errChanged reports that a file's content is no longer what the plan was
// made from.
var errChanged = errors.New("changed since the preview; run again")

// backupTimeFormat is the UTC timestamp in backup names.
const backupTimeFormat = "20060102T150405Z"

// Apply writes the plan's changes to the node. It first checks that no file
// changed since the plan was made, and writes nothing if one did. Each file
// is replaced atomically, and if any step fails everything done so far is
// undone: the node ends up either fully migrated or as it was.
func Apply(p *Plan, opts ApplyOptions) (*ApplyResult, error) {
	changes, err := changesOf(p)
	if err != nil {
		return nil, err
	}
	olds := make([]fileState, len(changes))
	for i, c := range changes {
		if olds[i], err = currentState(p, c); err != nil {
			return nil, err
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &applier{plan: p, opts: opts, stamp: opts.Now().UTC().Format(backupTimeFormat)}
	for i, c := range changes {
		if err := a.apply(c, olds[i]); err != nil {
			return nil, a.rollback(err)
		}
	}
	return &a.result, nil
}

// changesOf returns the plan's files that Apply must write, and rejects
// plans it cannot carry out safely.
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
		case seen[filepath.Clean(c.Path)]:
			// A second write would make the first one's rollback wrong.
			return nil, fmt.Errorf("%s: listed twice in the plan", c.Path)
		}
		seen[filepath.Clean(c.Path)] = true
		changes = append(changes, c)
	}
	return changes, nil
}

// fileState is what Apply must know of a file it replaces: the owner to
// give the new file, and how to restore the old one.
type fileState struct {
	mode  fs.FileMode
	owner *owner // nil for a file Apply creates
}

type owner struct{ uid, gid int }

// currentState checks that c's file is still as the plan saw it: absent
// for Create, holding exactly c.Before for Modify. The Action decides, not
// whether Before is nil, so an empty existing file cannot pass for absent.
func currentState(p *Plan, c FileChange) (fileState, error) {
	path := p.diskPath(c.Path)
	fi, err := os.Lstat(path)
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
	data, err := os.ReadFile(path)
	if err != nil {
		return fileState{}, fmt.Errorf("reading %s: %w", c.Path, unwrapPathError(err))
	}
	if !bytes.Equal(data, c.Before) {
		return fileState{}, fmt.Errorf("%s: %w", c.Path, errChanged)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileState{mode: fi.Mode().Perm(), owner: &owner{int(st.Uid), int(st.Gid)}}, nil
}

// applier carries out one plan and remembers how to undo each step.
type applier struct {
	plan   *Plan
	opts   ApplyOptions
	stamp  string // backup timestamp, the same for the whole run
	undo   []undoStep
	result ApplyResult
}

// undoStep reverses one step of Apply.
type undoStep struct {
	path string // node path
	left string // the state path is left in if run fails
	run  func() error
}

func (a *applier) remember(path, left string, run func() error) {
	a.undo = append(a.undo, undoStep{path: path, left: left, run: run})
}

// step gives the test hook its chance to fail a step.
func (a *applier) step(name, path string) error {
	if a.opts.fail == nil {
		return nil
	}
	return a.opts.fail(name, path)
}

// apply creates or replaces one file, after its missing directories and
// its backup.
func (a *applier) apply(c FileChange, old fileState) error {
	if err := a.mkdirs(filepath.Dir(c.Path)); err != nil {
		return err
	}
	if c.Action == Modify && c.Backup && !a.opts.NoBackup {
		if err := a.backup(c, old); err != nil {
			return err
		}
	}
	if err := a.write(c, old); err != nil {
		return fmt.Errorf("writing %s: %w", c.Path, unwrapPathError(err))
	}
	a.result.Written = append(a.result.Written, c.Path)
	return nil
}

// write replaces c's file and remembers how to undo that.
func (a *applier) write(c FileChange, old fileState) error {
	path := a.plan.diskPath(c.Path)
	if err := a.step("write", c.Path); err != nil {
		return err
	}
	if err := replaceFile(path, c.After, c.Mode, old.owner); err != nil {
		return err
	}
	// Remembered only now: until the rename, whatever is at path is not
	// ours to remove.
	if c.Action == Create {
		a.remember(c.Path, "created file not removed", func() error { return removeCreated(path) })
	} else {
		a.remember(c.Path, "has the new content, old content not restored", func() error {
			return writeAtomic(path, c.Before, old.mode, old.owner)
		})
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return a.step("wrote", c.Path)
}

// mkdirs creates the node directory dir and its missing parents.
func (a *applier) mkdirs(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		_, err := os.Stat(a.plan.diskPath(d))
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checking directory %s: %w", d, unwrapPathError(err))
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
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
	path := a.plan.diskPath(dir)
	if err := os.Mkdir(path, 0o755); err != nil {
		return err
	}
	a.remember(dir, "created directory not removed", func() error { return removeCreated(path) })
	// Mkdir's mode is subject to the umask; hosts directories must be
	// readable by containerd whatever ours is.
	if err := os.Chmod(path, 0o755); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// backup writes a copy of the file's current content beside it, under a
// name no file has yet: <name>.certsd-migrate-<stamp>.bak, then .bak.1 …
//
// Where an import glob of the config would match that name (imports =
// ["conf.d/*"]), containerd would load the backup as configuration: the
// backup then goes to /var/backups/certsd-migrate<path> instead.
func (a *applier) backup(c FileChange, old fileState) error {
	base := c.Path + ".certsd-migrate-" + a.stamp + ".bak"
	if a.imported(base) || a.imported(base+".1") {
		base = filepath.Join(backupDir, c.Path) + "." + a.stamp + ".bak"
		if err := a.mkdirs(filepath.Dir(base)); err != nil {
			return fmt.Errorf("backing up %s: %w", c.Path, err)
		}
	}
	for n := 0; n < 1000; n++ {
		name := base
		if n > 0 {
			name = fmt.Sprintf("%s.%d", base, n)
		}
		path := a.plan.diskPath(name)
		// O_EXCL: an existing backup is never overwritten, even one made
		// by a concurrent run.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, old.mode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("backing up %s: %w", c.Path, unwrapPathError(err))
		}
		a.remember(name, "backup not removed", func() error { return removeCreated(path) })
		if err := fillBackup(f, c.Before, old.mode); err != nil {
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
func (a *applier) imported(path string) bool {
	for _, g := range a.plan.ImportGlobs {
		if ok, _ := filepath.Match(g, path); ok {
			return true
		}
	}
	return false
}

// fillBackup writes and closes a new backup file, and makes it durable
// before the original is replaced.
func fillBackup(f *os.File, data []byte, mode fs.FileMode) error {
	err := f.Chmod(mode) // OpenFile's mode is subject to the umask
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(f.Name()))
	}
	return err
}

// rollback undoes every step done so far, newest first. The error says
// what failed and whether the node is back as it was, or else which paths
// are left in which state.
func (a *applier) rollback(cause error) error {
	var left []string
	for i := len(a.undo) - 1; i >= 0; i-- {
		u := a.undo[i]
		err := a.step("undo", u.path)
		if err == nil {
			err = u.run()
		}
		if err != nil {
			left = append(left, fmt.Sprintf("%s: %s (%v)", u.path, u.left, unwrapPathError(err)))
		}
	}
	if len(left) == 0 {
		return fmt.Errorf("%w; the node was restored to its state before apply", cause)
	}
	return fmt.Errorf("%w; restoring the node failed, these paths need fixing by hand:\n\t%s",
		cause, strings.Join(left, "\n\t"))
}

// writeAtomic is replaceFile made durable.
func writeAtomic(path string, data []byte, mode fs.FileMode, o *owner) error {
	if err := replaceFile(path, data, mode, o); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// replaceFile replaces path with data so that readers see either the old
// file or the new one, never a mix. The new file gets exactly mode (the
// umask does not apply) and, if o is not nil, o as its owner. It fails
// only before the rename, leaving path as it was. The rename is durable
// once the directory is synced: renameio does not do that.
func replaceFile(path string, data []byte, mode fs.FileMode, o *owner) error {
	t, err := renameio.NewPendingFile(path,
		renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(mode))
	if err != nil {
		return err
	}
	defer t.Cleanup() // removes the temporary file unless it replaced path
	if _, err := t.Write(data); err != nil {
		return err
	}
	if o != nil {
		if err := chown(t.File, *o); err != nil {
			return err
		}
	}
	return t.CloseAtomicallyReplace() // fsyncs, then renames
}

// chown gives f the owner of the file it replaces. Only root can give a
// file away; anyone else can only replace files they may write, and
// keeps the new file as their own.
func chown(f *os.File, o owner) error {
	err := f.Chown(o.uid, o.gid)
	if errors.Is(err, fs.ErrPermission) && os.Geteuid() != 0 {
		return nil
	}
	return err
}

// syncDir makes the creation, renaming or removal of an entry of dir
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeCreated removes a file or empty directory that Apply created.
func removeCreated(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
