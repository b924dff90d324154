package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// interfering is a Store that, when armed, appends another event about the
// same State just before each append of the ledger: every append of the
// ledger then meets a real concurrency conflict.
type interfering struct {
	aggregates.Store
	log   *jslog.Log
	armed atomic.Bool
	n     atomic.Int64
}

func (s *interfering) Append(ctx context.Context, scope string, expected uint64, evs ...events.Envelope) (uint64, error) {
	if s.armed.Load() && scope != events.ConventionScope {
		n := s.n.Add(1)
		other, err := events.New(uuid.Nil, events.AssistanceRequested, scope, events.MustDate("2012-01-01"),
			&events.Assistance{Areas: []string{fmt.Sprintf("area %d", n)}}, "another clerk")
		if err != nil {
			return 0, err
		}
		if _, err := s.log.Append(ctx, scope, jslog.AnyVersion, other); err != nil {
			return 0, err
		}
	}
	return s.Store.Append(ctx, scope, expected, evs...)
}

// testToken is the bearer token of the fixture's servers.
const testToken = "T0k3n-for-the-tests_0123456789abcdefghijkl"

type fixture struct {
	ts    *httptest.Server // on loopback, with testToken
	log   *jslog.Log
	store *httpapi.CountingStore
	inter *interfering
	cfg   httpapi.Config
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := natstest.RunServer(t)
	ctx := context.Background()
	l, err := jslog.Create(ctx, srv.Conn(t), jslog.Config{})
	require.NoError(t, err)
	inter := &interfering{Store: l, log: l}
	store := httpapi.CountStore(inter)
	ledger := aggregates.NewLedger(store, nil)
	// Conflicts that never end give up within a second, not thirty.
	ledger.Conflicts = retry.Policy{Name: "test", MaxAttempts: 6, MaxElapsed: 5 * time.Second, First: time.Millisecond, Longest: 10 * time.Millisecond}
	evs, err := events.ReadAll(bytes.NewReader(record.JSONL()))
	require.NoError(t, err)
	_, err = ledger.Import(ctx, evs, nil)
	require.NoError(t, err, "import the bundled record")
	cfg := httpapi.Config{
		Recorder: ledger,
		Querier:  func(o projections.Options) httpapi.Querier { return projections.NewEngine(logsource.New(l), nil, o) },
		Log:      l,
		Store:    store,
		Projector: func() projector.Stats {
			return projector.Stats{Running: true, Seq: 3, Clock: events.MustDate("2012-09-14")}
		},
		ViewsSeq: func() uint64 { return 2 },
		Now:      func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) },
		MaxBody:  64 << 10,
		Logger:   log.New(io.Discard, "", 0),
	}
	f := &fixture{log: l, store: store, inter: inter, cfg: cfg}
	f.ts = f.serve(t, httpapi.Access{Token: testToken})
	return f
}

// serve starts another server on the fixture's ledger. Access.Addr is its
// listener's address unless a is given one (a server that believes it
// listens elsewhere).
func (f *fixture) serve(t *testing.T, a httpapi.Access, adjust ...func(*httpapi.Config)) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	if a.Addr == "" {
		a.Addr = ts.Listener.Addr().String()
	}
	cfg := f.cfg
	cfg.Access = a
	for _, fn := range adjust {
		fn(&cfg)
	}
	ts.Config.Handler = httpapi.New(cfg)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

// do sends a request with the token to the fixture's server.
func (f *fixture) do(t *testing.T, method, path, contentType string, body []byte) response {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + testToken}}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return call(t, f.ts, method, path, h, body)
}

