package projections_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

func TestRowsOfTheSample(t *testing.T) {
	ctx := context.Background()
	eng := projections.NewEngine(sampleSource(t), nil, projections.Options{})
	b, err := eng.Resolve(ctx, "3MSP", "", today)
	require.NoError(t, err)
	sts, err := eng.Statuses(ctx, b)
	require.NoError(t, err)
	rows := projections.Rows(sts)
	require.Len(t, rows, len(sts), "one row per status")
	var swe projections.StateRow
	for i, r := range rows {
		assert.Equal(t, sts[i].State, r.State, "row %d is in the order of the statuses", i)
		if r.State == "SWE" {
			swe = r
		}
	}
	require.Equal(t, "SWE", swe.State, "the sample holds Sweden")
	st, err := eng.Status(ctx, "SWE", b)
	require.NoError(t, err)
	assert.Equal(t, st.TreatyStatus, swe.TreatyStatus)
	assert.Equal(t, st.EntryIntoForce, swe.EntryIntoForce)
	assert.Equal(t, st.Article3.Status, swe.Article3Status)
	assert.Equal(t, st.Article3.Deadline, swe.Article3Deadline)
	assert.Equal(t, st.Article7.Initial.Status, swe.Article7Initial)
	assert.Equal(t, b.AsOf, swe.AsOf)

	var buf bytes.Buffer
	require.NoError(t, projections.WriteRowsCSV(&buf, rows))
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err, "the CSV reads back:\n%s", buf.String())
	require.Len(t, recs, len(rows)+1, "a header and one record per row")
	assert.Equal(t, projections.RowsHeader(), recs[0])
	for i, rec := range recs[1:] {
		assert.Equal(t, rows[i].Record(), rec, "record %d", i+1)
	}
}

// A status string the row does not know (unknown, or one added later)
// passes through as data, and annual reports are counted by status.
func TestRowsKeepStatusesAsData(t *testing.T) {
	st := projections.Status{State: "XYZ", Name: "Korea, Republic of", TreatyStatus: projections.Unknown,
		Signed:   events.MustDate("2008-12-03"),
		Article3: projections.Obligation{Status: "uncertain", Deadline: events.MustDate("2018-08-01")},
		Article4: projections.Obligation{Status: "some-new-status"},
		Article7: projections.Article7{Initial: projections.ReportStatus{Status: projections.Unknown},
			Annual: []projections.ReportStatus{{Status: "late"}, {Status: "late"}, {Status: "unknown"}, {Status: "submitted"}, {Status: "novel"}}},
	}
	r := projections.RowOf(st)
	assert.Equal(t, map[string]int{"late": 2, "unknown": 1, "submitted": 1, "novel": 1}, r.Article7Annual)
	rec := r.Record()
	hdr := projections.RowsHeader()
	require.Len(t, rec, len(hdr), "a field per column")
	field := map[string]string{}
	for i, h := range hdr {
		field[h] = rec[i]
	}
	assert.Equal(t, "unknown", field["treaty_status"])
	assert.Equal(t, "uncertain", field["article3_status"])
	assert.Equal(t, "2018-08-01", field["article3_deadline"])
	assert.Equal(t, "some-new-status", field["article4_status"])
	assert.Equal(t, "", field["article4_deadline"], "a zero date is an empty field")
	assert.Equal(t, "2", field["article7_annual_late"])
	assert.Equal(t, "1", field["article7_annual_unknown"])
	assert.Equal(t, "0", field["article7_annual_uncertain"])
	var buf bytes.Buffer
	require.NoError(t, projections.WriteRowsCSV(&buf, []projections.StateRow{r}))
	assert.Contains(t, buf.String(), `"Korea, Republic of"`, "a name with a comma is quoted")
}
