package migrate

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// The writer. renameio writes by path, which would follow a symbolic link
// out of --root; these functions do the same steps (temporary file in the
// same directory, fsync, rename, directory fsync) through the node's
// os.Root instead.

// tempMarker is in the name of every temporary file the tool makes, so a
// run that finds one left by a killed run knows it is its own to remove.
const tempMarker = ".certsd-migrate-tmp-"

// atomicWrite replaces one node file so that readers see either the old
// file or the new one, never a mix.
type atomicWrite struct {
	n    *node
	path string // node path
	data []byte
	// mode is the file's exact mode (the umask does not apply), special
	// bits included.
	mode  fs.FileMode
	owner *owner // the owner to give the file; nil keeps ours
	// step, if set, is the fault hook (see ApplyOptions.fail).
	step func(name, path string) error
	// beforeRename, if set, runs just before the rename and can refuse it.
	beforeRename func() error

	// syncErr is set when the file was renamed into place but its
	// directory could not be synced: the new file is there, but a crash
	// could still undo the rename.
	syncErr error
}

func (w *atomicWrite) hook(name string) error {
	if w.step == nil {
		return nil
	}
	return w.step(name, w.path)
}

// run writes the file. An error before the rename leaves the old file and
// no temporary file; an error after it is only syncErr.
func (w *atomicWrite) run() (err error) {
	name, err := w.n.resolve(w.path)
	if err != nil {
		return err
	}
	dir := path.Dir(name)
	tmp := path.Join(dir, "."+path.Base(name)+tempMarker+randomSuffix())
	f, err := w.n.openFileName(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating a temporary file: %w", unwrapPathError(err))
	}
	renamed := false
	defer func() {
		if renamed {
			return
		}
		f.Close()
		if rerr := w.n.removeName(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("%w (and the temporary file /%s was left behind: %v)", err, tmp, unwrapPathError(rerr))
		}
	}()
	if err := fill(f, w.data, w.mode, w.owner); err != nil {
		return err
	}
	if err := w.hook("sync"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", unwrapPathError(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", unwrapPathError(err))
	}
	if err := w.hook("rename"); err != nil {
		return err
	}
	// Last look before the rename. A rename cannot compare and swap, so a
	// write landing in the microseconds between the two is the one edit
	// that could still be lost; the lock keeps other certsd-migrate runs
	// out of that window.
	if w.beforeRename != nil {
		if err := w.beforeRename(); err != nil {
			return err
		}
	}
	if err := w.n.renameName(tmp, name); err != nil {
		return fmt.Errorf("rename: %w", unwrapLinkError(err))
	}
	renamed = true
	if err := w.hook("dirsync"); err != nil {
		w.syncErr = err
		return nil
	}
	if err := syncDir(w.n, path.Dir(w.path)); err != nil {
		w.syncErr = fmt.Errorf("syncing the directory: %w", unwrapPathError(err))
	}
	return nil
}

// fill gives a new file its owner, mode and content. The owner comes
// first: chown clears the setuid and setgid bits.
func fill(f *os.File, data []byte, mode fs.FileMode, o *owner) error {
	if o != nil {
		if err := chown(f, *o); err != nil {
			return fmt.Errorf("chown: %w", unwrapPathError(err))
		}
	}
	if err := f.Chmod(mode); err != nil { // OpenFile's mode is subject to the umask
		return fmt.Errorf("chmod: %w", unwrapPathError(err))
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write: %w", unwrapPathError(err))
	}
	return nil
}

// writeNew creates a node file that must not exist yet, durably, and
// whole: the content goes to a temporary file first, which is then linked
// to the name (link, unlike rename, fails if the name exists), so a crash
// never leaves a truncated file under the name, and an existing file is
// never replaced. created says whether the file exists after an error
// (and is the caller's to remove).
func writeNew(n *node, nodePath string, data []byte, mode fs.FileMode, o *owner) (created bool, err error) {
	name, err := n.resolve(nodePath)
	if err != nil {
		return false, err
	}
	r, base, err := n.in(name)
	if err != nil {
		return false, err
	}
	if _, err := r.Lstat(base); err == nil {
		return false, fs.ErrExist // the usual case of a taken name: no temporary file
	}
	tmp := "." + base + tempMarker + randomSuffix()
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	defer r.Remove(tmp) // after the link, or instead of it
	err = fill(f, data, mode, o)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := r.Link(tmp, base); err != nil {
		return false, unwrapLinkError(err)
	}
	return true, syncDir(n, path.Dir(nodePath))
}

// mkdirNode creates one node directory with exactly perm (Mkdir's mode is
// subject to the umask; hosts directories must be readable by containerd
// whatever ours is).
func mkdirNode(n *node, nodeDir string, perm fs.FileMode) error {
	name, err := n.resolve(nodeDir)
	if err != nil {
		return err
	}
	return n.mkdirName(name, perm)
}

// syncDir makes the creation, renaming or removal of an entry of a node
// directory durable.
func syncDir(n *node, nodeDir string) error {
	name, err := n.resolveDir(nodeDir)
	if err != nil {
		return err
	}
	d, err := n.openDirName(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
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

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// removeTemps removes the temporary files a killed run left in a node
// directory.
func removeTemps(n *node, nodeDir string) {
	entries, err := n.readDir(nodeDir)
	if err != nil {
		return
	}
	name, err := n.resolveDir(nodeDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), tempMarker) && e.Type().IsRegular() {
			n.removeName(path.Join(name, e.Name()))
		}
	}
}

func unwrapLinkError(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return unwrapPathError(err)
}
