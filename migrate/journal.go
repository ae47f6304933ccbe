package migrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"syscall"
	"time"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/internal/lastapply"
)

// The journal makes an apply one step for the node as a whole. Apply
// writes it before its first change; it holds the plan and the original
// bytes, mode and owner of every file the plan modifies. Renaming it to
// the record of the last apply is the commit. A run that finds it left by
// a killed apply finishes that apply or undoes it; rollback undoes the
// last committed apply from the record. The record also says when the
// apply finished and whether it changed a config file (its Applied part),
// which restart_pending compares with containerd's start: there is one
// record of the last apply, written once, by the commit.
//
// Both files hold credentials (the configs' original bytes): they are
// 0600 in a 0700 directory, which no containerd import glob reaches.
//
// StateDir is the default state directory (--state-dir), which holds the
// journal, the record of the last apply and the lock, on the node (under
// --root).
const StateDir = "/var/lib/certsd-migrate"

// state is a state directory: the node paths of the tool's own files.
type state struct{ dir string }

// stateIn is the state directory dir, a node path ("" is StateDir).
func stateIn(dir string) state {
	if dir == "" {
		dir = StateDir
	}
	return state{path.Clean("/" + dir)}
}

func (s state) journal() string { return path.Join(s.dir, "journal.json") }

// record is the journal of the last completed apply.
func (s state) record() string { return path.Join(s.dir, "rollback.json") }

func (s state) lock() string { return path.Join(s.dir, "lock") }

// journal is the on-disk form of an apply.
type journal struct {
	// Format versions the layout; a run refuses one it does not know.
	Format      int           `json:"format"`
	PID         int           `json:"pid"`
	Started     time.Time     `json:"started"`
	Root        string        `json:"-"`
	State       state         `json:"-"`
	source      string        // the file it was read from (journal or record)
	Config      string        `json:"config"` // the main config file
	CertsDir    string        `json:"certs_dir"`
	ImportGlobs []string      `json:"import_globs,omitempty"`
	Secrets     []string      `json:"secrets,omitempty"`
	Dirs        []string      `json:"dirs,omitempty"` // created, parents first
	Files       []journalFile `json:"files"`          // in the order written
	// Applied is set by the commit: the record of the finished apply
	// (without the originals), as -o json reports it.
	Applied *lastapply.Record `json:"applied,omitempty"`
}

const journalFormat = 1

// journalFile is one file of an apply.
type journalFile struct {
	Path   string `json:"path"`
	Kind   Kind   `json:"kind"`
	Action Action `json:"action"`
	Before []byte `json:"before,omitempty"` // Modify: the original bytes
	After  []byte `json:"after"`
	// Mode is the file's mode after the apply; OldMode and the owner are
	// the original's (Modify only).
	Mode    fs.FileMode `json:"mode"`
	OldMode fs.FileMode `json:"old_mode,omitempty"`
	UID     int         `json:"uid,omitempty"`
	GID     int         `json:"gid,omitempty"`
}

func newJournal(p *Plan, changes []FileChange, olds []fileState, dirs []string, now time.Time) *journal {
	j := &journal{Format: journalFormat, PID: os.Getpid(), Started: now.UTC(), Config: p.ConfigFile, CertsDir: p.CertsDir,
		ImportGlobs: p.ImportGlobs, Secrets: p.Secrets, Dirs: dirs}
	for i, c := range changes {
		f := journalFile{Path: c.Path, Kind: c.Kind, Action: c.Action, Before: c.Before, After: c.After, Mode: c.Mode.Perm()}
		if c.Action == Modify {
			f.Mode |= olds[i].mode & specialBits
			f.OldMode = olds[i].mode
			f.UID, f.GID = olds[i].owner.uid, olds[i].owner.gid
		}
		j.Files = append(j.Files, f)
	}
	return j
}

// writeJournal writes j durably at the node path p, creating the state
// directory if needed.
func writeJournal(n *node, p string, j *journal) error {
	if matchesGlob(j.ImportGlobs, p) {
		return fmt.Errorf("an import glob of the config matches %s; refusing to write credentials where containerd would load them", p)
	}
	if err := ensureStateDir(n, j.State); err != nil {
		return err
	}
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	w := atomicWrite{n: n, path: p, data: data, mode: 0o600}
	if err := w.run(); err != nil {
		return err
	}
	return w.syncErr
}

