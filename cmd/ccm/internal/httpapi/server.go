// Package httpapi is the HTTP API of `ccm serve`: the same views as the
// command line (status, report, diff, history, meetings, the events of the
// log) in the same JSON shapes as its --format json, recording events
// validated by the aggregates, health and Prometheus metrics, and the
// OpenAPI document at /v1/openapi.json. Every request passes an Access
// first: the Host names it answers, read-only mode, the origin of writes,
// and the credential (a bearer token or a verified client certificate).
//
// It depends on small interfaces (a Recorder, a Querier, an EventLog) so
// that it runs in tests with net/http/httptest on a real embedded ledger.
package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Recorder decides and records the events of one command
// (aggregates.Ledger).
type Recorder interface {
	// RecordCommand records the events of one command that the ledger
	// does not hold yet and says where each is stored; see
	// aggregates.Ledger.RecordCommand for the errors.
	RecordCommand(ctx context.Context, evs ...events.Envelope) ([]aggregates.Outcome, error)
}

// Querier answers the read views (projections.Engine).
type Querier interface {
	Resolve(ctx context.Context, asOf, knownAt string, today events.Date) (projections.Bounds, error)
	Status(ctx context.Context, iso3 string, b projections.Bounds) (projections.Status, error)
	Report(ctx context.Context, b projections.Bounds) (projections.Report, error)
	Diff(ctx context.Context, from, to projections.Bounds) (projections.Diff, error)
	History(ctx context.Context, iso3 string, b projections.Bounds) (projections.History, error)
	Meetings(ctx context.Context, b projections.Bounds) ([]projections.Meeting, error)
	// Statuses returns the status of every State the ledger holds a fact
	// of by b.AsOf, sorted by code.
	Statuses(ctx context.Context, b projections.Bounds) ([]projections.Status, error)
}

// EventLog reads the log (jslog.Log).
type EventLog interface {
	Read(ctx context.Context, o jslog.ReadOptions, fn func(events.Envelope) error) (uint64, error)
	Head(ctx context.Context) (jslog.Head, error)
}

// Config wires the server.
type Config struct {
	Recorder Recorder
	// Querier returns the query side for the given options (one per
	// annual-report rule; the server keeps them).
	Querier func(projections.Options) Querier
	Log     EventLog
	// Store, when set, gives the append counters for /metrics.
	Store *CountingStore
	// Projector, when set, gives the projector's counters for /metrics
	// and /healthz.
	Projector func() projector.Stats
	// ViewsSeq, when set, gives the last sequence the fold the views
	// answer from has read, for /healthz and /metrics.
	ViewsSeq func() uint64
	// Quarantined, when set, counts the stored messages of the log that
	// no view counts, for /metrics.
	Quarantined func() int
	// Now is the clock ("today" for as_of); default time.Now.
	Now func() time.Time
	// MaxBody bounds a request body; default DefaultMaxBody.
	MaxBody int64
	// Timeout bounds the work of one request; default 30 seconds.
	Timeout time.Duration
	// Logger receives internal errors; default the standard logger.
	Logger *log.Logger
	// Access says under which names the API answers and who may use it.
	Access Access
	// Evidence, when set, gives the checkpoints and proofs.
	Evidence Evidence
}

// DefaultMaxBody bounds a request body: room for a batch of
// jslog.MaxBatch events of a few kilobytes each.
const DefaultMaxBody = 4 << 20

// Limits of GET /v1/events.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	guard  *guard
	access map[string]access // by mux pattern, "METHOD /path"
	m      metrics
	mu     sync.Mutex
	byRule map[string]Querier
}

// route is one operation of the API; the OpenAPI document lists the same,
// with the security its access implies.
type route struct {
	method, pattern string
	access          access
	params          []string // allowed query parameters
	handle          func(s *Server, w http.ResponseWriter, r *http.Request) *Error
}

