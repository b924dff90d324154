package cmdservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/cmdservice"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
)

var today = func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }

// ledgerEnv is an embedded server closed to anyone without its
// credentials, with its streams, and the ledger's command service.
type ledgerEnv struct {
	srv *embedded.Server
	log *jslog.Log
	svc *cmdservice.Service
}

func startLedger(t *testing.T, cfg cmdservice.Config) *ledgerEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	creds, err := embedded.EnsureCredentials(dir + "/auth")
	require.NoError(t, err)
	srv, err := embedded.Start(embedded.Options{StoreDir: dir, Port: -1, Credentials: creds})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	op := connect(t, srv, roles.Operator)
	_, err = infra.Ensure(ctx, op, jslog.Config{}, projector.Config{})
	require.NoError(t, err)
	nc := connect(t, srv, roles.Ledger)
	log, err := jslog.Open(ctx, nc, jslog.Config{})
	require.NoError(t, err)
	cfg.Recorder = aggregates.NewLedger(log, today)
	svc, err := cmdservice.Start(nc, cfg)
	require.NoError(t, err)
	t.Cleanup(svc.Stop)
	return &ledgerEnv{srv: srv, log: log, svc: svc}
}

func connect(t *testing.T, srv *embedded.Server, role string) *nats.Conn {
	t.Helper()
	nc, err := srv.ConnectAs(role, true)
	require.NoError(t, err, "connect as %s", role)
	t.Cleanup(nc.Close)
	return nc
}

func (e *ledgerEnv) msgs(t *testing.T) uint64 {
	t.Helper()
	h, err := e.log.Head(context.Background())
	require.NoError(t, err)
	return h.Msgs
}

func line(typ, state, date, data, source string) string {
	s := fmt.Sprintf(`{"type":%q,"state":%q,"date":%q,"source":%q`, typ, state, date, source)
	if data != "" {
		s += `,"data":` + data
	}
	return s + "}"
}

func TestRecordThroughTheService(t *testing.T) {
	ctx := context.Background()
	env := startLedger(t, cmdservice.Config{})
	c := cmdservice.NewClient(connect(t, env.srv, roles.Recorder))

	const id = "9a4c5a86-9d36-4b8e-8e35-3c1d9f0f2a11" // a random (version 4) id
	sig := `{"id":"` + id + `","type":"signed","state":"SWE","date":"2008-12-03","source":"test: signature"}`
	r, err := c.Record(ctx, []byte(sig))
	require.NoError(t, err)
	require.Len(t, r.Events, 1)
	assert.Equal(t, "created", r.Events[0].Status)
	assert.Equal(t, "ccm.events.SWE.signed", r.Events[0].Subject)

	r, err = c.Record(ctx, []byte(sig))
	require.NoError(t, err, "the same event again")
	assert.Equal(t, "existing", r.Events[0].Status)

	// The same id for another State.
	_, err = c.Record(ctx, []byte(`{"id":"`+id+`","type":"signed","state":"NOR","date":"2008-12-03","source":"x"}`))
	assert.ErrorIs(t, err, events.ErrIDConflict)
	assert.Contains(t, err.Error(), "a signed event of SWE stored at sequence 1")

	// Impossible, then malformed: each names the rule or the fields.
	_, err = c.Record(ctx, []byte(line("deposited", "SWE", "2012-04-23", `{"instrument":"accession"}`, "test")))
	require.ErrorIs(t, err, events.ErrRejected)
	var rj *aggregates.Rejection
	require.ErrorAs(t, err, &rj)
	assert.Equal(t, aggregates.RuleAccessionBySignatory, rj.Rule)
	_, err = c.Record(ctx, []byte(`{"events":[`+line("signed", "XKX", "2008-12-03", "", "s")+`,`+line("deposited", "SWE", "2012-04-23", `{"instrument":"x"}`, "s")+`]}`))
	require.ErrorIs(t, err, events.ErrInvalid)
	var ie *events.InputError
	require.ErrorAs(t, err, &ie)
	require.Len(t, ie.Problems, 2)
	assert.Equal(t, 1, ie.Problems[0].Line)
	assert.Equal(t, "state", ie.Problems[0].Field)
	assert.Equal(t, 2, ie.Problems[1].Line)
	assert.Equal(t, uint64(1), env.msgs(t), "only the signature is stored")
}