// ensureStateDir creates the state directory (0700) and its missing
// parents (0755).
func ensureStateDir(n *node, s state) error {
	var missing []string
	for d := s.dir; d != "/"; d = path.Dir(d) {
		if _, err := n.stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checking %s: %w", d, unwrapPathError(err))
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		perm := fs.FileMode(0o755)
		if missing[i] == s.dir {
			perm = 0o700
		}
		if err := mkdirNode(n, missing[i], perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", missing[i], unwrapPathError(err))
		}
		if err := syncDir(n, path.Dir(missing[i])); err != nil {
			return fmt.Errorf("creating %s: %w", missing[i], unwrapPathError(err))
		}
	}
	return nil
}

// readJournal reads the journal or record at p, or returns nil if there
// is none.
func readJournal(n *node, p string) (*journal, error) {
	data, _, err := n.readIfExists(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if data == nil {
		return nil, nil
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("reading %s: %w (move it away to continue)", p, err)
	}
	if j.Format != journalFormat {
		return nil, fmt.Errorf("%s: unknown format %d, written by another version of certsd-migrate", p, j.Format)
	}
	return &j, nil
}

// commitJournal turns the journal j into the record of the last apply:
// it adds what the apply did (Applied, which keeps the previous record's
// config change when this apply changed no config file) and renames the
// journal to the record. The rename is the commit.
func commitJournal(n *node, j *journal, now time.Time) error {
	var prev *lastapply.Record
	if old, err := readJournal(n, j.State.record()); err == nil && old != nil {
		prev = old.Applied // an unreadable record is replaced
	}
	configChanged := false
	files := make([]string, 0, len(j.Files))
	for _, f := range j.Files {
		files = append(files, f.Path)
		configChanged = configChanged || f.Kind == ConfigKind
	}
	j.Applied = prev.Next(j.Config, files, configChanged, now, j.Root == "")
	if err := writeJournal(n, j.State.journal(), j); err != nil {
		return err
	}
	from, err := n.resolve(j.State.journal())
	if err != nil {
		return err
	}
	to, err := n.resolve(j.State.record())
	if err != nil {
		return err
	}
	if err := n.renameName(from, to); err != nil {
		return unwrapLinkError(err)
	}
	return syncDir(n, j.State.dir)
}

// LastApply reads the record of the last apply on the node at root (in
// the state directory stateDir, "" for StateDir), nil
// when there is none (or the record predates Applied). A user who may not
// read it (root's, 0600) gets nil too: a preview shows what it can see.
func LastApply(root, stateDir string) (*lastapply.Record, error) {
	n, err := openNode(root)
	if err != nil {
		return nil, err
	}
	defer n.close()
	j, err := readJournal(n, stateIn(stateDir).record())
	if errors.Is(err, fs.ErrPermission) {
		return nil, nil
	}
	if err != nil || j == nil {
		return nil, err
	}
	return j.Applied, nil
}

// removeJournal removes the journal or record at p, durably.
func removeJournal(n *node, p string) error {
	err := removeCreated(n, p, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// JournalError reports a file that is in neither of the states the
// journal knows: someone else changed it since.
type JournalError struct {
	Path   string
	Source string // the journal or record
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("%s: changed since the apply recorded in %s (it holds neither the old nor the new content); fix it by hand or move %s away", e.Path, e.Source, e.Source)
}

// Interrupted describes an apply that did not finish.
type Interrupted struct {
	PID     int
	Started time.Time
	Done    int // files already in their new state
	Total   int
}

// String says what happened: "an apply (pid N, started T) was
// interrupted with D of T files written".
func (i *Interrupted) String() string {
	return fmt.Sprintf("an apply (pid %d, started %s) was interrupted with %d of %d files written",
		i.PID, i.Started.Format(time.RFC3339), i.Done, i.Total)
}

// WarnInterrupted is the code of the warning diff gives for an
// interrupted apply (in -o json output).
const WarnInterrupted = "interrupted-apply"

// reconcile computes, for each file of j, the change that brings it to
// its new state (forward) or back to its old one. Files are listed in
// the order to carry them out: forward as written (config last), backward
// config first, so that containerd switches back before the hosts files
// go.
func reconcile(n *node, j *journal, source string, forward bool) (*Plan, *Interrupted, error) {
	p := &Plan{Root: j.Root, ConfigFile: j.Config, CertsDir: j.CertsDir, ImportGlobs: j.ImportGlobs, Secrets: j.Secrets}
	info := &Interrupted{PID: j.PID, Started: j.Started, Total: len(j.Files)}
	files := slices.Clone(j.Files)
	if !forward {
		slices.Reverse(files)
	}
	for _, f := range files {
		cur, fi, err := n.readIfExists(f.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", f.Path, err)
		}
		isNew := cur != nil && bytes.Equal(cur, f.After)
		isOld := f.Action == Create && cur == nil || f.Action == Modify && cur != nil && bytes.Equal(cur, f.Before)
		if isNew {
			info.Done++
		}
		if !isNew && !isOld {
			return nil, nil, &JournalError{Path: f.Path, Source: source}
		}
		fc := FileChange{Path: f.Path, Kind: f.Kind, Before: cur}
		switch {
		case forward && isNew, !forward && isOld:
			fc.Action, fc.After = Unchanged, cur
			if fi != nil {
				fc.Mode = fi.Mode().Perm()
			}
		case forward:
			fc.Action, fc.After, fc.Mode = f.Action, f.After, f.Mode.Perm()
		case f.Action == Create:
			fc.Action, fc.After, fc.Mode = Remove, nil, fi.Mode().Perm()
		default:
			fc.Action, fc.After, fc.Mode = Modify, f.Before, f.OldMode.Perm()
		}
		p.Files = append(p.Files, fc)
	}
	return p, info, nil
}

// Pending reports an apply interrupted on the node at root: the changes
// that would finish it, and what happened. It returns nil when there is
// none. It writes nothing. stateDir is the state directory ("" for
// StateDir), as for every function here.
func Pending(root, stateDir string) (*Plan, *Interrupted, error) {
	n, err := openNode(root)
	if err != nil {
		return nil, nil, err
	}
	defer n.close()
	st := stateIn(stateDir)
	j, err := readJournal(n, st.journal())
	if errors.Is(err, fs.ErrPermission) {
		// A preview by a user who may not read the journal (root's, 0600
		// in a 0700 directory): it previews what it can see.
		return nil, nil, nil
	}
	if err != nil || j == nil {
		return nil, nil, err
	}
	j.Root, j.State = root, st
	p, info, err := reconcile(n, j, st.journal(), true)
	if err != nil {
		return nil, nil, err
	}
	p.Warnings = append(p.Warnings, convert.Warning{Code: WarnInterrupted, Pos: convert.Position{File: st.journal()},
		Message: info.String() + "; `certsd-migrate apply` finishes it, `certsd-migrate rollback` undoes it"})
	return p, info, nil
}

// Recover finishes an apply that was interrupted on the node at root and
// returns what it changed (nil when there was none). The caller holds the
// lock.
func Recover(root, stateDir string) (*Plan, *Interrupted, error) {
	n, err := openNode(root)
	if err != nil {
		return nil, nil, err
	}
	defer n.close()
	st := stateIn(stateDir)
	j, err := readJournal(n, st.journal())
	if err != nil || j == nil {
		return nil, nil, err
	}
	j.Root, j.State = root, st
	p, info, err := reconcile(n, j, st.journal(), true)
	if err != nil {
		return nil, nil, err
	}
	if err := carryOut(n, j, p, true); err != nil {
		return nil, nil, fmt.Errorf("finishing the interrupted apply: %w (run again, or `certsd-migrate rollback`)", err)
	}
	if err := commitJournal(n, j, time.Now()); err != nil {
		return nil, nil, fmt.Errorf("finishing the interrupted apply: committing the journal: %w", err)
	}
	return p, info, nil
}

// RollbackPlan is what rollback would do on the node at root: undo the
// interrupted apply if there is one, else the last completed apply. It
// returns a plan with no changes when there is nothing to undo, and the
// interruption if it undoes one. It writes nothing.
func RollbackPlan(root, stateDir string) (*Plan, *Interrupted, error) {
	n, err := openNode(root)
	if err != nil {
		return nil, nil, err
	}
	defer n.close()
	_, p, info, err := rollbackSource(n, root, stateIn(stateDir))
	return p, info, err
}

// rollbackSource finds what rollback undoes: the journal of an interrupted
// apply, else the record of the last completed one (nil when neither
// exists), and the plan that undoes it.
func rollbackSource(n *node, root string, st state) (*journal, *Plan, *Interrupted, error) {
	for _, src := range []string{st.journal(), st.record()} {
		j, err := readJournal(n, src)
		if err != nil {
			return nil, nil, nil, err
		}
		if j == nil {
			continue
		}
		j.Root, j.State = root, st
		p, info, err := reconcile(n, j, src, false)
		if err != nil {
			return nil, nil, nil, err
		}
		if src == st.record() {
			info = nil
		}
		j.source = src
		return j, p, info, nil
	}
	return nil, &Plan{Root: root}, nil, nil
}

// Rollback restores the node at root to its state before the last apply
// (or before an interrupted one): config files get their original bytes,
// mode and owner back first, then the hosts files that apply created are
// removed, then the directories it created if they are empty. Backups are
// kept. It is safe to run again after a crash: each step checks the
// file's state first. The caller holds the lock.
func Rollback(root, stateDir string) (*Plan, error) {
	n, err := openNode(root)
	if err != nil {
		return nil, err
	}
	defer n.close()
	// The journal or record rollbackSource read is the one carried out:
	// reading it again could see another file.
	j, p, _, err := rollbackSource(n, root, stateIn(stateDir))
	if err != nil || j == nil {
		return p, err
	}
	if err := carryOut(n, j, p, false); err != nil {
		return nil, fmt.Errorf("rolling back: %w (run again to continue)", err)
	}
	if err := removeJournal(n, j.source); err != nil {
		return nil, fmt.Errorf("rolling back: the node is restored, but removing %s failed: %w", j.source, err)
	}
	return p, nil
}

// carryOut performs a reconcile plan, one idempotent step at a time: a
// crash midway leaves the journal, and running again continues.
func carryOut(n *node, j *journal, p *Plan, forward bool) error {
	byPath := map[string]journalFile{}
	for _, f := range j.Files {
		byPath[f.Path] = f
	}
	if forward {
		for _, d := range j.Dirs {
			if _, err := n.stat(d); errors.Is(err, fs.ErrNotExist) {
				if err := mkdirNode(n, d, 0o755); err != nil {
					return fmt.Errorf("creating directory %s: %w", d, unwrapPathError(err))
				}
				if err := syncDir(n, path.Dir(d)); err != nil {
					return fmt.Errorf("creating directory %s: %w", d, unwrapPathError(err))
				}
			}
		}
	}
	for _, c := range p.Files {
		removeTemps(n, path.Dir(c.Path))
		f := byPath[c.Path]
		var err error
		switch {
		case c.Action == Unchanged:
			continue
		case c.Action == Remove:
			err = removeCreated(n, c.Path, nil)
			var nd *notDurable
			if errors.As(err, &nd) {
				err = nd.err
			}
		default:
			var o *owner
			if f.Action == Modify {
				o = &owner{f.UID, f.GID}
			}
			// The journal's modes keep the setuid, setgid and sticky bits
			// that the plan's (shown to the user) do not.
			mode := f.Mode
			if !forward {
				mode = f.OldMode
			}
			w := atomicWrite{n: n, path: c.Path, data: c.After, mode: mode, owner: o,
				beforeRename: func() error { return checkStill(n, c) }}
			if err = w.run(); err == nil {
				err = w.syncErr
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.Path, err)
		}
	}
	if !forward {
		for _, d := range slices.Backward(j.Dirs) {
			// A directory that now holds something else stays.
			if err := removeCreated(n, d, nil); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) {
				var nd *notDurable
				if !errors.As(err, &nd) {
					return fmt.Errorf("removing directory %s: %w", d, unwrapPathError(err))
				}
			}
		}
	}
	removeTemps(n, j.State.dir)
	return nil
}

// checkStill refuses to replace a file that changed since reconcile read
// it.
func checkStill(n *node, c FileChange) error {
	cur, _, err := n.readIfExists(c.Path)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, c.Before) || (cur == nil) != (c.Before == nil) {
		return errChanged
	}
	return nil
}
