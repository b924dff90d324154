package clustertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/cmdservice"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// TestOnlyTheLedgerAppends: the ledger is the one writer of events. Every
// other role's append is refused, through jslog (at once, with the refused
// subject) or as a raw publish to ccm.events.SWE.signed (by the server),
// and stores nothing: the ledger's next event follows its last one.
func TestOnlyTheLedgerAppends(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ledger := openLog(t, c, roles.Ledger)
	evs := generate(t, 3)
	appendAsLedger(t, ledger, evs[:1])
	ojs := operatorJS(t, c)
	before := storedNow(t, ojs)
	signed := newEvent(t, events.Signed, "SWE", "2008-12-03", nil)
	deposited := newEvent(t, events.Deposited, "SWE", "2012-04-23", &events.Deposit{Instrument: events.Ratification})

	for _, role := range []string{roles.Operator, roles.Recorder, roles.Auditor} {
		l := openLog(t, c, role)
		for _, tt := range []struct {
			name   string
			append func() error
		}{
			{"one event", func() error { _, err := l.Append(ctx, "SWE", jslog.AnyVersion, signed); return err }},
			{"a command of two events", func() error { _, err := l.Append(ctx, "SWE", 0, signed, deposited); return err }},
			{"a chain", func() error { _, _, err := l.AppendChain(ctx, 1, evs[1:], nil); return err }},
		} {
			t.Run(role+" appends "+tt.name, func(t *testing.T) {
				requirePermissionError(t, tt.append(), role, "publish", events.SubjectPrefix)
			})
		}
	}
	for _, role := range otherRoles {
		t.Run(role+" publishes an event", func(t *testing.T) {
			refused(t, c, role, publish, signed.Subject(), func(ctx context.Context, nc *nats.Conn) error {
				m := nats.NewMsg(signed.Subject())
				m.Data = signed.StoredJSON()
				m.Header.Set(jetstream.MsgIDHeader, signed.ID.String())
				_, err := nc.RequestMsgWithContext(ctx, m)
				return err
			})
		})
	}
	assert.Equal(t, before, storedNow(t, ojs), "nothing stored")

	seq, err := ledger.Append(ctx, "SWE", jslog.AnyVersion, signed)
	require.NoError(t, err, "the ledger appends")
	assert.Equal(t, before.Contents[jslog.DefaultStream].LastSeq+1, seq, "the ledger's event follows its last one")
}

// today is the clock of the ledger's rules in these tests.
func today() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }

// recordThroughLedger sends one command and waits, bounded, for the
// ledger's service to be known on the recorder's node: until then the
// command has no responder and nothing is recorded, so sending it again
// is safe.
func recordThroughLedger(t *testing.T, client *cmdservice.Client, command string) cmdservice.RecordReply {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		r, err := client.Record(ctx, []byte(command))
		cancel()
		if errors.Is(err, cmdservice.ErrNoLedger) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		require.NoError(t, err, "record %s", command)
		return r
	}
}

// TestOnlyTheLedgerAnswersCommands: recorders record through the ledger's
// command service (cmdservice, run by the ledger, deciding by the rules).
// Nobody else may listen on the command subjects, alone or in the
// service's queue group, nor answer its discovery: a recorder that could
// would answer commands in the ledger's place, telling another that an
// event was recorded when it was not.
func TestOnlyTheLedgerAnswersCommands(t *testing.T) {
	c := natstest.RunDeployCluster(t)
	ensure(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lnc := c.DialRole(t, roles.Ledger)
	l, err := jslog.Open(ctx, lnc, jslog.Config{Replicas: 3})
	require.NoError(t, err)
	svc, err := cmdservice.Start(lnc, cmdservice.Config{Recorder: aggregates.NewLedger(l, today)})
	require.NoError(t, err, "the ledger starts its command service")
	t.Cleanup(svc.Stop)
	client := cmdservice.NewClient(c.DialRole(t, roles.Recorder))

	r := recordThroughLedger(t, client, `{"type":"signed","state":"SWE","date":"2008-12-03","source":"cluster test: signature"}`)
	require.Len(t, r.Events, 1)
	assert.Equal(t, cmdservice.Recorded{ID: r.Events[0].ID, Seq: 1, Subject: "ccm.events.SWE.signed", Status: "created"}, r.Events[0])

	for _, role := range otherRoles {
		for _, tt := range []struct {
			subject, queue string
		}{
			{"ccm.cmd.>", ""},
			{cmdservice.RecordSubject, ""},
			{cmdservice.RecordSubject, "q"},
			{cmdservice.ImportSubject, "q"},
			{"$SRV.INFO." + cmdservice.Name, ""},
		} {
			t.Run(role+" listens on "+tt.subject+" "+tt.queue, func(t *testing.T) {
				refused(t, c, role, subscribe, tt.subject, func(ctx context.Context, nc *nats.Conn) error {
					var err error
					if tt.queue != "" {
						_, err = nc.QueueSubscribeSync(tt.subject, tt.queue)
					} else {
						_, err = nc.SubscribeSync(tt.subject)
					}
					if err != nil {
						return err
					}
					return nc.FlushWithContext(ctx)
				})
			})
		}
	}

	r = recordThroughLedger(t, client, `{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"cluster test: deposit"}`)
	require.Len(t, r.Events, 1)
	assert.Equal(t, uint64(2), r.Events[0].Seq, "the ledger records the next command")
	head, err := l.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), head.Msgs, "the log holds the two recorded events")
}
