package migrate

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/certsd-migrate/certsd-migrate/diagnose"
)

// node is a node's file system, seen from its "/" (--root, or the real
// root). Every file the tool reads, creates, renames or removes goes
// through it, so nothing outside --root is ever touched.
//
// Symbolic links are read as the node itself would read them: an absolute
// target is a node path (under --root), a relative one is relative to the
// link's directory. A relative link that climbs above the node's "/" is an
// error naming it. Resolution happens here, before os.Root sees a name,
// because os.Root refuses every absolute link, which real nodes have; the
// os.Root underneath still guarantees that a link swapped in after the
// check cannot lead outside.
type node struct {
	root *os.Root
	// dirs caches resolved directories (node path to os.Root name): plans
	// name thousands of files in the same few directories. A directory
	// that is missing resolves as itself, and still does once the tool
	// creates it or after it removes it, so the cache stays true.
	dirs map[string]string
	// roots holds an os.Root for each directory opened (by os.Root name,
	// "." is root), so that an operation on a file walks one component,
	// not the whole path: os.Root opens every component of a name it is
	// given.
	roots map[string]*os.Root
	// missing remembers absent directories, for a node opened to plan
	// (snapshot): a plan is a snapshot anyway, and Apply checks every file
	// again through a node of its own, which does not remember them, since
	// a concurrent run may create them at any moment.
	missing map[string]error
}

// openNode opens the node whose "/" is dir ("" is the real root).
func openNode(dir string) (*node, error) {
	if dir == "" {
		dir = "/"
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening --root %s: %w", dir, unwrapPathError(err))
	}
	return &node{root: r, dirs: map[string]string{}, roots: map[string]*os.Root{".": r}}, nil
}

// snapshot opens the node at dir to plan: it remembers absent
// directories (see node.missing) and must not write.
func snapshot(dir string) (*node, error) {
	n, err := openNode(dir)
	if err == nil {
		n.missing = map[string]error{}
	}
	return n, err
}

func (n *node) close() {
	for _, r := range n.roots {
		r.Close()
	}
}

// rootOf returns the os.Root of the directory with the os.Root name dir,
// opened from its parent's.
func (n *node) rootOf(dir string) (*os.Root, error) {
	dir = path.Clean(dir)
	if dir == "/" || dir == "" {
		dir = "."
	}
	if r, ok := n.roots[dir]; ok {
		return r, nil
	}
	if err, ok := n.missing[dir]; ok {
		return nil, err
	}
	parent, err := n.rootOf(path.Dir(dir))
	if err != nil {
		return nil, err
	}
	r, err := parent.OpenRoot(path.Base(dir))
	if err != nil {
		err = &fs.PathError{Op: "open", Path: dir, Err: unwrapPathError(err)}
		if n.missing != nil && errors.Is(err, fs.ErrNotExist) {
			n.missing[dir] = err
		}
		return nil, err
	}
	n.roots[dir] = r
	return r, nil
}

// in splits an os.Root name into its directory's os.Root and its base.
func (n *node) in(name string) (*os.Root, string, error) {
	if name == "." {
		return n.root, ".", nil
	}
	r, err := n.rootOf(path.Dir(name))
	return r, path.Base(name), err
}

// The os.Root operations, on os.Root names (resolved, link-free
// directories), each through its directory's own root.

func (n *node) lstatName(name string) (fs.FileInfo, error) {
	r, base, err := n.in(name)
	if err != nil {
		return nil, err
	}
	return r.Lstat(base)
}

func (n *node) readlinkName(name string) (string, error) {
	r, base, err := n.in(name)
	if err != nil {
		return "", err
	}
	return r.Readlink(base)
}

func (n *node) openFileName(name string, flag int, perm fs.FileMode) (*os.File, error) {
	r, base, err := n.in(name)
	if err != nil {
		return nil, err
	}
	return r.OpenFile(base, flag, perm)
}

// openDirName opens a directory (to sync or list it).
func (n *node) openDirName(name string) (*os.File, error) {
	r, err := n.rootOf(name)
	if err != nil {
		return nil, err
	}
	return r.Open(".")
}

func (n *node) removeName(name string) error {
	r, base, err := n.in(name)
	if err != nil {
		return err
	}
	if err := r.Remove(base); err != nil {
		return err
	}
	if dr, ok := n.roots[name]; ok {
		dr.Close()
		delete(n.roots, name)
	}
	return nil
}

