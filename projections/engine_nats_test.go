package projections_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// jetStreamLedger is a synthetic ledger of n events imported into a log on
// an embedded server, with its snapshot bucket.
type jetStreamLedger struct {
	srv    *natstest.Server
	log    *jslog.Log
	ledger *aggregates.Ledger
	snaps  *jslog.SnapshotStore
	kv     jetstream.KeyValue
}

func newJetStreamLedger(tb testing.TB, n int, seed int64) *jetStreamLedger {
	tb.Helper()
	ctx := context.Background()
	srv := natstest.RunServer(tb)
	log, err := jslog.Create(ctx, srv.Conn(tb), jslog.Config{})
	require.NoError(tb, err)
	snaps, err := jslog.CreateSnapshots(ctx, log)
	require.NoError(tb, err)
	l := aggregates.NewLedger(log, func() time.Time { return synth.End.AddDate(0, 0, 1).Time() })
	res, err := l.Import(ctx, synth.Generate(n, seed), nil)
	require.NoError(tb, err, "import the synthetic ledger")
	require.Equal(tb, n, res.Appended, "events imported")
	kv, err := log.JetStream().KeyValue(ctx, snaps.Bucket())
	require.NoError(tb, err)
	return &jetStreamLedger{srv: srv, log: log, ledger: l, snaps: snaps, kv: kv}
}

// revisions returns the KV revision of every key of a meeting's snapshot.
func (j *jetStreamLedger) revisions(t *testing.T, code string) map[string]uint64 {
	t.Helper()
	ctx := context.Background()
	keys, err := j.snaps.Keys(ctx)
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, k := range keys {
		if strings.HasPrefix(k, code+".") {
			e, err := j.kv.Get(ctx, k)
			require.NoError(t, err, "get %s", k)
			out[k] = e.Revision()
		}
	}
	return out
}

func logFold(t *testing.T, log *jslog.Log, b projections.Bounds) *projections.Fold {
	t.Helper()
	evs, _, err := log.ReadAll(context.Background(), jslog.ReadOptions{UpToSeq: b.KnownAtSeq, UpToTime: b.KnownAtTime})
	require.NoError(t, err)
	f := projections.NewFold()
	for _, e := range evs {
		f.Apply(e)
	}
	return f
}

// The engine on a real log and KV bucket: snapshots give what a fold of
// the log gives, and an event dated after a meeting leaves that meeting's
// keys at their KV revisions.
func TestEngineOnJetStream(t *testing.T) {
	ctx := context.Background()
	j := newJetStreamLedger(t, 2500, 3)
	eng := projections.NewEngine(logsource.New(j.log), j.snaps, projections.Options{})
	st, err := eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	require.Equal(t, 2025-2010+1+1, st.Created, "snapshots created: the meetings' and the latest (%+v)", st)

	check := func(what string) {
		t.Helper()
		for _, asOf := range []string{"SYN-2012", "SYN-2014", "SYN-2020", "2013-02-01", "2025-12-31"} {
			b, err := eng.Resolve(ctx, asOf, "", synth.End)
			require.NoError(t, err)
			got, err := eng.Report(ctx, b)
			require.NoError(t, err)
			require.Equal(t, projections.ReportOf(logFold(t, j.log, b), b.AsOf, projections.Options{}), got, "%s: report as of %s", what, asOf)
		}
	}
	check("after the first refresh")

	before2014, before2015 := j.revisions(t, synth.MeetingCode(2014)), j.revisions(t, synth.MeetingCode(2015))
	// Recorded now, dated after the 2014 meeting and before the 2015 one.
	late, err := events.New([16]byte{}, events.AssistanceProvided, "NOR", events.MustDate("2015-01-15"),
		&events.Assistance{Areas: []string{"clearance"}}, "test: a backdated report of assistance")
	require.NoError(t, err)
	_, err = j.ledger.Record(ctx, late)
	require.NoError(t, err)
	check("after a backdated event, before the refresh")
	_, err = eng.RefreshSnapshots(ctx)
	require.NoError(t, err)
	check("after a backdated event and a refresh")

	after2014, after2015 := j.revisions(t, synth.MeetingCode(2014)), j.revisions(t, synth.MeetingCode(2015))
	meta := synth.MeetingCode(2014) + "._meta"
	for k, rev := range before2014 {
		if k == meta {
			assert.Greater(t, after2014[k], rev, "%s moves to the new sequence", k)
		} else {
			assert.Equal(t, rev, after2014[k], "KV revision of %s after an event dated after the meeting", k)
		}
	}
	nor := synth.MeetingCode(2015) + ".NOR"
	assert.Greater(t, after2015[nor], before2015[nor], "KV revision of %s after an event about NOR dated before the meeting", nor)

	infos, err := eng.Snapshots(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 17, "snapshots listed")
	head, err := j.log.Head(ctx)
	require.NoError(t, err)
	for _, info := range infos {
		assert.Equal(t, head.LastSeq, info.Seq, "snapshot %s covers the head", info.Meeting)
	}
}
