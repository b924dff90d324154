package events

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// preciseEvents are events whose date is known to less than the day, from
// the record's sources, by golden file name.
func preciseEvents(tb testing.TB) map[string]Envelope {
	tb.Helper()
	facts := []struct {
		name  string
		typ   Type
		state string
		date  string
		prec  Precision
		data  Payload
		src   string
	}{
		{"month", ReportSubmitted, "NOR", "2012-04-30", Month, &Report{Kind: AnnualReport, Year: 2011},
			"MON-CP Norway, last updated 17 Dec 2012: 'Provided annual updated Article 7 report in April 2012'"},
		{"year", StockpileDestructionCompleted, "CZE", "2010-12-31", Year, nil,
			"MON-CP Czech Republic (stockpile destruction completed in 2010)"},
		{"on-or-before", ReportSubmitted, "AUT", "2012-09-14", OnOrBefore, &Report{Kind: AnnualReport, Year: 2011},
			"SEED appendix table IX (annual report for 2011 submitted by the 3MSP)"},
	}
	out := map[string]Envelope{}
	for _, f := range facts {
		e, err := NewAt(uuid.Nil, f.typ, f.state, MustDate(f.date), f.prec, f.data, f.src)
		require.NoError(tb, err, f.name)
		out[f.name] = e
	}
	return out
}

// The precision is an optional field of the wire format: absent means the
// day, as in every file written before it; given, it is written after the
// date, survives both encodings and enters the derived id.
func TestGoldenPrecision(t *testing.T) {
	dir := filepath.Join(goldenDir, "precision")
	for name, e := range preciseEvents(t) {
		t.Run(name, func(t *testing.T) {
			got, err := e.MarshalJSON()
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join(dir, name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "golden file missing: run go test ./events -run Golden -update")
			assert.Equal(t, string(want), string(got))

			dec, err := Decode(want)
			require.NoError(t, err)
			assert.Equal(t, e, dec)
			stored, err := DecodeStored(e.StoredJSON(), 7, time.Unix(0, 0).UTC())
			require.NoError(t, err)
			assert.Equal(t, e.Precision, stored.Precision)
			assert.JSONEq(t, string(want), string(e.StoredJSON()))

			noID, err := Decode(dropField(t, want, "id"))
			require.NoError(t, err)
			assert.Equal(t, e.ID, noID.ID, "the id derives from the content, precision included")
			daily, err := Decode(dropField(t, dropField(t, want, "id"), "precision"))
			require.NoError(t, err)
			assert.NotEqual(t, e.ID, daily.ID, "the same line known to the day is another fact")
			assert.False(t, e.SameFact(daily))
		})
	}
}

// "day" is the default: a line that gives it is the line without it.
func TestPrecisionDayIsTheDefault(t *testing.T) {
	line := []byte(`{"type":"signed","state":"SWE","date":"2008-12-03","precision":"day","source":"UNTC XXVI-6"}`)
	e, err := Decode(line)
	require.NoError(t, err)
	plain, err := Decode(dropField(t, line, "precision"))
	require.NoError(t, err)
	assert.Equal(t, plain, e)
	assert.NotContains(t, string(e.StoredJSON()), "precision")
}

func TestPrecisionEarliest(t *testing.T) {
	for _, c := range []struct {
		p          Precision
		date, want string
	}{
		{Day, "2012-04-23", "2012-04-23"},
		{Month, "2012-04-30", "2012-04-01"},
		{Month, "2012-02-29", "2012-02-01"},
		{Year, "2010-12-31", "2010-01-01"},
		{OnOrBefore, "2012-09-14", "2008-05-30"},
	} {
		assert.Equal(t, MustDate(c.want), c.p.Earliest(MustDate(c.date)), "%s %s", c.p, c.date)
	}
}
