package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

func TestStatesTable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	r := f.get(t, "/v1/states?as_of=3MSP")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	checkResponse(t, "GET", "/v1/states", r)
	tbl := decode[projections.StatesTable](t, r)
	assert.Equal(t, "3MSP", tbl.Meeting)
	assert.Equal(t, "2012-09-14", tbl.AsOf.String())
	assert.Equal(t, "after-initial-due-year", tbl.AnnualRule)

	// The rows are the engine's statuses, flattened.
	eng := projections.NewEngine(logsource.New(f.log), nil, projections.Options{})
	b, err := eng.Resolve(ctx, "3MSP", "", events.MustDate("2026-06-01"))
	require.NoError(t, err)
	sts, err := eng.Statuses(ctx, b)
	require.NoError(t, err)
	require.NotEmpty(t, sts)
	assert.Equal(t, projections.Rows(sts), tbl.States, "GET /v1/states is Rows of the engine's Statuses")
	assert.Equal(t, sts[0].KnownAt, tbl.KnownAt)

	var want bytes.Buffer
	require.NoError(t, projections.WriteRowsCSV(&want, tbl.States))
	for name, get := range map[string]func() response{
		"format=csv": func() response { return f.get(t, "/v1/states?as_of=3MSP&format=csv") },
		"Accept: text/csv": func() response {
			return call(t, f.ts, "GET", "/v1/states?as_of=3MSP", http.Header{"Authorization": {"Bearer " + testToken}, "Accept": {"text/csv"}}, nil)
		},
	} {
		r := get()
		require.Equal(t, http.StatusOK, r.code, "%s: %s", name, r.body)
		checkResponse(t, "GET", "/v1/states", r)
		assert.Equal(t, "text/csv; charset=utf-8", r.header.Get("Content-Type"), name)
		assert.Contains(t, r.header.Get("Content-Disposition"), `filename="ccm-states-2012-09-14.csv"`, name)
		recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		require.NoError(t, err, "%s: the CSV reads back", name)
		assert.Len(t, recs, len(tbl.States)+1, "%s: a header and a record per State", name)
		assert.Equal(t, want.String(), string(r.body), "%s: the CSV of the same rows", name)
	}

	// JSON first in Accept, or format=json over Accept, gives JSON.
	for _, h := range []http.Header{
		{"Accept": {"application/json, text/csv"}},
		{"Accept": {"text/csv;q=0, */*"}},
	} {
		h.Set("Authorization", "Bearer "+testToken)
		r := call(t, f.ts, "GET", "/v1/states?as_of=3MSP", h, nil)
		require.Equal(t, http.StatusOK, r.code)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"), "Accept %q", h.Get("Accept"))
	}

	r = f.get(t, "/v1/states?as_of=3MSP&annual_rule=first-full-year")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	assert.Equal(t, "first-full-year", decode[projections.StatesTable](t, r).AnnualRule)

	r = f.get(t, "/v1/states?as_of=2012-10-01&known_at=2012-01-01")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	checkResponse(t, "GET", "/v1/states", r)
	assert.Empty(t, decode[projections.StatesTable](t, r).States, "nothing was known at 2012-01-01")
}

func TestStatesTableRefusals(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path  string
		code  int
		field string
	}{
		{"/v1/states?format=xml", http.StatusBadRequest, "format"},
		{"/v1/states?as_of=2012-13-40", http.StatusBadRequest, "as_of"},
		{"/v1/states?known_at=yesterday", http.StatusBadRequest, "known_at"},
		{"/v1/states?annual_rule=never", http.StatusBadRequest, "annual_rule"},
		{"/v1/states?asof=3MSP", http.StatusBadRequest, "asof"},
		{"/v1/states?as_of=99MSP", http.StatusNotFound, "as_of"},
	} {
		r := f.get(t, tc.path)
		require.Equal(t, tc.code, r.code, "%s: %s", tc.path, r.body)
		checkResponse(t, "GET", "/v1/states", r)
		e := apiError(t, r)
		require.NotEmpty(t, e.Fields, "%s names the field", tc.path)
		assert.Equal(t, tc.field, e.Fields[0].Field, tc.path)
	}
}

// The read views answer what the document says, as of a meeting and of
// today (when much of the record is unknown).
func TestReadViewsMatchTheDocument(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ path, doc string }{
		{"/v1/states/SWE?as_of=3MSP", "/v1/states/{iso3}"},
		{"/v1/states/AFG", "/v1/states/{iso3}"},
		{"/v1/states/LAO/history?as_of=3MSP", "/v1/states/{iso3}/history"},
		{"/v1/report?as_of=3MSP", "/v1/report"},
		{"/v1/report", "/v1/report"},
		{"/v1/diff?from=2MSP&to=3MSP", "/v1/diff"},
		{"/v1/meetings", "/v1/meetings"},
		{"/v1/events?state=SWE&limit=5", "/v1/events"},
		{"/v1/states", "/v1/states"},
		{"/v1/states/XYZ", "/v1/states/{iso3}"},
	} {
		r := f.get(t, tc.path)
		checkResponse(t, "GET", tc.doc, r)
	}
}