var routes = []route{
	{"GET", "/v1/states/{iso3}", accessRead, []string{"as_of", "known_at", "annual_rule"}, (*Server).status},
	{"GET", "/v1/states/{iso3}/history", accessRead, []string{"as_of", "known_at", "annual_rule"}, (*Server).history},
	{"GET", "/v1/states", accessRead, []string{"as_of", "known_at", "annual_rule", "format"}, (*Server).states},
	{"GET", "/v1/report", accessRead, []string{"as_of", "known_at", "annual_rule"}, (*Server).report},
	{"GET", "/v1/diff", accessRead, []string{"from", "to", "known_at", "annual_rule"}, (*Server).diff},
	{"GET", "/v1/events", accessRead, []string{"state", "type", "from_seq", "to_seq", "limit"}, (*Server).listEvents},
	{"POST", "/v1/events", accessWrite, nil, (*Server).postEvents},
	{"GET", "/v1/meetings", accessRead, []string{"known_at"}, (*Server).meetings},
	{"GET", "/v1/checkpoints", accessRead, nil, (*Server).checkpoints},
	{"GET", "/v1/proofs/{id}", accessRead, nil, (*Server).proof},
	{"GET", "/v1/openapi.json", accessRead, nil, (*Server).openapi},
	// Open, so that a probe needs no secret; it tells only whether the
	// log answers and how far the projector is.
	{"GET", "/healthz", accessOpen, nil, (*Server).healthz},
	{"GET", "/metrics", accessRead, nil, (*Server).metrics},
}

// Routes returns the operations of the API, "METHOD /path" with path
// parameters in braces as in the OpenAPI document.
func Routes() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.method + " " + rt.pattern
	}
	return out
}

// New returns the API server.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), guard: newGuard(cfg.Access), access: map[string]access{}, byRule: map[string]Querier{}}
	for _, rt := range routes {
		rt := rt
		s.access[rt.method+" "+rt.pattern] = rt.access
		s.mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if e := checkParams(r.URL.Query(), rt.params); e != nil {
				s.fail(w, rt.pattern, e)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), cfg.Timeout)
			defer cancel()
			s.noteEvidence(w)
			rec := &statusRecorder{ResponseWriter: w}
			if e := rt.handle(s, rec, r.WithContext(ctx)); e != nil {
				s.fail(rec, rt.pattern, e)
				return
			}
			s.m.request(rt.pattern, rec.status)
		})
	}
	return s
}

// ServeHTTP serves the API. Every request passes the Access first, routed
// or not. Requests no route matches get a JSON 404, or a JSON 405 with the
// Allow header.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Logger.Printf("http: panic serving %s %s: %v", r.Method, r.URL.Path, v)
			s.fail(w, "panic", errorf(http.StatusInternalServerError, CodeInternal, "internal error"))
		}
	}()
	securityHeaders(w.Header())
	h, pattern := s.mux.Handler(r)
	label, need := "unrouted", methodAccess(r.Method)
	if a, ok := s.access[pattern]; ok {
		_, label, _ = strings.Cut(pattern, " ")
		need = a
	}
	if e := s.guard.check(r, need); e != nil {
		s.fail(w, label, e)
		return
	}
	if pattern != "" {
		// Served by the mux itself, which sets the path values.
		s.mux.ServeHTTP(w, r)
		return
	}
	// The mux's own 404 or 405: run it on a recorder to learn which, and
	// answer in JSON.
	rec := &bufferedWriter{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.fail(w, "unrouted", errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow"))))
		return
	}
	s.fail(w, "unrouted", errorf(http.StatusNotFound, CodeNotFound, "no such resource: "+r.URL.Path+" (see /v1/openapi.json)"))
}

