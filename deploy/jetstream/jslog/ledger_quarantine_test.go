package jslog_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// A raw message on a State's subjects, quarantined by every read, is still
// the last message there: the ledger appends after it (the stream's check
// is on the last stored message of the subjects, not the last admitted
// event), whether it read the message or learns of it from the conflict.
// Before, one raw publish blocked every later write about the State.
func TestLedgerRecordsAfterAQuarantinedMessage(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	clock := func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }
	led := aggregates.NewLedger(l, clock)
	_, err := led.Record(ctx, ev(t, events.Signed, "SWE", "2008-12-03", nil))
	require.NoError(t, err)
	js, err := jetstream.New(srv.Conn(t))
	require.NoError(t, err)
	for _, body := range []string{"this is not json", `{"type":"signed","state":"SWE","date":"2008-12-03","source":"no id"}`} {
		_, err = js.Publish(ctx, "ccm.events.SWE.signed", []byte(body))
		require.NoError(t, err)
	}
	_, err = led.Record(ctx, ev(t, events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification}))
	require.NoError(t, err, "a ledger that had not read the raw messages")
	_, err = js.Publish(ctx, "ccm.events.SWE.victims-declared", []byte("{}"))
	require.NoError(t, err)
	fresh := aggregates.NewLedger(l, clock)
	_, err = fresh.Sync(ctx)
	require.NoError(t, err)
	_, err = fresh.Record(ctx, ev(t, events.LegislationStatus, "SWE", "2012-05-01", &events.Legislation{Status: events.LegislationAdopted}))
	require.NoError(t, err, "a ledger that read the raw message")
	require.Len(t, fresh.Quarantined(), 3)
}