func (n *node) mkdirName(name string, perm fs.FileMode) error {
	r, base, err := n.in(name)
	if err != nil {
		return err
	}
	if err := r.Mkdir(base, perm); err != nil {
		return err
	}
	return r.Chmod(base, perm)
}

// renameName renames within one directory, as every rename here does
// (temporary file to final name, journal to record).
func (n *node) renameName(from, to string) error {
	if path.Dir(from) != path.Dir(to) {
		return n.root.Rename(from, to)
	}
	r, base, err := n.in(from)
	if err != nil {
		return err
	}
	return r.Rename(base, path.Base(to))
}

// maxLinks bounds the links followed for one path, as the kernel's ELOOP.
const maxLinks = 40

// resolve turns a node path into the os.Root name of the file it names:
// every symbolic link among its directories followed, the last element
// kept as it is (callers Lstat it). Components that do not exist yet are
// kept as they are, so that a path to be created resolves too.
func (n *node) resolve(nodePath string) (string, error) {
	clean := path.Clean("/" + nodePath)
	if clean == "/" {
		return ".", nil
	}
	dir, err := n.resolveDir(path.Dir(clean))
	if err != nil {
		return "", err
	}
	return path.Join(dir, path.Base(clean)), nil
}

// resolveDir resolves every link of a node directory path, itself
// included.
func (n *node) resolveDir(nodeDir string) (string, error) {
	nodeDir = path.Clean("/" + nodeDir)
	if r, ok := n.dirs[nodeDir]; ok {
		return r, nil
	}
	// done is the resolved, link-free part (an os.Root name); todo the
	// components still to walk. The walk starts from the nearest ancestor
	// resolved before.
	done := "."
	todo := strings.Split(strings.TrimPrefix(nodeDir, "/"), "/")
	// While no link has been followed, each directory walked resolves to
	// itself and is worth remembering.
	plain := true
	for i := len(todo) - 1; i > 0; i-- {
		prefix := path.Join(todo[:i]...)
		if r, ok := n.dirs["/"+prefix]; ok {
			done, todo, plain = r, todo[i:], r == prefix
			break
		}
	}
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if done == "." {
				return "", refusal{fmt.Errorf("%s leads outside --root", nodeDir)}
			}
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, c)
		fi, err := n.lstatName(next)
		if errors.Is(err, fs.ErrNotExist) {
			// Nothing below a missing directory can be a link.
			done = path.Join(append([]string{next}, todo...)...)
			break
		}
		if err != nil {
			return "", fmt.Errorf("checking %s: %w", "/"+next, unwrapPathError(err))
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			if plain && fi.IsDir() {
				n.dirs["/"+next] = next
			}
			continue
		}
		plain = false
		if links++; links > maxLinks {
			return "", refusal{fmt.Errorf("%s: too many levels of symbolic links", nodeDir)}
		}
		target, err := n.readlinkName(next)
		if err != nil {
			return "", fmt.Errorf("reading link %s: %w", "/"+next, unwrapPathError(err))
		}
		if path.IsAbs(target) {
			done = "."
		} else if t := path.Join(done, target); t == ".." || strings.HasPrefix(t, "../") {
			return "", refusal{fmt.Errorf("/%s is a symbolic link to %s, which leads outside --root; refusing to follow it", next, target)}
		}
		todo = append(strings.Split(strings.TrimPrefix(target, "/"), "/"), todo...)
	}
	n.dirs[nodeDir] = done
	return done, nil
}

// lstat is os.Lstat of a node path.
func (n *node) lstat(nodePath string) (fs.FileInfo, error) {
	name, err := n.resolve(nodePath)
	if err != nil {
		return nil, err
	}
	return n.lstatName(name)
}

// stat is os.Stat of a node path: the last element followed too.
func (n *node) stat(nodePath string) (fs.FileInfo, error) {
	name, err := n.resolveDir(nodePath)
	if err != nil {
		return nil, err
	}
	return n.lstatName(name)
}

// MaxInputSize caps every file the tool reads: config files,
// registries.yaml, certificates. Real ones are kilobytes; the cap stops a
// device or a runaway file from exhausting memory.
const MaxInputSize = 16 << 20