func (s *Server) fail(w http.ResponseWriter, route string, e *Error) {
	if e.Status >= 500 {
		s.cfg.Logger.Printf("http: %s: %s", route, e.Message)
	}
	s.m.request(route, e.Status)
	writeError(w, e)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

type bufferedWriter struct {
	header http.Header
	status int
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) { return len(p), nil }
func (b *bufferedWriter) WriteHeader(code int)        { b.status = code }

// checkParams refuses unknown and repeated query parameters: a misspelt
// as_of must not silently give today's view.
func checkParams(q url.Values, allowed []string) *Error {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	var fields []FieldError
	for k, vs := range q {
		switch {
		case !ok[k]:
			reason := "is not a parameter of this operation"
			if len(allowed) > 0 {
				reason += " (" + strings.Join(allowed, ", ") + ")"
			}
			fields = append(fields, FieldError{Field: k, Reason: reason})
		case len(vs) > 1:
			fields = append(fields, FieldError{Field: k, Reason: "is given more than once"})
		}
	}
	if len(fields) > 0 {
		sortFields(fields)
		return errorf(http.StatusBadRequest, CodeBadRequest, "bad query parameters", fields...)
	}
	return nil
}

func sortFields(fs []FieldError) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Field < fs[j-1].Field; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

func (s *Server) today() events.Date { return events.DateOf(s.cfg.Now()) }

// annualRule is the rule the annual_rule parameter names.
func annualRule(r *http.Request) (aggregates.AnnualRule, *Error) {
	name := r.URL.Query().Get("annual_rule")
	if name == "" {
		name = aggregates.DefaultAnnualRule.Name
	}
	rule, ok := aggregates.AnnualRuleByName(name)
	if !ok {
		var names []string
		for _, r := range aggregates.AnnualRules() {
			names = append(names, r.Name)
		}
		return rule, errorf(http.StatusBadRequest, CodeBadRequest, "bad annual_rule",
			FieldError{Field: "annual_rule", Reason: strconv.Quote(name) + " is not one of " + strings.Join(names, ", ")})
	}
	return rule, nil
}

// querier returns the query side for the annual_rule parameter.
func (s *Server) querier(r *http.Request) (Querier, *Error) {
	rule, e := annualRule(r)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.byRule[rule.Name]
	if !ok {
		q = s.cfg.Querier(projections.Options{AnnualRule: rule})
		s.byRule[rule.Name] = q
	}
	return q, nil
}

// querierAndBounds is the querier for the request's annual_rule and the
// bounds its as_of and known_at give.
func (s *Server) querierAndBounds(r *http.Request) (Querier, projections.Bounds, *Error) {
	q, e := s.querier(r)
	if e != nil {
		return nil, projections.Bounds{}, e
	}
	b, e := s.bounds(r, q)
	return q, b, e
}

// bounds resolves as_of and known_at.
func (s *Server) bounds(r *http.Request, q Querier) (projections.Bounds, *Error) {
	b, err := q.Resolve(r.Context(), r.URL.Query().Get("as_of"), r.URL.Query().Get("known_at"), s.today())
	if err != nil {
		return b, boundsError(err, "as_of")
	}
	return b, nil
}

// stateParam resolves the {iso3} path parameter: an ISO3 code in any case.
func stateParam(r *http.Request) (string, *Error) {
	v := r.PathValue("iso3")
	if c, ok := events.LookupState(strings.ToUpper(v)); ok {
		return c.ISO3, nil
	}
	return "", errorf(http.StatusNotFound, CodeNotFound, strconv.Quote(v)+" is not the ISO 3166-1 alpha-3 code of a State",
		FieldError{Field: "iso3", Reason: "unknown State code"})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) *Error {
	return s.stateView(w, r, func(ctx context.Context, q Querier, iso3 string, b projections.Bounds) (any, error) {
		return q.Status(ctx, iso3, b)
	})
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) *Error {
	return s.stateView(w, r, func(ctx context.Context, q Querier, iso3 string, b projections.Bounds) (any, error) {
		return q.History(ctx, iso3, b)
	})
}

// stateView answers a view of the State named in the path, as of and known
// at the query's bounds.
func (s *Server) stateView(w http.ResponseWriter, r *http.Request, view func(context.Context, Querier, string, projections.Bounds) (any, error)) *Error {
	iso3, e := stateParam(r)
	if e != nil {
		return e
	}
	return s.boundedView(w, r, func(ctx context.Context, q Querier, b projections.Bounds) (any, error) {
		return view(ctx, q, iso3, b)
	})
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) *Error {
	return s.boundedView(w, r, func(ctx context.Context, q Querier, b projections.Bounds) (any, error) {
		return q.Report(ctx, b)
	})
}

// boundedView answers a view as of and known at the query's bounds.
func (s *Server) boundedView(w http.ResponseWriter, r *http.Request, view func(context.Context, Querier, projections.Bounds) (any, error)) *Error {
	q, b, e := s.querierAndBounds(r)
	if e != nil {
		return e
	}
	v, err := view(r.Context(), q, b)
	if err != nil {
		return fromError(err)
	}
	noteQuarantined(w, v)
	writeJSON(w, http.StatusOK, v)
	return nil
}

// QuarantinedHeader says, on the answer of a view, how many stored
// messages up to the view's sequence no view counts (`ccm verify` lists
// them); absent when there are none.
const QuarantinedHeader = "Ccm-Quarantined"

func noteQuarantined(w http.ResponseWriter, v any) {
	var k projections.KnownAt
	switch v := v.(type) {
	case projections.Status:
		k = v.KnownAt
	case projections.Report:
		k = v.KnownAt
	case projections.History:
		k = v.KnownAt
	case projections.Diff:
		k = v.To.KnownAt
	case projections.StatesTable:
		k = v.KnownAt
	}
	if k.Quarantined > 0 {
		w.Header().Set(QuarantinedHeader, strconv.Itoa(k.Quarantined))
	}
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) *Error {
	q, e := s.querier(r)
	if e != nil {
		return e
	}
	var fields []FieldError
	for _, p := range []string{"from", "to"} {
		if strings.TrimSpace(r.URL.Query().Get(p)) == "" {
			fields = append(fields, FieldError{Field: p, Reason: "is required: a date (YYYY-MM-DD) or a meeting code"})
		}
	}
	if len(fields) > 0 {
		return errorf(http.StatusBadRequest, CodeBadRequest, "from and to are required", fields...)
	}
	knownAt := r.URL.Query().Get("known_at")
	from, err := q.Resolve(r.Context(), r.URL.Query().Get("from"), knownAt, s.today())
	if err != nil {
		return boundsError(err, "from")
	}
	to, err := q.Resolve(r.Context(), r.URL.Query().Get("to"), knownAt, s.today())
	if err != nil {
		return boundsError(err, "to")
	}
	if from.AsOf > to.AsOf {
		return errorf(http.StatusBadRequest, CodeBadRequest, "from is after to",
			FieldError{Field: "from", Reason: fmt.Sprintf("%s is after to (%s)", from.AsOf, to.AsOf)})
	}
	d, err := q.Diff(r.Context(), from, to)
	if err != nil {
		return fromError(err)
	}
	noteQuarantined(w, d)
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) meetings(w http.ResponseWriter, r *http.Request) *Error {
	q, e := s.querier(r)
	if e != nil {
		return e
	}
	b, err := q.Resolve(r.Context(), "", r.URL.Query().Get("known_at"), s.today())
	if err != nil {
		return boundsError(err, "known_at")
	}
	ms, err := q.Meetings(r.Context(), projections.Bounds{KnownAtSeq: b.KnownAtSeq, KnownAtTime: b.KnownAtTime})
	if err != nil {
		return fromError(err)
	}
	if ms == nil {
		ms = []projections.Meeting{}
	}
	writeJSON(w, http.StatusOK, ms)
	return nil
}

// EventsPage is the body of GET /v1/events.
type EventsPage struct {
	Events []events.Envelope `json:"events"`
	// NextFromSeq, when set, is the from_seq of the next page.
	NextFromSeq uint64 `json:"next_from_seq,omitempty"`
	// LastSeq is the last stream sequence the page covers.
	LastSeq uint64 `json:"last_seq"`
}

var errPageFull = errors.New("page full")

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) *Error {
	q := r.URL.Query()
	var fields []FieldError
	var o jslog.ReadOptions
	if v := q.Get("state"); v != "" {
		if strings.EqualFold(v, events.ConventionScope) {
			o.Scope = events.ConventionScope
		} else if c, ok := events.LookupState(strings.ToUpper(v)); ok {
			o.Scope = c.ISO3
		} else {
			fields = append(fields, FieldError{Field: "state", Reason: strconv.Quote(v) + " is not an ISO3 State code or \"convention\""})
		}
	}
	var typ events.Type
	if v := q.Get("type"); v != "" {
		typ = events.Type(v)
		if !typ.Known() {
			fields = append(fields, FieldError{Field: "type", Reason: strconv.Quote(v) + " is not an event type"})
		}
	}
	num := func(name string, def, lo, hi uint64) uint64 {
		v := q.Get(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < lo || n > hi {
			fields = append(fields, FieldError{Field: name, Reason: fmt.Sprintf("%q is not a whole number from %d to %d", v, lo, hi)})
			return def
		}
		return n
	}
	o.FromSeq = num("from_seq", 1, 1, 1<<62)
	o.UpToSeq = num("to_seq", 0, 1, 1<<62)
	limit := int(num("limit", DefaultPageSize, 1, MaxPageSize))
	if len(fields) > 0 {
		return errorf(http.StatusBadRequest, CodeBadRequest, "bad query parameters", fields...)
	}
	page := EventsPage{Events: []events.Envelope{}}
	// The stored messages of the page's range that are not events of
	// their subjects: skipped, and counted in the header.
	var notEvents []uint64
	o.Quarantine = func(q events.Quarantined) { notEvents = append(notEvents, q.Seq) }
	last, err := s.cfg.Log.Read(r.Context(), o, func(e events.Envelope) error {
		if typ != "" && e.Type != typ {
			return nil
		}
		if len(page.Events) == limit {
			page.NextFromSeq = e.Seq
			return errPageFull
		}
		page.Events = append(page.Events, e)
		return nil
	})
	switch {
	case errors.Is(err, errPageFull):
		page.LastSeq = page.NextFromSeq - 1
	case err != nil:
		return fromError(err)
	default:
		page.LastSeq = last
	}
	n := 0
	for _, seq := range notEvents {
		if seq <= page.LastSeq {
			n++
		}
	}
	if n > 0 {
		w.Header().Set(QuarantinedHeader, strconv.Itoa(n))
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// Recorded is one event of a POST /v1/events answer.
type Recorded struct {
	ID      string `json:"id"`
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	// Status is "created", or "existing" for an identical event the
	// ledger already held.
	Status string `json:"status"`
}

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) *Error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "the body must be JSON: Content-Type: application/json (got "+strconv.Quote(ct)+")")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fromError(err)
		}
		return errorf(http.StatusBadRequest, CodeBadRequest, "cannot read the body: "+err.Error())
	}
	evs, batch, e := decodeBody(body)
	if e != nil {
		if e.Code == CodeInvalid {
			s.m.invalid.Add(uint64(max(1, len(e.Fields))))
		}
		return e
	}
	res, e := s.record(r.Context(), evs)
	if e != nil {
		return e
	}
	status := http.StatusOK
	for _, x := range res {
		if x.Status == "created" {
			status = http.StatusCreated
			s.m.created.Add(1)
		} else {
			s.m.existing.Add(1)
		}
	}
	if batch {
		writeJSON(w, status, map[string][]Recorded{"events": res})
	} else {
		writeJSON(w, status, res[0])
	}
	return nil
}

