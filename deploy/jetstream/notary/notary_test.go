package notary_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
	"github.com/ccm-ledger/ccm-ledger/events/record"
)

// ledger is a log holding the bundled record, signed by a notary, on a
// server that a test may stop, tamper with and restart.
type ledger struct {
	srv   *natstest.Server
	dir   string
	key   notary.Key
	log   *jslog.Log
	store *notary.Store
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newLedger(t *testing.T) *ledger {
	t.Helper()
	l := &ledger{dir: t.TempDir()}
	l.srv = natstest.RunServer(t, natstest.StoreDir(l.dir))
	var err error
	l.key, err = notary.EnsureKey(filepath.Join(t.TempDir(), notary.KeyFile), evidence.Origin(jslog.DefaultStream))
	require.NoError(t, err)
	l.connect(t, true)
	cp, n, err := l.recordAndSign(t)
	require.NoError(t, err)
	require.Equal(t, n, cp.Size)
	return l
}

// recordAndSign records the bundled record and has a notary sign it; it
// returns the checkpoint, the events recorded and the notary's error.
func (l *ledger) recordAndSign(t *testing.T) (evidence.Checkpoint, uint64, error) {
	t.Helper()
	ctx := ctxFor(t)
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	require.NoError(t, err)
	_, err = aggregates.NewLedger(l.log, time.Now).Import(ctx, evs, nil)
	require.NoError(t, err)
	n, err := notary.Start(ctx, l.log, l.store, l.key, nil, notary.Options{})
	require.NoError(t, err)
	defer n.Stop()
	cp, err := n.Checkpoint(ctx, false)
	return cp, uint64(len(evs)), err
}

func (l *ledger) connect(t *testing.T, create bool) {
	t.Helper()
	ctx := ctxFor(t)
	nc := l.srv.Conn(t)
	var err error
	if create {
		l.log, err = jslog.Create(ctx, nc, jslog.Config{Inspect: true})
		require.NoError(t, err)
		js, _ := jetstream.New(nc)
		require.NoError(t, notary.Create(ctx, js, jslog.DefaultStream, 1))
	} else {
		l.log, err = jslog.Open(ctx, nc, jslog.Config{Inspect: true})
		require.NoError(t, err)
	}
	l.store, err = notary.OpenStore(ctx, nc, l.log.JetStream(), jslog.DefaultStream)
	require.NoError(t, err)
}

// tamper stops the server, lets f change its files, and restarts it.
func (l *ledger) tamper(t *testing.T, f func(dir string) error) {
	t.Helper()
	l.srv.Stop()
	require.NoError(t, f(l.dir))
	l.srv = natstest.RunServer(t, natstest.StoreDir(l.dir))
	l.connect(t, false)
}

func (l *ledger) check(t *testing.T) evidence.Report {
	t.Helper()
	r, err := notary.Check(ctxFor(t), l.log, l.store, l.key.Public)
	require.NoError(t, err)
	return r.Report
}

// seqOf returns the sequence of the first event of the State and type.
func (l *ledger) seqOf(t *testing.T, state string, typ events.Type) (uint64, string) {
	t.Helper()
	evs, _, err := l.log.ReadAll(ctxFor(t), jslog.ReadOptions{Scope: state})
	require.NoError(t, err)
	for _, e := range evs {
		if e.Type == typ {
			return e.Seq, e.ID.String()
		}
	}
	t.Fatalf("no %s event of %s", typ, state)
	return 0, ""
}

const account = "$G"

func TestCheckSignedLog(t *testing.T) {
	l := newLedger(t)
	r := l.check(t)
	require.NoError(t, r.Err())
	assert.True(t, r.KeyChecked)
	assert.Equal(t, 1, r.Checkpoints)
	assert.Equal(t, r.Messages, r.Latest.Size)
	assert.Zero(t, r.Unsigned)
}

// The attack of the issue: Sweden's deposit moved from 2012 to 2009 in the
// block file, the record's checksum recomputed. The server serves the
// edit; the check names it.
func TestCheckFindsEditWithRecomputedChecksum(t *testing.T) {
	l := newLedger(t)
	seq, id := l.seqOf(t, "SWE", events.Deposited)
	l.tamper(t, func(dir string) error {
		return natstest.EditMessage(dir, account, jslog.DefaultStream, seq, func(p []byte) {
			copy(p[bytes.Index(p, []byte("2012-04-23")):], "2009-04-23")
		})
	})
	e, err := l.log.Get(ctxFor(t), seq)
	require.NoError(t, err, "the server serves the edited event as valid")
	require.Equal(t, "2009-04-23", e.Date.String())
	r := l.check(t)
	require.Error(t, r.Err())
	p := r.Problems[0]
	assert.Equal(t, seq, p.Seq)
	assert.Equal(t, id, p.ID)
	assert.Contains(t, p.Reason, "not the message the checkpoint signed")
}

func TestCheckFindsDroppedRecords(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(dir string, seq uint64) error
	}{
		{"flipped byte", func(dir string, seq uint64) error {
			return natstest.FlipByte(dir, account, jslog.DefaultStream, seq, 10)
		}},
		{"truncated block", func(dir string, _ uint64) error {
			return natstest.TruncateLastBlock(dir, account, jslog.DefaultStream, 100)
		}},
		{"zeroed 4 KiB", func(dir string, _ uint64) error {
			return natstest.ZeroRange(dir, account, jslog.DefaultStream, 40_000, 4096)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger(t)
			before := l.check(t).Messages
			seq, _ := l.seqOf(t, "SWE", events.Deposited)
			l.tamper(t, func(dir string) error { return tc.tamper(dir, seq) })
			r := l.check(t)
			require.Error(t, r.Err(), "the server dropped records: the check must say so")
			assert.ErrorIs(t, r.Err(), evidence.ErrTampered)
			assert.Less(t, r.Messages, before)
			assert.NotZero(t, r.Problems[0].Seq)
			assert.Contains(t, r.Err().Error(), "missing")
		})
	}
}

