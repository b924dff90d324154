package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// Error is the body of every error response:
// {"error": {"code", "message", "fields": [{"line", "field", "reason"}]}}.
type Error struct {
	Status  int          `json:"-"`
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Rule    string       `json:"rule,omitempty"`
	Fields  []FieldError `json:"fields,omitempty"`
	// challenge is added to the WWW-Authenticate header of a 401.
	challenge string
}

// FieldError is one invalid field: Line is the 1-based position of the event
// in a batch (0 for a single event or a query parameter), Field the wire
// name of the field or the query parameter.
type FieldError struct {
	Line   int    `json:"line,omitempty"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string { return e.Message }

// The error codes of the API.
const (
	CodeBadRequest       = "bad-request"        // 400: a bad query parameter
	CodeMalformed        = "malformed-json"     // 400: the body is not JSON
	CodeUnauthorized     = "unauthorized"       // 401: no credential, or a wrong one
	CodeReadOnly         = "read-only"          // 403: a write to a read-only API
	CodeCrossOrigin      = "cross-origin"       // 403: a write from another origin
	CodeNotFound         = "not-found"          // 404: no such route, State or meeting
	CodeMethodNotAllowed = "method-not-allowed" // 405
	CodeConflict         = "conflict"           // 409: concurrent appends kept conflicting
	CodeIDConflict       = "id-conflict"        // 409: an id already names another recorded event
	CodeTooLarge         = "too-large"          // 413
	CodeUnsupportedType  = "unsupported-media"  // 415: not application/json
	CodeUnknownHost      = "unknown-host"       // 421: a Host name the server is not configured for
	CodeInvalid          = "invalid"            // 422: a malformed event (field errors)
	CodeRejected         = "rejected"           // 422: impossible under the Convention's rules
	CodeInternal         = "internal"           // 500
	CodeUnavailable      = "unavailable"        // 503: the ledger cannot be reached
	CodeDamaged          = "damaged"            // 503: the log fails its check against its checkpoints; nothing is recorded
)

func errorf(status int, code, msg string, fields ...FieldError) *Error {
	return &Error{Status: status, Code: code, Message: msg, Fields: fields}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`+e.challenge)
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}

// fromError maps an error of the domain or of the log to its response: the
// one place where errors become HTTP statuses.
// errNotFound marks an unknown event.
var errNotFound = errors.New("not found")

// NotFound returns an error the API answers with 404.
func NotFound(msg string) error { return fmt.Errorf("%s: %w", msg, errNotFound) }

func fromError(err error) *Error {
	var (
		he  *Error
		rj  *aggregates.Rejection
		ie  *events.InputError
		fe  *events.FieldError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is larger than "+byteSize(mbe.Limit))
	case errors.Is(err, events.ErrIDConflict):
		// Before ErrInvalid and ErrConflict, which a wrapping may add:
		// retrying cannot help, the id is taken for good.
		return errorf(http.StatusConflict, CodeIDConflict, err.Error()+"; nothing was recorded: an id names one fact forever")
	case errors.As(err, &rj):
		e := errorf(http.StatusUnprocessableEntity, CodeRejected, "rejected by rule "+rj.Rule+": "+rj.Reason)
		e.Rule = rj.Rule
		return e
	case errors.As(err, &ie):
		e := errorf(http.StatusUnprocessableEntity, CodeInvalid, "invalid event")
		for _, p := range ie.Problems {
			e.Fields = append(e.Fields, FieldError{Line: p.Line, Field: p.Field, Reason: p.Reason})
		}
		return e
	case errors.As(err, &fe):
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, "invalid event", FieldError{Line: fe.Line, Field: fe.Field, Reason: fe.Reason})
	case errors.Is(err, events.ErrInvalid):
		return errorf(http.StatusUnprocessableEntity, CodeInvalid, err.Error())
	case errors.Is(err, events.ErrConflict):
		return errorf(http.StatusConflict, CodeConflict, "concurrent appends to this State kept conflicting; nothing was recorded: retry")
	case errors.Is(err, projections.ErrUnknownMeeting), errors.Is(err, projections.ErrUnknownState):
		return errorf(http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, evidence.ErrTampered):
		return errorf(http.StatusServiceUnavailable, CodeDamaged, err.Error())
	case errors.Is(err, errNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "the ledger did not answer in time")
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "internal error")
}

// boundsError maps a failure to resolve as_of / known_at to a 400 naming
// the parameter (or a 404 for an unknown meeting).
func boundsError(err error, asOfParam string) *Error {
	if errors.Is(err, projections.ErrUnknownMeeting) {
		return errorf(http.StatusNotFound, CodeNotFound, err.Error(), FieldError{Field: asOfParam, Reason: err.Error()})
	}
	msg := err.Error()
	field := asOfParam
	if strings.HasPrefix(msg, "known-at") {
		field = "known_at"
	}
	if strings.HasPrefix(msg, "as-of") || strings.HasPrefix(msg, "known-at") {
		return errorf(http.StatusBadRequest, CodeBadRequest, "bad "+field, FieldError{Field: field, Reason: msg})
	}
	return fromError(err)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