// decodeBody reads one event (the wire format) or {"events": [...]}.
func decodeBody(body []byte) ([]events.Envelope, bool, *Error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, errorf(http.StatusBadRequest, CodeMalformed, "the body is empty: send one event, or {\"events\": [...]}")
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		msg := "the body is not valid JSON"
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg += fmt.Sprintf(": %s at byte %d", se.Error(), se.Offset)
		}
		return nil, false, errorf(http.StatusBadRequest, CodeMalformed, msg)
	}
	var top map[string]json.RawMessage
	if body[0] == '{' && json.Unmarshal(body, &top) == nil {
		if raw, ok := top["events"]; ok && len(top) == 1 {
			return decodeBatch(raw)
		}
	}
	e, err := events.Decode(body)
	if err != nil {
		return nil, false, fromError(err)
	}
	return []events.Envelope{e}, false, nil
}

func decodeBatch(raw json.RawMessage) ([]events.Envelope, bool, *Error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, true, errorf(http.StatusUnprocessableEntity, CodeInvalid, "invalid batch", FieldError{Field: "events", Reason: "must be a list of events"})
	}
	switch {
	case len(items) == 0:
		return nil, true, errorf(http.StatusUnprocessableEntity, CodeInvalid, "invalid batch", FieldError{Field: "events", Reason: "is empty"})
	case len(items) > jslog.MaxBatch:
		return nil, true, errorf(http.StatusUnprocessableEntity, CodeInvalid, "invalid batch",
			FieldError{Field: "events", Reason: fmt.Sprintf("holds %d events; at most %d in one request", len(items), jslog.MaxBatch)})
	}
	bad := errorf(http.StatusUnprocessableEntity, CodeInvalid, "invalid events")
	evs := make([]events.Envelope, 0, len(items))
	seen := map[[16]byte]int{}
	for i, it := range items {
		e, err := events.Decode(it)
		if err != nil {
			for _, f := range fromError(err).Fields {
				f.Line = i + 1
				bad.Fields = append(bad.Fields, f)
			}
			continue
		}
		if first, dup := seen[e.ID]; dup {
			bad.Fields = append(bad.Fields, FieldError{Line: i + 1, Field: "id", Reason: fmt.Sprintf("%s is also the id of event %d of the batch", e.ID, first+1)})
			continue
		}
		seen[e.ID] = i
		if len(evs) > 0 && e.Scope() != evs[0].Scope() {
			bad.Fields = append(bad.Fields, FieldError{Line: i + 1, Field: "state",
				Reason: fmt.Sprintf("one request records events about one State: %s, not %s", evs[0].Scope(), e.Scope())})
			continue
		}
		evs = append(evs, e)
	}
	if len(bad.Fields) > 0 {
		return nil, true, bad
	}
	return evs, true, nil
}

