package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// Exit codes. They are part of the command's contract.
const (
	exitOK       = 0  // success
	exitFailure  = 1  // the ledger could not be reached or read, or an unexpected failure
	exitUsage    = 2  // bad command line: unknown command or flag, missing argument, bad flag value
	exitInvalid  = 3  // invalid input: malformed events (every bad line is printed)
	exitRejected = 4  // an event is impossible under the Convention's rules (every one is printed)
	exitConflict = 5  // concurrent appends kept conflicting; nothing was recorded by this command
	exitNotFound = 6  // unknown State, meeting or event
	exitIDTaken  = 7  // an event's id is already recorded with other content; nothing was recorded
	exitVerify   = 8  // verify found stored messages that no view counts (quarantined)
	exitDamaged  = 9  // the log, an export or a proof is not the history the ledger's checkpoints signed
	exitCheck    = 10 // cluster check: the running deployment differs from deploy/
)

const exitCodesHelp = `Exit codes of ccm:
  0  success (also when an event was already recorded: nothing new to record)
  1  the ledger could not be reached or read, or an unexpected failure
  2  bad command line: unknown command or flag, missing argument, bad flag value
  3  invalid input: malformed events (every bad line is printed with its field and reason)
  4  an event is impossible under the Convention's rules (every one is printed with the rule)
  5  concurrent appends kept conflicting; nothing was recorded by this command
  6  unknown State, meeting or event
  7  an event's id is already recorded for another event (ids are forever); nothing was recorded
  8  verify: the log holds stored messages that no view counts (quarantined; every one is listed)
  9  tampered or damaged: the log, an export or a proof is not the history the ledger's checkpoints
     signed (a message edited, missing, added or moved, a checkpoint of another key, a stream that
     may drop messages); the first bad sequence is named. Every command stops on such a log unless
     --allow-damaged, and nothing is recorded on it (docs/recovery.md)
  10 cluster check: the running deployment differs from deploy/ (every failed check is listed)
`

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// notFoundError is an unknown State, meeting or event.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

func notFoundf(format string, args ...any) error { return &notFoundError{fmt.Sprintf(format, args...)} }

// exitCode maps an error to the process exit code: the one place where
// errors become exit codes.
func exitCode(err error) int {
	var (
		ue *usageError
		nf *notFoundError
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &nf), errors.Is(err, projections.ErrUnknownMeeting):
		return exitNotFound
	case errors.Is(err, evidence.ErrTampered), errors.Is(err, jslog.ErrUnfit):
		return exitDamaged
	case errors.Is(err, errVerifyFound):
		return exitVerify
	case errors.Is(err, errCheckFailed):
		return exitCheck
	case errors.Is(err, events.ErrIDConflict):
		return exitIDTaken
	case errors.Is(err, events.ErrRejected):
		return exitRejected
	case errors.Is(err, events.ErrInvalid):
		return exitInvalid
	case errors.Is(err, events.ErrConflict):
		return exitConflict
	}
	return exitFailure
}

// printError writes an error for people: every problem of an invalid input
// on its own line, with its line, field and reason.
func (m *Main) printError(err error) {
	var (
		ie  *events.InputError
		fe  *events.FieldError
		imp *importError
	)
	switch {
	case errors.As(err, &imp):
		fmt.Fprintf(m.Stderr, "ccm: %s: nothing was recorded; %d event(s) are refused by the Convention's rules or take an id already held:\n", imp.input, len(imp.problems))
		for _, p := range imp.problems {
			fmt.Fprintf(m.Stderr, "  %s\n", p)
		}
	case errors.As(err, &ie):
		fmt.Fprintf(m.Stderr, "ccm: invalid input: nothing was recorded; %d problem(s):\n", len(ie.Problems))
		for _, p := range ie.Problems {
			fmt.Fprintf(m.Stderr, "  %s\n", p)
		}
	case errors.As(err, &fe):
		fmt.Fprintf(m.Stderr, "ccm: invalid event: %s\n", fe)
	case errors.As(err, new(errDamaged)):
		// Printed with every problem when found.
	default:
		msg := err.Error()
		var rj *aggregates.Rejection
		if errors.As(err, &rj) {
			msg = "rejected by rule " + rj.Rule + ": " + rj.Reason
		}
		fmt.Fprintf(m.Stderr, "ccm: %s\n", strings.TrimSpace(msg))
	}
}

// importError is an import rejected by the Convention's rules, with the
// input line of each impossible event.
type importError struct {
	input    string
	problems []string
	err      error
}

func (e *importError) Error() string { return e.input + ": " + e.err.Error() }
func (e *importError) Unwrap() error { return e.err }
