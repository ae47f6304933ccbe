package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"
)

// The node's lock file is "lock" in the state directory. One apply or
// rollback at a time holds it from before it reads the node until it is
// done, so a second run plans from the first one's result instead of
// undoing it.

// LockWait is how long a run waits for another one to finish by default:
// an apply takes milliseconds, a slow disk seconds.
const LockWait = 30 * time.Second

// lockPoll is how often a waiting run tries the lock again.
const lockPoll = 20 * time.Millisecond

// Lock is a held node lock.
type Lock struct{ f *os.File }

// lockFile is the lock's node path, for messages.
type lockFile struct {
	f    *os.File
	path string
}

// LockNode takes the lock of the node at root for writing (exclusive),
// waiting at most wait for a run that holds it. The lock file records the
// holder's pid for the message of the one that gives up.
func LockNode(root, stateDir string, wait time.Duration) (*Lock, error) {
	n, err := openNode(root)
	if err != nil {
		return nil, err
	}
	defer n.close()
	st := stateIn(stateDir)
	if err := ensureStateDir(n, st); err != nil {
		return nil, err
	}
	lockPath := st.lock()
	name, err := n.resolve(lockPath)
	if err != nil {
		return nil, err
	}
	f, err := n.openFileName(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock %s: %w", lockPath, unwrapPathError(err))
	}
	if err := flock(lockFile{f, lockPath}, syscall.LOCK_EX, wait); err != nil {
		f.Close()
		return nil, err
	}
	// The pid is informative only; the flock is the lock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// WaitUnlocked waits, without writing anything, until no run holds the
// lock of the node at root: diff must not read a node halfway through an
// apply and call it interrupted.
func WaitUnlocked(root, stateDir string, wait time.Duration) error {
	n, err := openNode(root)
	if err != nil {
		return err
	}
	defer n.close()
	lockPath := stateIn(stateDir).lock()
	name, err := n.resolve(lockPath)
	if err != nil {
		return err
	}
	f, err := n.openFileName(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		// No run has locked this node, or a preview run by a user who may
		// not read the lock (root's, 0600): it previews what it can see.
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening the lock %s: %w", lockPath, unwrapPathError(err))
	}
	defer f.Close()
	return flock(lockFile{f, lockPath}, syscall.LOCK_SH, wait)
}

// flock takes the lock on f, polling until wait is over.
func flock(l lockFile, how int, wait time.Duration) error {
	f, lockPath := l.f, l.path
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("locking %s: %w", lockPath, err)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("another certsd-migrate (pid %s) is applying on this node (lock %s); waited %s, try again later", holder(f), lockPath, wait)
		}
		time.Sleep(lockPoll)
	}
}

func holder(f *os.File) string {
	buf := make([]byte, 32)
	k, _ := f.ReadAt(buf, 0)
	if pid := string(bytes.TrimSpace(buf[:k])); pid != "" {
		return pid
	}
	return "unknown"
}

// Unlock releases the lock. The file stays: removing it would let two
// runs lock two different files.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