// record records the events not yet held and reports each. An event the
// ledger holds with the same content is "existing"; with other content it
// is an id conflict (409): the id is taken for good.
func (s *Server) record(ctx context.Context, evs []events.Envelope) ([]Recorded, *Error) {
	out, err := s.cfg.Recorder.RecordCommand(ctx, evs...)
	switch {
	case errors.Is(err, events.ErrIDConflict):
		s.m.idConflicts.Add(1)
		e := idTaken(nil)
		var ic *aggregates.IDConflictError
		if errors.As(err, &ic) {
			for i, ev := range evs {
				if ev.ID == ic.ID {
					line := 0
					if len(evs) > 1 {
						line = i + 1
					}
					e.Fields = []FieldError{{Line: line, Field: "id", Reason: ic.Error()}}
				}
			}
		}
		return nil, e
	case errors.Is(err, events.ErrRejected):
		s.m.rejected.Add(1)
		return nil, fromError(err)
	case err != nil:
		return nil, fromError(err)
	}
	res := make([]Recorded, len(evs))
	for i, e := range evs {
		res[i] = Recorded{ID: e.ID.String(), Subject: e.Subject(), Seq: out[i].Seq, Status: "created"}
		if out[i].Existing {
			res[i].Status = "existing"
		}
	}
	return res, nil
}

