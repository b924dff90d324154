package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
)

// recordSize is the number of events of the bundled record: what a new
// data directory's log holds.
var recordSize = uint64(bytes.Count(record.JSONL(), []byte("\n")))

// The help says how far the bundled record reaches, as its coverage
// events do.
func TestHelpSaysHowFarTheRecordReaches(t *testing.T) {
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	require.NoError(t, err)
	through := map[events.FactClass]events.Date{}
	for _, e := range evs {
		if c, ok := e.Payload.(*events.Coverage); ok {
			through[c.Facts] = c.Through
		}
	}
	code, out, _ := run(t, "", "help")
	require.Equal(t, exitOK, code)
	text := strings.Join(strings.Fields(out), " ")
	assert.Contains(t, text, "treaty actions through "+through[events.TreatyFacts].Time().Format("2 Jan 2006"))
	for _, c := range []events.FactClass{events.Article3Facts, events.Article4Facts, events.Article5Facts, events.Article6Facts,
		events.InitialReports, events.AnnualReports, events.Article9Facts, events.ExtensionFacts} {
		assert.Equal(t, events.MustDate("2012-09-14"), through[c], "Articles 3 to 9 and extensions through the 3MSP, as the help says: %s", c)
	}
}
