package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ledgerServe is a `ccm serve` on a data directory, with its NATS port.
type ledgerServe struct {
	data, natsURL string
	env           map[string]string
}

// startLedgerServe runs `ccm serve` on data (projector and HTTP off) with
// the environment env, until the test ends.
func startLedgerServe(t *testing.T, data string, env map[string]string) *ledgerServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	ready := make(chan string, 1)
	done := make(chan int, 1)
	m := &Main{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] }, Now: time.Now,
		ServeReady: func(natsURL, _ string) { ready <- natsURL }}
	go func() {
		done <- m.Run(ctx, []string{"serve", "--data", data, "--listen", "127.0.0.1:-1", "--projector=false", "--http", "off"})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("ccm serve did not stop; stderr:\n%s", stderr.String())
		}
	})
	select {
	case u := <-ready:
		return &ledgerServe{data: data, natsURL: u, env: env}
	case code := <-done:
		t.Fatalf("ccm serve ended with exit %d:\n%s", code, stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("ccm serve not ready:\n%s", stderr.String())
	}
	return nil
}

// ccm runs a client command against the server, as a user of this
// machine would (its credentials found in the data directory).
func (s *ledgerServe) ccm(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return s.env[k] }, Now: time.Now}
	code := m.Run(context.Background(), append(args, "--nats-url", s.natsURL))
	return code, out.String(), errb.String()
}

func TestRecordAndImportGoThroughTheLedger(t *testing.T) {
	dir := t.TempDir()
	// Clients find the credentials in the default data directory.
	env := map[string]string{"XDG_DATA_HOME": dir}
	s := startLedgerServe(t, filepath.Join(dir, "ccm-ledger"), env)

	code, out, errs := s.ccm(t, "", "record", "--type", "victims-declared", "--state", "FIN", "--date", "2012-06-01", "--source", "test: a command")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "recorded victims-declared FIN 2012-06-01")
	code, out, errs = s.ccm(t, "", "record", "--type", "victims-declared", "--state", "FIN", "--date", "2012-06-01", "--source", "test: a command")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "already recorded")

	id := uuid.NewString()
	code, _, errs = s.ccm(t, "", "record", "--id", id, "--type", "victims-declared", "--state", "NOR", "--date", "2012-06-01", "--source", "test: an id")
	require.Equal(t, exitOK, code, errs)
	code, _, errs = s.ccm(t, "", "record", "--id", id, "--type", "victims-declared", "--state", "DNK", "--date", "2012-06-01", "--source", "test: the id again")
	assert.Equal(t, exitIDTaken, code, "the same id for another event: %s", errs)
	assert.Contains(t, errs, "victims-declared event of NOR")

	code, _, errs = s.ccm(t, "", "record", "--type", "deposited", "--state", "SWE", "--date", "2013-01-01", "--payload", `{"instrument":"ratification"}`, "--source", "test")
	assert.Equal(t, exitRejected, code, "a second deposit: %s", errs)
	assert.Contains(t, errs, "second-deposit")

	in := strings.Join([]string{
		`{"type":"victims-declared","state":"ISL","date":"2012-06-01","source":"test: an import"}`,
		`{"type":"legislation-status","state":"ISL","date":"2012-06-02","data":{"status":"adopted"},"source":"test: an import"}`,
	}, "\n")
	code, out, errs = s.ccm(t, in, "import", "-", "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var res struct {
		Events, Recorded, AlreadyRecorded int
	}
	require.NoError(t, json.Unmarshal([]byte(strings.ReplaceAll(out, "already_recorded", "alreadyrecorded")), &res), out)
	assert.Equal(t, 2, res.Events)
	assert.Equal(t, 2, res.Recorded)
	code, out, errs = s.ccm(t, in, "import", "-")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "recorded 0, 2 already recorded")

	code, _, errs = s.ccm(t, in+"\nnot json\n"+`{"type":"signed","state":"XKX","date":"2008-12-03","source":"s"}`, "import", "-")
	assert.Equal(t, exitInvalid, code, errs)
	assert.Contains(t, errs, "line 3:")
	assert.Contains(t, errs, "line 4: state")
	code, _, errs = s.ccm(t, `{"type":"deposited","state":"SWE","date":"2013-01-01","data":{"instrument":"ratification"},"source":"s"}`, "import", "-")
	assert.Equal(t, exitRejected, code, errs)
	assert.Contains(t, errs, "line 1: deposited SWE 2013-01-01: second-deposit")
}

// The server takes no connection without credentials, and a recorder's
// raw publish to the log stores nothing.
func TestServeIsClosedByDefault(t *testing.T) {
	data := t.TempDir()
	s := startLedgerServe(t, data, nil)
	_, err := nats.Connect(s.natsURL, nats.Timeout(5*time.Second))
	require.Error(t, err, "a connection without credentials")
	assert.ErrorIs(t, err, nats.ErrAuthorization)

	opt, err := nats.NkeyOptionFromSeed(filepath.Join(data, "auth", "recorder.nk"))
	require.NoError(t, err)
	nc, err := nats.Connect(s.natsURL, opt)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.Publish(ctx, "ccm.events.SWE.withdrawal-notified",
		[]byte(`{"id":"0b6f3f5e-7c7e-4a8e-9d7a-1f1f1f1f1f01","type":"withdrawal-notified","state":"SWE","date":"2012-09-01","source":"forged"}`))
	require.Error(t, err, "a recorder's raw publish")
	code, out, errs := s.ccm(t, "", "verify", "--nats-auth-dir", filepath.Join(data, "auth"), "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var v Verification
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, recordSize, v.Messages, "nothing stored but the bundled record")

	// The credentials are the owner's only.
	for _, f := range []string{"auth", "auth/ledger.nk", "auth/operator.nk", "auth/recorder.nk"} {
		st, err := os.Stat(filepath.Join(data, f))
		require.NoError(t, err)
		assert.Zero(t, st.Mode().Perm()&0o077, "%s: mode %v", f, st.Mode().Perm())
	}
}

func TestServeListensOnLoopbackOnly(t *testing.T) {
	code, _, errs := run(t, "", "serve", "--data", t.TempDir(), "--listen", "0.0.0.0:0", "--http", "off")
	assert.Equal(t, exitUsage, code, errs)
	assert.Contains(t, errs, "loopback only")
}
