package projections_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// stateKeysWritten returns the meetings whose interval has a State key
// written since the revisions before.
func stateKeysWritten(store *memStore, before map[string]uint64) map[string]bool {
	out := map[string]bool{}
	for k, rev := range store.revisions("") {
		if code, rest, ok := strings.Cut(k, "."); ok && rev != before[k] && !strings.HasPrefix(rest, "_") {
			out[code] = true
		}
	}
	return out
}

// A State key that a refresh must read and cannot (torn, or garbage) has
// its interval written anew from a fold of the log; the snapshots reading
// it are updated in place. Keys of meetings the ledger does not record
// are deleted.
func TestRefreshRewritesAnIntervalItCannotRead(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 800, 9)
	store := newMemStore()
	eng := projections.NewEngine(h.src, store, projections.Options{}, projections.WithClock(fixedClock))
	_, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	code := synth.MeetingCode(2014)
	var iso3 string
	for k := range store.revisions(code + ".") {
		if rest := strings.TrimPrefix(k, code+"."); !strings.HasPrefix(rest, "_") && !strings.Contains(rest, ".") {
			iso3 = rest
		}
	}
	require.NotEmpty(t, iso3, "no State key in the interval of %s", code)
	store.vals[code+"."+iso3] = []byte("zgarbage")
	store.vals["SYN-1999.NOR"] = []byte("zgarbage")
	before := store.revisions("")
	h.src.record(mustEvent(t, events.AssistanceRequested, iso3, "2009-01-02", nil))
	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Created, "snapshots created (%+v)", st)
	assert.Equal(t, len(h.meetings)+1, st.Updated, "snapshots updated (%+v)", st)
	for k, rev := range store.revisions(code + ".") {
		if !strings.Contains(k, "._") {
			assert.Greater(t, rev, before[k], "key %s of the interval read back as garbage not rewritten", k)
		}
	}
	assert.Equal(t, map[string]bool{code: true, synth.MeetingCode(2010): true}, stateKeysWritten(store, before),
		"State keys written: those of the interval that could not be read, and the State's in the interval of the event")
	_, found, _ := store.Get(ctx, "SYN-1999.NOR")
	assert.False(t, found, "key of a meeting the ledger does not record left")
	checkAgainstFold(t, h, eng, uint64(len(h.src.evs)), projections.Options{})
}