// An operator cannot lift the log's delete guard: nats-server refuses. On a
// stream a careless operator made without it, a deleted message is named,
// and the stream is unfit.
func TestCheckFindsMessageDeletedByOperator(t *testing.T) {
	l := newLedger(t)
	ctx := ctxFor(t)
	js := l.srv.JetStream(t)
	cfg := jslog.StreamConfig(jslog.Config{})
	cfg.DenyDelete = false
	_, err := js.UpdateStream(ctx, cfg)
	require.ErrorContains(t, err, "can not cancel deny message deletes")

	// The careless operator's stream: the ledger's, less the guard.
	srv := natstest.RunServer(t)
	js = srv.JetStream(t)
	_, err = js.CreateStream(ctx, cfg)
	require.NoError(t, err)
	l = &ledger{srv: srv, key: l.key}
	l.connect(t, true)
	_, _, err = l.recordAndSign(t)
	require.ErrorIs(t, err, notary.ErrDamaged, "no checkpoint of a log that may lose messages")

	st, err := js.Stream(ctx, jslog.DefaultStream)
	require.NoError(t, err)
	require.NoError(t, st.DeleteMsg(ctx, 100))
	l.connect(t, false)
	r := l.check(t)
	require.Error(t, r.Err())
	assert.Equal(t, uint64(100), r.Problems[0].Seq)
	assert.Contains(t, r.Problems[0].Reason, "missing")
	assert.Contains(t, joinReasons(r), "not fit for the ledger")
	assert.Contains(t, joinReasons(r), "1 messages deleted")
}

