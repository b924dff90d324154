package jslog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// rawMessages are what a client that bypasses the ledger could publish to
// the log, with the rule each is quarantined by.
var rawMessages = []struct {
	subject, body, rule string
}{
	{"ccm.events.SWE.signed", "this is not json", events.QuarantineUndecodable},
	{"ccm.events.NOR.signed", `{"id":"0b6f3f5e-7c7e-4a8e-9d7a-1f1f1f1f1f01","type":"withdrawal-notified","state":"SWE","date":"2012-09-01","source":"forged"}`, events.QuarantineWrongSubject},
	{"ccm.events.SWE.bogus", `{"type":"bogus","state":"SWE","date":"2011-01-01","source":"forged"}`, events.QuarantineUndecodable},
	{"ccm.events.SWE", `{"id":"0b6f3f5e-7c7e-4a8e-9d7a-1f1f1f1f1f05","type":"signed","state":"SWE","date":"2008-12-03","source":"forged"}`, events.QuarantineWrongSubject},
	{"ccm.events.SWE.signed", `{"type":"signed","state":"SWE","date":"2008-12-03","source":"no id"}`, events.QuarantineUndecodable},
	{"ccm.events.DEU.legislation-status", "{\"type\":\"legislation-status\",\"state\":\"DEU\",\"date\":\"2011-01-01\",\"data\":{\"status\":\"adopted\"},\"source\":\"bad \xff byte\"}", events.QuarantineUndecodable},
	{"ccm.events.XYZ.signed", `{"id":"0b6f3f5e-7c7e-4a8e-9d7a-1f1f1f1f1f07","type":"signed","state":"XYZ","date":"2008-12-03","source":"forged"}`, events.QuarantineUndecodable},
	{"ccm.events.SWE.signed", `{"id":"0b6f3f5e-7c7e-4a8e-9d7a-1f1f1f1f1f08","type":"signed","state":"SWE","date":"2001-01-01","source":"before the Convention"}`, events.QuarantineUndecodable},
}

// publishRaw stores the raw messages between two good events, as a client
// with the right to publish on ccm.events.> could.
func publishRaw(t *testing.T, srv *natstest.Server, l *jslog.Log) (good []events.Envelope) {
	t.Helper()
	ctx := context.Background()
	first := ev(t, events.Signed, "SWE", "2008-12-03", nil)
	_, err := l.Append(ctx, "SWE", jslog.AnyVersion, first)
	require.NoError(t, err)
	js, err := jetstream.New(srv.Conn(t))
	require.NoError(t, err)
	for _, m := range rawMessages {
		_, err := js.Publish(ctx, m.subject, []byte(m.body))
		require.NoError(t, err, "raw publish to %s", m.subject)
	}
	last := ev(t, events.Signed, "NOR", "2008-12-03", nil)
	_, err = l.Append(ctx, "NOR", jslog.AnyVersion, last)
	require.NoError(t, err)
	return []events.Envelope{first, last}
}

func TestReadQuarantinesWhatIsNotAnEventOfItsSubject(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	good := publishRaw(t, srv, l)

	var got []events.Envelope
	var kept []events.Quarantined
	last, err := l.Read(ctx, jslog.ReadOptions{Quarantine: func(q events.Quarantined) { kept = append(kept, q) }},
		func(e events.Envelope) error { got = append(got, e); return nil })
	require.NoError(t, err, "a read goes on past what it cannot count")
	assert.Equal(t, uint64(len(rawMessages)+2), last)
	require.Len(t, got, 2)
	assert.Equal(t, good[0].ID, got[0].ID)
	assert.Equal(t, good[1].ID, got[1].ID)
	require.Len(t, kept, len(rawMessages))
	for i, q := range kept {
		assert.Equal(t, uint64(i+2), q.Seq, "message %d", i)
		assert.Equal(t, rawMessages[i].subject, q.Subject, "message %d", i)
		assert.Equal(t, rawMessages[i].rule, q.Rule, "message %d: %s", i, q.Reason)
		assert.NotEmpty(t, q.Reason)
		assert.False(t, q.Recorded.IsZero())
	}
	assert.Contains(t, kept[1].Reason, "withdrawal-notified event of SWE, stored on ccm.events.NOR.signed")

	// Without a callback the read skips them just the same.
	n := 0
	_, err = l.Read(ctx, jslog.ReadOptions{}, func(events.Envelope) error { n++; return nil })
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	// One of them, asked for by its sequence.
	_, err = l.Get(ctx, 2)
	assert.ErrorIs(t, err, jslog.ErrQuarantined)
}

func TestFollowGoesOnPastWhatIsNotAnEvent(t *testing.T) {
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	good := publishRaw(t, srv, l)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		got  []events.Envelope
		kept []events.Quarantined
	)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, jslog.FollowOptions{Durable: "q", Quarantine: func(q events.Quarantined) {
			mu.Lock()
			kept = append(kept, q)
			mu.Unlock()
		}}, func(_ context.Context, e events.Envelope) error {
			mu.Lock()
			got = append(got, e)
			n := len(got)
			mu.Unlock()
			if n == len(good) {
				cancel()
			}
			return nil
		})
	}()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2, "the follower reached the event after the raw messages")
	assert.Equal(t, good[1].ID, got[1].ID)
	assert.Len(t, kept, len(rawMessages))
}
