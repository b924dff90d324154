package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A ledger that imported the record of the previous version (to the 3MSP,
// testdata/record-2012.jsonl) and then the current one holds both: the
// wrong facts are retracted, never edited, and a status known at the end
// of the first import still shows them, the status after shows the
// corrections.
func TestCorrectionsOfTheRecordAreHistory(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	code, _, errs := run(t, "", "import", filepath.Join("testdata", "record-2012.jsonl"), "--data", store, "--no-record")
	require.Equal(t, exitOK, code, errs)
	type report struct {
		Year              int    `json:"year"`
		Submitted         string `json:"submitted"`
		SubmittedEarliest string `json:"submitted_earliest"`
		Status            string `json:"status"`
	}
	var st struct {
		KnownAt struct {
			Seq uint64 `json:"seq"`
		} `json:"known_at"`
		Article7 struct {
			Initial report   `json:"initial"`
			Annual  []report `json:"annual"`
		} `json:"article7"`
	}
	status := func(iso3 string, extra ...string) {
		t.Helper()
		code, out, errs := run(t, "", append([]string{"status", iso3, "--as-of", "3MSP", "--data", store, "--no-record", "--format", "json"}, extra...)...)
		require.Equal(t, exitOK, code, errs)
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	}
	status("NOR")
	old := st.KnownAt.Seq
	require.Len(t, st.Article7.Annual, 1)
	assert.Equal(t, report{Year: 2011, Submitted: "2012-09-14", Status: "submitted-late"}, st.Article7.Annual[0], "the previous record: a bound read as a late report")

	code, _, errs = run(t, "", "import", "--bundled", "--data", store)
	require.Equal(t, exitOK, code, errs)
	status("NOR")
	assert.Equal(t, report{Year: 2011, Submitted: "2012-04-30", SubmittedEarliest: "2012-04-01", Status: "submitted"}, st.Article7.Annual[0],
		"corrected: April 2012, on time for 30 April")
	status("NOR", "--known-at", strconv.FormatUint(old, 10))
	assert.Equal(t, "submitted-late", st.Article7.Annual[0].Status, "as the ledger knew it before the correction")

	status("LTU")
	assert.Equal(t, "2011-03-30", st.Article7.Initial.Submitted, "Lithuania's first report, corrected")
	status("LTU", "--known-at", strconv.FormatUint(old, 10))
	assert.Equal(t, "2010-03-30", st.Article7.Initial.Submitted, "as the ledger knew it before")

	// A report the seed bounds at the 3MSP is recorded again with its
	// precision: uncertain, since the range holds its due date.
	status("BEL")
	assert.Equal(t, report{Year: 2011, Submitted: "2012-09-14", SubmittedEarliest: "2008-05-30", Status: "uncertain"}, st.Article7.Annual[0])
}