// idTaken is the 409 for events whose id the log holds for another
// event; the field is named when the request holds one event.
func idTaken(evs []events.Envelope) *Error {
	e := errorf(http.StatusConflict, CodeIDConflict, "an id is already taken by another recorded event; nothing was recorded: an id names one fact forever")
	if len(evs) == 1 {
		e.Fields = []FieldError{{Field: "id", Reason: evs[0].ID.String() + " is the id of another recorded event"}}
	}
	return e
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) *Error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPI)
	return nil
}

// Health is the body of GET /healthz.
type Health struct {
	Status    string          `json:"status"` // ok or unavailable
	LastSeq   uint64          `json:"last_seq"`
	Views     *ViewsState     `json:"views,omitempty"`
	Projector *ProjectorState `json:"projector,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// ViewsState is where the fold the views answer from stands (the live fold
// of ccm serve): the last sequence it read and how many messages it has
// not read yet. A query waits for those, so a lag that does not fall is a
// fold that stopped.
type ViewsState struct {
	Seq       uint64 `json:"seq"`
	LagEvents uint64 `json:"lag_events"`
}

// ProjectorState is the projector's part of /healthz.
type ProjectorState struct {
	Running   bool        `json:"running"`
	Seq       uint64      `json:"seq"`
	LagEvents uint64      `json:"lag_events"`
	Clock     events.Date `json:"clock"`
	LastError string      `json:"last_error,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) *Error {
	h := Health{Status: "ok"}
	head, err := s.cfg.Log.Head(r.Context())
	if err != nil {
		h.Status, h.Error = "unavailable", "the log does not answer: "+err.Error()
	}
	h.LastSeq = head.LastSeq
	if s.cfg.ViewsSeq != nil {
		seq := s.cfg.ViewsSeq()
		h.Views = &ViewsState{Seq: seq, LagEvents: head.LastSeq - min(seq, head.LastSeq)}
	}
	if s.cfg.Projector != nil {
		ps := s.cfg.Projector()
		lag, _ := projectorLag(head.LastSeq, head.LastTime, ps)
		h.Projector = &ProjectorState{Running: ps.Running, Seq: ps.Seq, LagEvents: lag, Clock: ps.Clock, LastError: ps.LastError}
	}
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
	return nil
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) *Error {
	var b bytes.Buffer
	s.writeMetrics(r.Context(), &b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}