func joinReasons(r evidence.Report) string {
	var b bytes.Buffer
	for _, p := range r.Problems {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

// A key other than the ledger's finds no checkpoint of its own.
func TestCheckWithForeignKey(t *testing.T) {
	l := newLedger(t)
	other, err := notary.EnsureKey(filepath.Join(t.TempDir(), notary.KeyFile), evidence.Origin(jslog.DefaultStream))
	require.NoError(t, err)
	r, err := notary.Check(ctxFor(t), l.log, l.store, other.Public)
	require.NoError(t, err)
	require.Error(t, r.Report.Err())
	assert.Contains(t, joinReasons(r.Report), "not signed by this key")
}

// A notary extends the chain: the next checkpoint carries its
// consistency proof, and a damaged log is never signed over.
func TestNotarySignsOnlyAnUndamagedLog(t *testing.T) {
	l := newLedger(t)
	ctx := ctxFor(t)
	seq, _ := l.seqOf(t, "NOR", events.Deposited)
	l.tamper(t, func(dir string) error {
		return natstest.EditMessage(dir, account, jslog.DefaultStream, seq, func(p []byte) {
			copy(p[bytes.Index(p, []byte(`"date":"20`))+8:], "19")
		})
	})
	n, err := notary.Start(ctx, l.log, l.store, l.key, nil, notary.Options{})
	require.NoError(t, err)
	defer n.Stop()
	require.ErrorIs(t, n.Damaged(), notary.ErrDamaged)
	_, err = n.Checkpoint(ctx, true)
	require.ErrorIs(t, err, evidence.ErrTampered)
	stored, _, err := l.store.Load(ctx)
	require.NoError(t, err)
	assert.Len(t, stored, 1, "nothing signed over the damage")
}

func TestNotaryProvesAndChains(t *testing.T) {
	l := newLedger(t)
	ctx := ctxFor(t)
	n, err := notary.Start(ctx, l.log, l.store, l.key, nil, notary.Options{})
	require.NoError(t, err)
	defer n.Stop()
	first := n.Latest()
	require.NotNil(t, first)
	// A raw message appended by someone with the right to publish: it is
	// evidence too, and the next checkpoint covers it.
	_, err = l.log.JetStream().Publish(ctx, "ccm.events.SWE.deposited", []byte("raw"))
	require.NoError(t, err)
	cp, err := n.Checkpoint(ctx, false)
	require.NoError(t, err)
	assert.Equal(t, first.Size+1, cp.Size)
	r := l.check(t)
	require.NoError(t, r.Err())
	assert.Equal(t, 2, r.Checkpoints)

	seq, _ := l.seqOf(t, "SWE", events.Deposited)
	p, err := n.Prove(ctx, seq)
	require.NoError(t, err)
	e, c, err := evidence.VerifyProof(p, l.key.Public)
	require.NoError(t, err)
	assert.Equal(t, seq, e.Seq)
	assert.Equal(t, cp.Size, c.Size)
}

// A running notary signs by itself after Every messages.
func TestNotarySignsEveryNMessages(t *testing.T) {
	l := newLedger(t)
	ctx := ctxFor(t)
	n, err := notary.Start(ctx, l.log, l.store, l.key, nil, notary.Options{Every: 5, Poll: 50 * time.Millisecond})
	require.NoError(t, err)
	defer n.Stop()
	first := *n.Latest()
	for i := 0; i < 4; i++ {
		_, err := l.log.JetStream().Publish(ctx, "ccm.events.SWE.deposited", []byte("raw"))
		require.NoError(t, err)
	}
	time.Sleep(200 * time.Millisecond) // four polls: four messages are not enough
	assert.Equal(t, first.Size, n.Latest().Size)
	_, err = l.log.JetStream().Publish(ctx, "ccm.events.SWE.deposited", []byte("raw"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return n.Latest().Size == first.Size+5 }, 30*time.Second, 20*time.Millisecond,
		"signed after 5 messages")
	r := l.check(t)
	require.NoError(t, r.Err())
	assert.Equal(t, 2, r.Checkpoints)
}

// At the end of a meeting the notary signs the head, even when nothing was
// stored since the last checkpoint: what the ledger knew is on record.
func TestNotarySignsAtAMeetingsEnd(t *testing.T) {
	l := newLedger(t)
	ctx := ctxFor(t)
	end := time.Now().Add(1200 * time.Millisecond) // over a second: checkpoints are timed to the second, and the same note is stored once
	n, err := notary.Start(ctx, l.log, l.store, l.key, nil, notary.Options{
		Meetings: func() []time.Time { return []time.Time{time.Now().Add(-time.Hour), end} },
	})
	require.NoError(t, err)
	defer n.Stop()
	require.Len(t, stored(t, l), 1)
	require.Eventually(t, func() bool { return len(stored(t, l)) == 2 }, 30*time.Second, 50*time.Millisecond,
		"signed at the meeting's end")
	assert.Equal(t, stored(t, l)[0].Note[:20], stored(t, l)[1].Note[:20], "the same head")
	r := l.check(t)
	require.NoError(t, r.Err())
	assert.Equal(t, 2, r.Checkpoints)
}

func stored(t *testing.T, l *ledger) []evidence.Stored {
	s, _, err := l.store.Load(ctxFor(t))
	require.NoError(t, err)
	return s
}

// A meeting the log records while the notary runs is signed at its end.
func TestNotarySignsAtTheEndOfAMeetingRecordedMeanwhile(t *testing.T) {
	l := newLedger(t)
	ctx := ctxFor(t)
	end := time.Date(2013, 9, 14, 0, 0, 0, 0, time.UTC) // 4MSP, Lusaka, 10-13 September 2013
	offset := end.Add(-1500 * time.Millisecond).Sub(time.Now())
	n, err := notary.Start(ctx, l.log, l.store, l.key, nil, notary.Options{
		Poll: 20 * time.Millisecond, Now: func() time.Time { return time.Now().Add(offset) },
	})
	require.NoError(t, err)
	defer n.Stop()
	e, err := events.Decode([]byte(`{"type":"meeting-held","date":"2013-09-13","data":{"code":"4MSP","name":"Fourth Meeting of States Parties","city":"Lusaka","start":"2013-09-10","end":"2013-09-13"},"source":"test"}`))
	require.NoError(t, err)
	_, err = l.log.Append(ctx, events.ConventionScope, jslog.AnyVersion, e)
	require.NoError(t, err)
	size := n.Latest().Size
	require.Eventually(t, func() bool { return n.Latest().Size == size+1 }, 30*time.Second, 20*time.Millisecond,
		"signed at the meeting's end, covering it")
}
