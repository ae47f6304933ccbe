package migrate

import (
	"fmt"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// contextLines is the number of unchanged lines around each change, as in
// diff -u.
const contextLines = 3

// line is one line of a line-level diff.
type line struct {
	op   diffmatchpatch.Operation
	text string // without its newline
	// noEOL marks a last line without a newline.
	noEOL bool
}

// unifiedDiff returns the unified diff between before and after, with
// git-style a/ and b/ names; a nil before is a new file. A non-nil redact
// hides credentials in the printed lines (the diff itself is computed on the
// real content, so a changed secret still shows as a changed line).
func unifiedDiff(path string, before, after []byte, redact func(string) string) string {
	lines := diffLines(string(before), string(after))
	changed := false
	for _, l := range lines {
		if l.op != diffmatchpatch.DiffEqual {
			changed = true
			break
		}
	}
	if !changed {
		return ""
	}
	var b strings.Builder
	from := "a" + path
	if before == nil {
		from = "/dev/null"
	}
	fmt.Fprintf(&b, "--- %s\n+++ b%s\n", from, path)
	for _, h := range hunks(lines) {
		writeHunk(&b, lines[h[0]:h[1]], lineNumbers(lines, h[0]), redact)
	}
	return b.String()
}

func diffLines(before, after string) []line {
	dmp := diffmatchpatch.New()
	a, b, table := dmp.DiffLinesToChars(before, after)
	diffs := dmp.DiffCharsToLines(dmp.DiffMain(a, b, false), table)
	var out []line
	for _, d := range diffs {
		text := d.Text
		for text != "" {
			i := strings.IndexByte(text, '\n')
			if i < 0 {
				out = append(out, line{op: d.Type, text: text, noEOL: true})
				break
			}
			out = append(out, line{op: d.Type, text: text[:i]})
			text = text[i+1:]
		}
	}
	return out
}

// hunks groups changes with their context into [start, end) ranges.
func hunks(lines []line) [][2]int {
	var out [][2]int
	for i := 0; i < len(lines); i++ {
		if lines[i].op == diffmatchpatch.DiffEqual {
			continue
		}
		start := max(i-contextLines, 0)
		end := i
		// Extend while the next change is within twice the context.
		for j := i; j < len(lines); j++ {
			if lines[j].op != diffmatchpatch.DiffEqual {
				end = j + 1
				continue
			}
			if j-end >= 2*contextLines {
				break
			}
		}
		end = min(end+contextLines, len(lines))
		if n := len(out); n > 0 && out[n-1][1] >= start {
			out[n-1][1] = end
		} else {
			out = append(out, [2]int{start, end})
		}
		i = end - 1
	}
	return out
}

// lineNumbers returns the 1-based old and new line numbers of lines[at].
func lineNumbers(lines []line, at int) [2]int {
	n := [2]int{1, 1}
	for _, l := range lines[:at] {
		if l.op != diffmatchpatch.DiffInsert {
			n[0]++
		}
		if l.op != diffmatchpatch.DiffDelete {
			n[1]++
		}
	}
	return n
}

func writeHunk(b *strings.Builder, lines []line, start [2]int, redact func(string) string) {
	var oldN, newN int
	for _, l := range lines {
		if l.op != diffmatchpatch.DiffInsert {
			oldN++
		}
		if l.op != diffmatchpatch.DiffDelete {
			newN++
		}
	}
	fmt.Fprintf(b, "@@ -%s +%s @@\n", hunkRange(start[0], oldN), hunkRange(start[1], newN))
	for _, l := range lines {
		prefix := " "
		switch l.op {
		case diffmatchpatch.DiffDelete:
			prefix = "-"
		case diffmatchpatch.DiffInsert:
			prefix = "+"
		}
		text := l.text
		if redact != nil {
			text = redact(text)
		}
		b.WriteString(prefix + text + "\n")
		if l.noEOL {
			b.WriteString("\\ No newline at end of file\n")
		}
	}
}

// hunkRange formats a hunk's line range the way diff -u does: an empty
// range names the line before it.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

// colorize adds terminal colours to a unified diff.
func colorize(diff string) string {
	const (
		bold  = "\x1b[1m"
		red   = "\x1b[31m"
		green = "\x1b[32m"
		cyan  = "\x1b[36m"
		reset = "\x1b[0m"
	)
	lines := strings.SplitAfter(diff, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		body := strings.TrimSuffix(l, "\n")
		color := ""
		switch {
		case strings.HasPrefix(l, "--- "), strings.HasPrefix(l, "+++ "):
			color = bold
		case strings.HasPrefix(l, "@@"):
			color = cyan
		case strings.HasPrefix(l, "-"):
			color = red
		case strings.HasPrefix(l, "+"):
			color = green
		}
		if color == "" {
			b.WriteString(l)
			continue
		}
		b.WriteString(color + body + reset + l[len(body):])
	}
	return b.String()
}
