package httpapi

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/projections"
)

// CSV is the media type of the tables served as CSV.
const CSV = "text/csv; charset=utf-8"

// states answers GET /v1/states: one row per State, as JSON or CSV.
func (s *Server) states(w http.ResponseWriter, r *http.Request) *Error {
	asCSV, e := wantsCSV(r)
	if e != nil {
		return e
	}
	rule, e := annualRule(r)
	if e != nil {
		return e
	}
	q, b, e := s.querierAndBounds(r)
	if e != nil {
		return e
	}
	sts, err := q.Statuses(r.Context(), b)
	if err != nil {
		return fromError(err)
	}
	t := projections.TableOf(b, projections.Options{AnnualRule: rule}, sts)
	w.Header().Add("Vary", "Accept")
	noteQuarantined(w, t)
	if !asCSV {
		writeJSON(w, http.StatusOK, t)
		return nil
	}
	// Written whole, so that a failure is still a JSON error, not half a
	// file.
	var buf bytes.Buffer
	if err := projections.WriteRowsCSV(&buf, t.States); err != nil {
		return fromError(err)
	}
	w.Header().Set("Content-Type", CSV)
	w.Header().Set("Content-Disposition", `attachment; filename="ccm-states-`+t.AsOf.String()+`.csv"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// wantsCSV reads the format parameter (json or csv), and without it the
// Accept header: CSV when text/csv comes before application/json among the
// types accepted.
func wantsCSV(r *http.Request) (bool, *Error) {
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, errorf(http.StatusBadRequest, CodeBadRequest, "bad format",
			FieldError{Field: "format", Reason: strconv.Quote(f) + " is not json or csv"})
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "text/csv":
			return true, nil
		case "application/json", "*/*", "application/*":
			return false, nil
		}
	}
	return false, nil
}