// call sends a request with exactly the given headers; a Host header sets
// the request's Host.
func call(t *testing.T, ts *httptest.Server, method, path string, h http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, vs := range h {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	res, err := ts.Client().Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{res.StatusCode, res.Header, b}
}

func (f *fixture) get(t *testing.T, path string) response { return f.do(t, "GET", path, "", nil) }

func (f *fixture) post(t *testing.T, body string) response {
	return f.do(t, "POST", "/v1/events", "application/json", []byte(body))
}

// apiError decodes an error body, failing the test if it is not one.
func apiError(t *testing.T, r response) httpapi.Error {
	t.Helper()
	var body struct {
		Error *httpapi.Error `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &body), "error body is JSON: %s", r.body)
	require.NotNil(t, body.Error, "error body has an error object: %s", r.body)
	assert.NotEmpty(t, body.Error.Code, "error code: %s", r.body)
	assert.NotEmpty(t, body.Error.Message, "error message: %s", r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	return *body.Error
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

func TestReadViews(t *testing.T) {
	f := newFixture(t)

	r := f.get(t, "/v1/states/swe?as_of=3MSP")
	require.Equal(t, http.StatusOK, r.code, "status of Sweden: %s", r.body)
	st := decode[projections.Status](t, r)
	assert.Equal(t, "SWE", st.State)
	assert.Equal(t, "2012-09-14", st.AsOf.String(), "as of the 3MSP's last day")
	assert.Equal(t, projections.TreatyDeposited, st.TreatyStatus, "Sweden ratified in April 2012: in force from 1 October 2012")

	r = f.get(t, "/v1/states/SWE?as_of=2012-10-01&known_at=2012-01-01")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	assert.Equal(t, uint64(0), decode[projections.Status](t, r).KnownAt.Seq, "nothing was known at 2012-01-01 (the ledger was recorded in %d)", time.Now().Year())

	r = f.get(t, "/v1/states/SWE/history?as_of=3MSP")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	h := decode[projections.History](t, r)
	assert.NotEmpty(t, h.Entries, "Sweden's timeline")

	r = f.get(t, "/v1/report?as_of=3MSP")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	rep := decode[projections.Report](t, r)
	assert.Equal(t, "3MSP", rep.Meeting)
	assert.NotEmpty(t, rep.StatesParties)

	r = f.get(t, "/v1/report?as_of=3MSP&annual_rule=first-full-year")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	assert.Equal(t, "first-full-year", decode[projections.Report](t, r).Article7.Rule, "the rule asked for")

	r = f.get(t, "/v1/diff?from=2MSP&to=3MSP")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	d := decode[projections.Diff](t, r)
	assert.NotEmpty(t, d.Tables)

	r = f.get(t, "/v1/meetings")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	ms := decode[[]projections.Meeting](t, r)
	assert.NotEmpty(t, ms)

	// The same JSON as the command line's --format json: the engine's
	// value encoded.
	eng := projections.NewEngine(logsource.New(f.log), nil, projections.Options{})
	b, err := eng.Resolve(context.Background(), "3MSP", "", events.MustDate("2026-06-01"))
	require.NoError(t, err)
	want, err := eng.Report(context.Background(), b)
	require.NoError(t, err)
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(rep)
	assert.JSONEq(t, string(wantJSON), string(gotJSON), "GET /v1/report is the engine's Report")
}

func TestListEvents(t *testing.T) {
	f := newFixture(t)
	var all []events.Envelope
	from := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100, "pagination ends")
		r := f.get(t, "/v1/events?limit=50"+from)
		require.Equal(t, http.StatusOK, r.code, "%s", r.body)
		var page struct {
			Events      []json.RawMessage `json:"events"`
			NextFromSeq uint64            `json:"next_from_seq"`
		}
		require.NoError(t, json.Unmarshal(r.body, &page))
		for _, raw := range page.Events {
			e, err := events.Decode(raw)
			require.NoError(t, err, "each event is in the wire format: %s", raw)
			var w struct {
				Seq uint64 `json:"seq"`
			}
			require.NoError(t, json.Unmarshal(raw, &w))
			e.Seq = w.Seq
			all = append(all, e)
		}
		if page.NextFromSeq == 0 {
			break
		}
		assert.Len(t, page.Events, 50, "a full page before the next")
		from = fmt.Sprintf("&from_seq=%d", page.NextFromSeq)
	}
	head, err := f.log.Head(context.Background())
	require.NoError(t, err)
	require.Len(t, all, int(head.Msgs), "the pages hold every event once")
	for i, e := range all {
		assert.Equal(t, uint64(i+1), e.Seq, "in stream order without gap")
	}

	r := f.get(t, "/v1/events?state=swe&type=deposited")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	page := decode[struct {
		Events []map[string]any `json:"events"`
	}](t, r)
	require.Len(t, page.Events, 1, "Sweden deposited once")
	assert.Equal(t, "2012-04-23", page.Events[0]["date"])

	r = f.get(t, "/v1/events?from_seq=10&to_seq=12")
	require.Equal(t, http.StatusOK, r.code)
	assert.Len(t, decode[struct {
		Events []map[string]any `json:"events"`
	}](t, r).Events, 3, "a sequence range")
}

func TestRecordEvents(t *testing.T) {
	f := newFixture(t)
	report := `{"type":"report-submitted","state":"SWE","date":"2013-03-01","data":{"kind":"initial"},"source":"test: Sweden's initial report"}`

	r := f.post(t, report)
	require.Equal(t, http.StatusCreated, r.code, "a new event: %s", r.body)
	rec := decode[httpapi.Recorded](t, r)
	assert.Equal(t, "ccm.events.SWE.report-submitted", rec.Subject)
	assert.Equal(t, "created", rec.Status)
	got, err := f.log.Get(context.Background(), rec.Seq)
	require.NoError(t, err)
	assert.Equal(t, rec.ID, got.ID.String(), "stored at the sequence answered")

	r = f.post(t, report)
	require.Equal(t, http.StatusOK, r.code, "an identical duplicate: %s", r.body)
	dup := decode[httpapi.Recorded](t, r)
	assert.Equal(t, rec.Seq, dup.Seq, "the stored event's sequence")
	assert.Equal(t, "existing", dup.Status)

	// A random id, given by the client, for other content.
	id := uuid.NewString()
	r = f.post(t, fmt.Sprintf(`{"id":%q,"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"test"}`, id))
	require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
	r = f.post(t, fmt.Sprintf(`{"id":%q,"type":"victims-declared","state":"SWE","date":"2012-06-02","source":"test"}`, id))
	require.Equal(t, http.StatusConflict, r.code, "the same id for other content: %s", r.body)
	e := apiError(t, r)
	assert.Equal(t, httpapi.CodeIDConflict, e.Code)
	require.Len(t, e.Fields, 1)
	assert.Equal(t, "id", e.Fields[0].Field)

	r = f.post(t, `{"type":"deposited","state":"SWE","date":"2013-01-01","data":{"instrument":"ratification"},"source":"test"}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.code, "a second deposit: %s", r.body)
	e = apiError(t, r)
	assert.Equal(t, httpapi.CodeRejected, e.Code)
	assert.Equal(t, aggregates.RuleSecondDeposit, e.Rule, "names the rule")

	// A batch about one State is recorded whole or not at all.
	batch := `{"events":[
		{"type":"victims-declared","state":"LAO","date":"2012-06-01","source":"test"},
		{"type":"deposited","state":"LAO","date":"2012-06-02","data":{"instrument":"accession"},"source":"test"}]}`
	head, _ := f.log.Head(context.Background())
	r = f.post(t, batch)
	require.Equal(t, http.StatusUnprocessableEntity, r.code, "the second event is impossible (Lao PDR is a party already): %s", r.body)
	after, _ := f.log.Head(context.Background())
	assert.Equal(t, head.LastSeq, after.LastSeq, "nothing of the batch was recorded")

	r = f.post(t, `{"events":[
		{"type":"victims-declared","state":"LAO","date":"2012-06-01","source":"test"},
		{"type":"assistance-requested","state":"LAO","date":"2012-06-02","data":{"areas":["clearance"]},"source":"test"}]}`)
	require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
	res := decode[map[string][]httpapi.Recorded](t, r)["events"]
	require.Len(t, res, 2)
	assert.Equal(t, res[0].Seq+1, res[1].Seq, "stored together, in order")

	r = f.get(t, "/metrics")
	require.Equal(t, http.StatusOK, r.code)
	assert.Contains(t, string(r.body), `ccm_http_events_recorded_total{outcome="created"} 4`)
	assert.Contains(t, string(r.body), `ccm_http_events_recorded_total{outcome="existing"} 1`)
	assert.Contains(t, string(r.body), `ccm_http_events_recorded_total{outcome="id-conflict"} 1`)
	assert.Contains(t, string(r.body), fmt.Sprintf("ccm_appends_total %d", f.store.Appended()))
}

func TestRecordConflict(t *testing.T) {
	f := newFixture(t)
	f.inter.armed.Store(true)
	r := f.post(t, `{"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"test"}`)
	require.Equal(t, http.StatusConflict, r.code, "another clerk appends before every attempt: %s", r.body)
	assert.Equal(t, httpapi.CodeConflict, apiError(t, r).Code)
	assert.GreaterOrEqual(t, f.store.Conflicts(), uint64(6), "each attempt met a conflict")
	f.inter.armed.Store(false)
	r = f.get(t, "/metrics")
	assert.Contains(t, string(r.body), fmt.Sprintf("ccm_append_conflicts_total %d", f.store.Conflicts()))
}

// TestBadInput sends what a careless or hostile client sends: each gets a
// clear JSON error and the server carries on.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	huge := `{"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"` + strings.Repeat("x", 100<<10) + `"}`
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	cases := []struct {
		name, method, path, ctype, body string
		code                            int
		errCode                         string
		field                           string
	}{
		{"not JSON", "POST", "/v1/events", "application/json", `{"type":`, 400, httpapi.CodeMalformed, ""},
		{"empty body", "POST", "/v1/events", "application/json", ``, 400, httpapi.CodeMalformed, ""},
		{"deeply nested", "POST", "/v1/events", "application/json", deep, 422, httpapi.CodeInvalid, ""},
		{"a JSON string", "POST", "/v1/events", "application/json", `"deposited"`, 422, httpapi.CodeInvalid, ""},
		{"null", "POST", "/v1/events", "application/json", `null`, 422, httpapi.CodeInvalid, ""},
		{"huge body", "POST", "/v1/events", "application/json", huge, 413, httpapi.CodeTooLarge, ""},
		{"wrong content type", "POST", "/v1/events", "text/plain", `{}`, 415, httpapi.CodeUnsupportedType, ""},
		{"no content type", "POST", "/v1/events", "", `{}`, 415, httpapi.CodeUnsupportedType, ""},
		{"unknown field", "POST", "/v1/events", "application/json", `{"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"t","colour":"red"}`, 422, httpapi.CodeInvalid, "colour"},
		{"unknown data field", "POST", "/v1/events", "application/json", `{"type":"deposited","state":"SWE","date":"2012-06-01","data":{"instrument":"ratification","x":1},"source":"t"}`, 422, httpapi.CodeInvalid, "data.x"},
		{"wrong type", "POST", "/v1/events", "application/json", `{"type":"victims-declared","state":"SWE","date":20120601,"source":"t"}`, 422, httpapi.CodeInvalid, "date"},
		{"invalid date", "POST", "/v1/events", "application/json", `{"type":"victims-declared","state":"SWE","date":"2011-02-30","source":"t"}`, 422, httpapi.CodeInvalid, "date"},
		{"before adoption", "POST", "/v1/events", "application/json", `{"type":"victims-declared","state":"SWE","date":"2001-01-01","source":"t"}`, 422, httpapi.CodeInvalid, "date"},
		{"in the future", "POST", "/v1/events", "application/json", `{"type":"victims-declared","state":"SWE","date":"2099-01-01","source":"t"}`, 422, httpapi.CodeRejected, ""},
		{"unknown State", "POST", "/v1/events", "application/json", `{"type":"victims-declared","state":"XXX","date":"2012-06-01","source":"t"}`, 422, httpapi.CodeInvalid, "state"},
		{"no source", "POST", "/v1/events", "application/json", `{"type":"victims-declared","state":"SWE","date":"2012-06-01"}`, 422, httpapi.CodeInvalid, "source"},
		{"batch not a list", "POST", "/v1/events", "application/json", `{"events":"x"}`, 422, httpapi.CodeInvalid, "events"},
		{"empty batch", "POST", "/v1/events", "application/json", `{"events":[]}`, 422, httpapi.CodeInvalid, "events"},
		{"batch of two States", "POST", "/v1/events", "application/json", `{"events":[{"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"t"},{"type":"victims-declared","state":"LAO","date":"2012-06-01","source":"t"}]}`, 422, httpapi.CodeInvalid, "state"},
		{"unknown State code", "GET", "/v1/states/XXX", "", ``, 404, httpapi.CodeNotFound, "iso3"},
		{"unknown meeting", "GET", "/v1/report?as_of=99MSP", "", ``, 404, httpapi.CodeNotFound, "as_of"},
		{"bad as_of", "GET", "/v1/report?as_of=2012-13-01", "", ``, 400, httpapi.CodeBadRequest, "as_of"},
		{"bad known_at", "GET", "/v1/states/SWE?known_at=yesterday", "", ``, 400, httpapi.CodeBadRequest, "known_at"},
		{"unknown parameter", "GET", "/v1/report?asof=3MSP", "", ``, 400, httpapi.CodeBadRequest, "asof"},
		{"repeated parameter", "GET", "/v1/report?as_of=3MSP&as_of=2MSP", "", ``, 400, httpapi.CodeBadRequest, "as_of"},
		{"bad annual rule", "GET", "/v1/report?annual_rule=never", "", ``, 400, httpapi.CodeBadRequest, "annual_rule"},
		{"diff without to", "GET", "/v1/diff?from=2MSP", "", ``, 400, httpapi.CodeBadRequest, "to"},
		{"diff backwards", "GET", "/v1/diff?from=3MSP&to=2MSP", "", ``, 400, httpapi.CodeBadRequest, "from"},
		{"bad event type", "GET", "/v1/events?type=exploded", "", ``, 400, httpapi.CodeBadRequest, "type"},
		{"bad limit", "GET", "/v1/events?limit=100000", "", ``, 400, httpapi.CodeBadRequest, "limit"},
		{"negative sequence", "GET", "/v1/events?from_seq=-1", "", ``, 400, httpapi.CodeBadRequest, "from_seq"},
		{"bad State filter", "GET", "/v1/events?state=Atlantis", "", ``, 400, httpapi.CodeBadRequest, "state"},
		{"no such path", "GET", "/v1/nothing", "", ``, 404, httpapi.CodeNotFound, ""},
		{"wrong method", "DELETE", "/v1/events", "", ``, 405, httpapi.CodeMethodNotAllowed, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.do(t, c.method, c.path, c.ctype, []byte(c.body))
			require.Equal(t, c.code, r.code, "%s %s: %.300s", c.method, c.path, r.body)
			e := apiError(t, r)
			assert.Equal(t, c.errCode, e.Code, "%s: %s", c.name, e.Message)
			if c.field != "" {
				var fields []string
				for _, fe := range e.Fields {
					fields = append(fields, fe.Field)
					assert.NotEmpty(t, fe.Reason, "every field error says why")
				}
				assert.Contains(t, fields, c.field, "%s: the error names the field; got %+v", c.name, e.Fields)
			}
			if c.code == 405 {
				assert.Contains(t, r.header.Get("Allow"), "GET", "405 lists the allowed methods")
			}
		})
	}
	// Still serving.
	r := f.get(t, "/healthz")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	h := decode[httpapi.Health](t, r)
	assert.Equal(t, "ok", h.Status)
	require.NotNil(t, h.Projector)
	assert.Positive(t, h.Projector.LagEvents, "the stand-in projector is behind the log")
	require.NotNil(t, h.Views)
	assert.Equal(t, httpapi.ViewsState{Seq: 2, LagEvents: h.LastSeq - 2}, *h.Views, "the stand-in views' fold is behind the log")
}

func TestBatchLineNumbers(t *testing.T) {
	f := newFixture(t)
	r := f.post(t, `{"events":[
		{"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"t"},
		{"type":"victims-declared","state":"SWE","date":"2012-06-31","source":"t"},
		{"type":"report-submitted","state":"SWE","date":"2012-06-01","data":{"kind":"annual"},"source":"t"}]}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.code, "%s", r.body)
	e := apiError(t, r)
	require.Len(t, e.Fields, 2, "%+v", e.Fields)
	assert.Equal(t, httpapi.FieldError{Line: 2, Field: "date", Reason: e.Fields[0].Reason}, e.Fields[0], "the second event's date")
	assert.Equal(t, 3, e.Fields[1].Line)
	assert.Equal(t, "data.year", e.Fields[1].Field, "the third event's year")
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/v1/report")
	r := f.get(t, "/metrics")
	require.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", r.header.Get("Content-Type"))
	body := string(r.body)
	head, _ := f.log.Head(context.Background())
	for _, want := range []string{
		"# TYPE ccm_appends_total counter",
		fmt.Sprintf("ccm_log_last_sequence %d", head.LastSeq),
		fmt.Sprintf("ccm_projector_lag_events %d", head.LastSeq-3),
		"ccm_views_sequence 2",
		fmt.Sprintf("ccm_views_lag_events %d", head.LastSeq-2),
		"# TYPE ccm_projector_lag_seconds gauge",
		"ccm_compliance_published_total",
		`ccm_http_requests_total{route="/v1/report",code="200"} 1`,
	} {
		assert.Contains(t, body, want, "metrics:\n%s", body)
	}
	// Every line is a comment or "name{labels} value".
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		assert.Len(t, fields, 2, "sample line %q", line)
	}
}