// A recorder may send commands, not events: its raw publish is refused and
// stores nothing.
func TestOnlyTheLedgerPublishesEvents(t *testing.T) {
	env := startLedger(t, cmdservice.Config{})
	for _, role := range []string{roles.Recorder, roles.Auditor, roles.Operator} {
		js, err := jetstream.New(connect(t, env.srv, role))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = js.Publish(ctx, "ccm.events.SWE.withdrawal-notified", []byte(line("withdrawal-notified", "SWE", "2012-09-01", "", "forged")))
		cancel()
		assert.Error(t, err, "%s publishes an event", role)
	}
	assert.Zero(t, env.msgs(t), "nothing stored")
}

func TestImportInParts(t *testing.T) {
	defer cmdservice.SetPartBytes(200)()
	ctx := context.Background()
	env := startLedger(t, cmdservice.Config{})
	c := cmdservice.NewClient(connect(t, env.srv, roles.Recorder))
	var in strings.Builder
	in.WriteString("# a comment\n")
	in.WriteString(line("signed", "SWE", "2008-12-03", "", "test") + "\n")
	for y := 2013; y <= 2020; y++ {
		in.WriteString(line("report-submitted", "SWE", fmt.Sprintf("%d-04-30", y), fmt.Sprintf(`{"kind":"annual","year":%d}`, y-1), "test") + "\n")
	}
	in.WriteString(line("deposited", "SWE", "2012-04-23", `{"instrument":"ratification"}`, "test")) // no final newline
	var sent []int64
	r, err := c.Import(ctx, strings.NewReader(in.String()), cmdservice.ImportOptions{Sent: func(n int64) { sent = append(sent, n) }})
	require.NoError(t, err)
	assert.Greater(t, len(sent), 3, "sent in parts")
	assert.Equal(t, cmdservice.ImportReply{Events: 10, Recorded: 10, LastSeq: 10, Attempts: 1, StoredPerAttempt: []int{10}}, r)

	r, err = c.Import(ctx, strings.NewReader(in.String()), cmdservice.ImportOptions{})
	require.NoError(t, err)
	assert.Equal(t, 10, r.AlreadyRecorded, "the same input again")
	assert.Zero(t, r.Recorded)
}

// Problems in different parts are all reported, with the line of the
// whole input; nothing is recorded.
func TestImportReportsEveryProblemWithItsLine(t *testing.T) {
	defer cmdservice.SetPartBytes(100)()
	ctx := context.Background()
	env := startLedger(t, cmdservice.Config{})
	c := cmdservice.NewClient(connect(t, env.srv, roles.Recorder))
	lines := []string{
		line("signed", "SWE", "2008-12-03", "", "test"),
		line("signed", "XKX", "2008-12-03", "", "test"),
		line("signed", "NOR", "2008-12-03", "", "test"),
		"not json",
		line("signed", "FIN", "2008-12-03", "", "test"),
	}
	_, err := c.Import(ctx, strings.NewReader(strings.Join(lines, "\n")), cmdservice.ImportOptions{})
	var ie *events.InputError
	require.ErrorAs(t, err, &ie)
	var got []int
	for _, p := range ie.Problems {
		got = append(got, p.Line)
	}
	assert.Equal(t, []int{2, 4}, got)
	assert.Zero(t, env.msgs(t))

	// Rejected by the rules: the lines of the events refused.
	_, err = c.Import(ctx, strings.NewReader(strings.Join([]string{
		lines[0], line("deposited", "NOR", "2008-12-03", `{"instrument":"ratification"}`, "test"),
	}, "\n")), cmdservice.ImportOptions{})
	var re *cmdservice.RefusedError
	require.ErrorAs(t, err, &re)
	require.Len(t, re.Problems, 1)
	assert.Equal(t, 2, re.Problems[0].Line)
	assert.Equal(t, aggregates.RuleRatificationUnsigned, re.Problems[0].Rule)
	assert.ErrorIs(t, err, events.ErrRejected)
	assert.Zero(t, env.msgs(t))
}

