package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/migrate"
)

// Error kinds in the JSON error object, for automation to branch on.
const (
	kindUsage    = "usage"    // a flag or its value is wrong
	kindSyntax   = "syntax"   // an input file is not valid TOML
	kindInput    = "input"    // an input file holds something that cannot be migrated
	kindConflict = "conflict" // a hosts.toml that certsd-migrate did not write is in the way
	kindWarnings = "warnings" // --fail-on-warnings matched
	kindSystem   = "system"   // reading or writing a file failed
)

// inputError is convert's error for bad input, with its position.
type inputError interface {
	error
	InputPosition() convert.Position
	IsSyntax() bool
}

// usageError is a bad flag value.
type usageError struct{ error }

// errorObject is the JSON form of an error (-o json): {"error": {...}}.
type errorObject struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Kind    string `json:"kind"`
}

// describe classifies err and finds the position it names.
func describe(err error) errorDetail {
	d := errorDetail{Message: err.Error(), Kind: kindSystem}
	var ue usageError
	var ie inputError
	var conflict *migrate.ConflictError
	var we *warningsError
	switch {
	case errors.As(err, &ue):
		d.Kind = kindUsage
	case errors.As(err, &we):
		d.Kind = kindWarnings
		d.File, d.Line, d.Column = we.first.Pos.File, we.first.Pos.Line, we.first.Pos.Col
	case errors.As(err, &conflict):
		d.Kind = kindConflict
		d.File = conflict.Paths[0]
	case errors.As(err, &ie):
		d.Kind = kindInput
		if ie.IsSyntax() {
			d.Kind = kindSyntax
		}
		pos := ie.InputPosition()
		d.File, d.Line, d.Column = pos.File, pos.Line, pos.Col
	}
	return d
}

// fail reports err: one line on stderr, and with -o json the error object
// on stdout too, so automation reading stdout always gets one JSON object.
func (c *invocation) fail(err error, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
	if c.output == "json" {
		encodeError(err, stdout)
	}
	return exitError
}

// encodeError writes err's JSON error object.
func encodeError(err error, stdout io.Writer) {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(errorObject{Error: describe(err)}) // stderr has the message already
}