// readInput reads a node file: only a regular file (a FIFO would block
// forever, a device never ends) of at most MaxInputSize bytes. The last
// element may be a link; it is followed like the rest.
func (n *node) readInput(nodePath string) ([]byte, fs.FileInfo, error) {
	name, err := n.resolveDir(nodePath)
	if err != nil {
		return nil, nil, err
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat
	// below then refuses it.
	f, err := n.openFileName(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, unwrapPathError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, unwrapPathError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("not a regular file (%s); refusing to read it", fileType(fi.Mode()))
	}
	if fi.Size() > MaxInputSize {
		return nil, nil, fmt.Errorf("%d bytes, larger than the %d MiB limit; refusing to read it", fi.Size(), MaxInputSize>>20)
	}
	// The size from fstat can lie (procfs, a file still growing): read at
	// most one byte past the limit.
	data, err := io.ReadAll(io.LimitReader(f, MaxInputSize+1))
	if err != nil {
		return nil, nil, unwrapPathError(err)
	}
	if len(data) > MaxInputSize {
		return nil, nil, fmt.Errorf("larger than the %d MiB limit; refusing to read it", MaxInputSize>>20)
	}
	if data == nil {
		data = []byte{}
	}
	return data, fi, nil
}

// fileType names a non-regular file's type for messages.
func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}

// readIfExists reads a node file, or returns nil if it is absent.
func (n *node) readIfExists(nodePath string) ([]byte, fs.FileInfo, error) {
	data, fi, err := n.readInput(nodePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	return data, fi, err
}

// glob matches a node path pattern, as filepath.Glob would on the node.
// Only the last element may hold a wildcard (containerd's imports are
// "dir/*.toml"); the directory is resolved like any other.
func (n *node) glob(pattern string) ([]string, error) {
	dir, base := path.Split(path.Clean(pattern))
	if strings.ContainsAny(dir, "*?[") {
		return nil, fmt.Errorf("a wildcard is supported in the last element only")
	}
	if _, err := path.Match(base, ""); err != nil {
		return nil, err
	}
	name, err := n.resolveDir(dir)
	if err != nil {
		return nil, err
	}
	d, err := n.openDirName(name)
	if err != nil {
		return nil, nil // like filepath.Glob: no directory, no match
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, nil
	}
	var out []string
	for _, e := range names {
		if ok, _ := path.Match(base, e); ok {
			out = append(out, path.Join(dir, e))
		}
	}
	return out, nil
}

// readDir lists a node directory.
func (n *node) readDir(nodeDir string) ([]fs.DirEntry, error) {
	name, err := n.resolveDir(nodeDir)
	if err != nil {
		return nil, err
	}
	d, err := n.openDirName(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// checkNamespaceDir refuses a hosts file whose directory (certs.d/<ns>)
// is a symbolic link, as a linked hosts.toml is refused: writing through
// it would change another namespace's hosts, or files outside certs.d.
func checkNamespaceDir(n *node, hostsFile string) error {
	dir := path.Dir(hostsFile)
	fi, err := n.lstat(dir)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	return fmt.Errorf("%s is a symbolic link: refusing to write %s through it; replace the link with a directory", dir, path.Base(hostsFile))
}

// nodeFS is the node as an fs.FS, for package diagnose: names are
// resolved as the node reads them (links under --root, an escaping link
// an error wrapping diagnose.ErrRefused, which stops a check), files are opened without blocking (a FIFO reads as empty),
// and ReadFile refuses what readInput refuses (devices, anything over
// MaxInputSize). os.DirFS would follow a link out of --root and block on
// a FIFO. The node must stay open while the FS is used.
type nodeFS struct{ n *node }

func (f nodeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	resolved, err := f.n.resolveDir("/" + name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: f.osError(name, err)}
	}
	file, err := f.n.openFileName(resolved, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrapPathError(err)}
	}
	return file, nil
}

func (f nodeFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	data, _, err := f.n.readInput("/" + name)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: f.osError(name, err)}
	}
	return data, nil
}

// osError words an open or read error as os.Open and os.ReadFile would
// (check quotes it as containerd's own): the innermost error, without the
// node's context, and a directory "is a directory". Refusals keep their
// words.
func (f nodeFS) osError(name string, err error) error {
	if errors.Is(err, diagnose.ErrRefused) {
		return err
	}
	if fi, serr := f.n.stat("/" + name); serr == nil && fi.IsDir() {
		return syscall.EISDIR
	}
	for inner := errors.Unwrap(err); inner != nil; inner = errors.Unwrap(err) {
		err = inner
	}
	return err
}

// refusal is resolve's error for a path the node will not resolve (a
// link leading outside --root, a loop): for package diagnose, through
// nodeFS, an error that stops the check rather than a missing file.
type refusal struct{ err error }

func (r refusal) Error() string   { return r.err.Error() }
func (r refusal) Unwrap() []error { return []error{r.err, diagnose.ErrRefused} }