func TestImportLimits(t *testing.T) {
	defer cmdservice.SetPartBytes(100)()
	ctx := context.Background()
	env := startLedger(t, cmdservice.Config{MaxImports: 1, MaxInputBytes: 500, PartTimeout: 300 * time.Millisecond})
	nc := connect(t, env.srv, roles.Recorder)
	c := cmdservice.NewClient(nc)

	big := strings.Repeat(line("signed", "SWE", "2008-12-03", "", "test")+"\n", 20)
	_, err := c.Import(ctx, strings.NewReader(big), cmdservice.ImportOptions{})
	assert.ErrorIs(t, err, events.ErrInputTooLarge, "an input over the limit")

	// One import open and silent: a second one is told to wait; the
	// first expires.
	part := func(id string, n int, last bool) error {
		m := nats.NewMsg(cmdservice.ImportSubject)
		m.Header.Set(cmdservice.HeaderImport, id)
		m.Header.Set(cmdservice.HeaderPart, fmt.Sprint(n))
		if last {
			m.Header.Set(cmdservice.HeaderLast, "true")
		}
		m.Data = []byte(line("signed", "SWE", "2008-12-03", "", "test") + "\n")
		resp, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			return err
		}
		if code := resp.Header.Get("Nats-Service-Error-Code"); code != "" {
			var e cmdservice.Error
			require.NoError(t, json.Unmarshal(resp.Data, &e))
			return errors.New(e.Code)
		}
		return nil
	}
	require.NoError(t, part("a", 1, false))
	assert.EqualError(t, part("b", 1, false), cmdservice.CodeBusy)
	assert.EqualError(t, part("a", 3, false), cmdservice.CodeBadRequest, "a part out of order")
	require.NoError(t, part("c", 1, false))
	time.Sleep(time.Second)
	assert.EqualError(t, part("c", 2, true), cmdservice.CodeExpired)
	assert.Zero(t, env.msgs(t))
}

// `nats micro info` sees the service and its endpoints.
func TestServiceIsDiscoverable(t *testing.T) {
	env := startLedger(t, cmdservice.Config{Version: "1.2.3"})
	nc := connect(t, env.srv, roles.Auditor)
	resp, err := nc.Request("$SRV.INFO."+cmdservice.Name, nil, 5*time.Second)
	require.NoError(t, err)
	var info struct {
		Name      string `json:"name"`
		Version   string `json:"version"`
		Endpoints []struct {
			Subject string `json:"subject"`
		} `json:"endpoints"`
	}
	require.NoError(t, json.Unmarshal(resp.Data, &info))
	assert.Equal(t, cmdservice.Name, info.Name)
	assert.Equal(t, "1.2.3", info.Version)
	var subjects []string
	for _, e := range info.Endpoints {
		subjects = append(subjects, e.Subject)
	}
	assert.ElementsMatch(t, []string{cmdservice.RecordSubject, cmdservice.ImportSubject}, subjects)
}

// An input of more events than the limit, and an import whose parts keep
// coming slowly past the time an import may take, are refused.
func TestImportBounds(t *testing.T) {
	ctx := context.Background()
	env := startLedger(t, cmdservice.Config{MaxInputEvents: 3, PartTimeout: 10 * time.Second, MaxImportTime: 600 * time.Millisecond})
	nc := connect(t, env.srv, roles.Recorder)
	var in strings.Builder
	for _, st := range []string{"SWE", "NOR", "FIN", "DNK", "ISL"} {
		in.WriteString(line("signed", st, "2008-12-03", "", "test") + "\n")
	}
	_, err := cmdservice.NewClient(nc).Import(ctx, strings.NewReader(in.String()), cmdservice.ImportOptions{})
	assert.ErrorIs(t, err, events.ErrInputTooLarge)
	assert.Contains(t, err.Error(), "3 events")

	send := func(n int) string {
		m := nats.NewMsg(cmdservice.ImportSubject)
		m.Header.Set(cmdservice.HeaderImport, "slow")
		m.Header.Set(cmdservice.HeaderPart, fmt.Sprint(n))
		m.Data = []byte("# a comment\n")
		resp, err := nc.RequestMsg(m, 5*time.Second)
		require.NoError(t, err)
		return resp.Header.Get("Nats-Service-Error-Code")
	}
	require.Empty(t, send(1))
	var code string
	for n := 2; n < 100 && code == ""; n++ {
		time.Sleep(50 * time.Millisecond)
		code = send(n)
	}
	assert.Equal(t, "410", code, "an import that keeps coming past its time is dropped")
	assert.Zero(t, env.msgs(t))
}
