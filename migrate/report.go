package migrate

import (
	"fmt"
	"io"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// Report is the machine-readable form of a plan (--output json). Its shape
// suits Ansible: changed for changed_when, files with before/after for its
// diff mode, warnings with stable codes.
type Report struct {
	Changed  bool              `json:"changed"`
	CertsDir string            `json:"certs_dir,omitempty"`
	Files    []FileReport      `json:"files"`
	Warnings []convert.Warning `json:"warnings"`
	// Backups lists the backups apply made.
	Backups []string `json:"backups,omitempty"`
	// NoConfig: there is no containerd config, so containerd runs on
	// its defaults and there is nothing to migrate.
	NoConfig bool `json:"no_config,omitempty"`
}

// FileReport is one file of a Report.
type FileReport struct {
	Path   string `json:"path"`
	Kind   Kind   `json:"kind"`
	Action Action `json:"action"`
	Mode   string `json:"mode"`
	Before string `json:"before"`
	After  string `json:"after"`
	Diff   string `json:"diff"`
}

// Report renders the plan; secrets are redacted unless showSecrets.
func (p *Plan) Report(showSecrets bool) Report {
	r := Report{Changed: p.Changed(), CertsDir: p.CertsDir, Files: []FileReport{}, Warnings: append([]convert.Warning{}, p.Warnings...), NoConfig: p.NoConfig}
	redact := p.redactor(showSecrets)
	for _, f := range p.Files {
		fr := FileReport{Path: f.Path, Kind: f.Kind, Action: f.Action, Mode: fmt.Sprintf("%04o", f.Mode),
			Before: string(f.Before), After: string(f.After)}
		if f.Action != Unchanged {
			fr.Diff = fileDiff(f, redact)
		}
		if redact != nil {
			fr.Before, fr.After = redact(fr.Before), redact(fr.After)
		}
		r.Files = append(r.Files, fr)
	}
	if redact != nil {
		for i := range r.Warnings {
			r.Warnings[i].Message = redact(r.Warnings[i].Message)
		}
	}
	return r
}

// WriteDiff writes the unified diff of every changed file.
func (p *Plan) WriteDiff(w io.Writer, color, showSecrets bool) error {
	redact := p.redactor(showSecrets)
	for _, f := range p.Files {
		if f.Action == Unchanged {
			continue
		}
		d := fileDiff(f, redact)
		if d == "" && f.Action == Modify {
			// Only the mode differs.
			d = fmt.Sprintf("--- a%s\n+++ b%s\n# mode becomes %04o\n", f.Path, f.Path, f.Mode)
		}
		if color {
			d = colorize(d)
		}
		if _, err := io.WriteString(w, d); err != nil {
			return err
		}
	}
	return nil
}

// WriteWarnings writes one line per warning.
func (p *Plan) WriteWarnings(w io.Writer, showSecrets bool) error {
	redact := p.redactor(showSecrets)
	for _, warn := range p.Warnings {
		line := warn.String()
		if redact != nil {
			line = redact(line)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// WriteErrors writes the warnings as errors (--strict).
func (p *Plan) WriteErrors(w io.Writer, showSecrets bool) error {
	redact := p.redactor(showSecrets)
	for _, warn := range p.Warnings {
		line := fmt.Sprintf("certsd-migrate: %s: error: %s [%s]", warn.Pos, warn.Message, warn.Code)
		if redact != nil {
			line = redact(line)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// Summary is the one-line summary of a plan.
func (p *Plan) Summary() string {
	var create, modify, remove int
	for _, f := range p.Files {
		switch f.Action {
		case Create:
			create++
		case Modify:
			modify++
		case Remove:
			remove++
		}
	}
	parts := []string{plural(create, "file") + " to create", fmt.Sprintf("%d to modify", modify)}
	if remove > 0 {
		parts = append(parts, fmt.Sprintf("%d to remove", remove))
	}
	if len(p.Warnings) > 0 {
		parts = append(parts, plural(len(p.Warnings), "warning"))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// fileDiff is the unified diff of one planned file. A file that goes
// (rollback's Remove) is diffed against /dev/null, as a new one is; the
// action says so, not an empty After (an emptied config is modified).
func fileDiff(f FileChange, redact func(string) string) string {
	d := unifiedDiff(f.Path, f.Before, f.After, redact)
	if f.Action == Remove {
		d = strings.Replace(d, "\n+++ b"+f.Path+"\n", "\n+++ /dev/null\n", 1)
	}
	return d
}
