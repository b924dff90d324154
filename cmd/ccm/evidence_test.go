package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// The tamper evidence of the ledger, end to end: a data directory's store
// edited on disk as an attacker who knows the file format would (or
// damaged as a disk would), then every command that opens it, exports and
// proofs checked offline, and ccm serve's checkpoints, proofs and refusal
// of writes on a damaged log.

const (
	// evAccount is the account of the embedded server's streams (it has
	// users, no accounts: the global account).
	evAccount = "$G"
	evStream  = "CCM"
	// Sweden's deposit, as the bundled record holds it, and the edit of
	// the issue: a deposit three years earlier, before the Convention's
	// entry into force, so that Sweden would have been bound from
	// 1 August 2010 instead of 1 October 2012.
	evSweDate    = "2012-04-23"
	evForgedDate = "2009-04-23"
)

// evLoadedData returns a new data directory holding the bundled record,
// loaded and signed by a first command, with no process running.
func evLoadedData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	code, _, errs := run(t, "", "status", "SWE", "--data", dir)
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, errs, "loaded the bundled record")
	return dir
}

// evExport runs `ccm export --data dir` and returns the export.
func evExport(t *testing.T, dir string) string {
	t.Helper()
	code, out, errs := run(t, "", "export", "--data", dir)
	require.Equal(t, exitOK, code, errs)
	return out
}

// evSweDeposit finds Sweden's deposit of 23 April 2012 in a whole export:
// its line, its index among the export's lines, sequence and id.
func evSweDeposit(t *testing.T, export string) (line string, index int, seq uint64, id string) {
	t.Helper()
	for i, l := range strings.Split(export, "\n") {
		if strings.HasPrefix(l, "#") || !strings.Contains(l, `"state":"SWE"`) || !strings.Contains(l, `"type":"deposited"`) ||
			!strings.Contains(l, `"date":"`+evSweDate+`"`) {
			continue
		}
		var e struct {
			Seq uint64 `json:"seq"`
			ID  string `json:"id"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		require.NotZero(t, e.Seq, l)
		require.NotEmpty(t, e.ID, l)
		return l, i, e.Seq, e.ID
	}
	t.Fatalf("no deposit of Sweden dated %s in the export", evSweDate)
	return "", 0, 0, ""
}

// evForgeSweDeposit edits, on the stopped store of dir, the date of Sweden's
// deposit from 2012-04-23 to 2009-04-23, with the file store's checksum
// recomputed: the server serves the edited event as if it had always been
// stored. It returns the deposit's sequence and id.
func evForgeSweDeposit(t *testing.T, dir string) (uint64, string) {
	t.Helper()
	_, _, seq, id := evSweDeposit(t, evExport(t, dir))
	from, to := []byte(`"date":"`+evSweDate+`"`), []byte(`"date":"`+evForgedDate+`"`)
	require.NoError(t, natstest.EditMessage(dir, evAccount, evStream, seq, func(p []byte) {
		require.Equal(t, 1, bytes.Count(p, from), "the stored deposit: %s", p)
		copy(p, bytes.Replace(p, from, to, 1))
	}))
	return seq, id
}

// evPublicKey returns the ledger's public key, as `ccm checkpoint
// --public-key` prints it for auditors.
func evPublicKey(t *testing.T, dir string) string {
	t.Helper()
	code, out, errs := run(t, "", "checkpoint", "--public-key", "--data", dir)
	require.Equal(t, exitOK, code, errs)
	k := strings.TrimSpace(out)
	origin, err := evidence.KeyOrigin(k)
	require.NoError(t, err, "a public key: %q", out)
	require.Equal(t, evidence.Origin(evStream), origin)
	return k
}

// evStatusJSON is the part of `ccm status --format json` the tests read.
type evStatusJSON struct {
	TreatyStatus   string `json:"treaty_status"`
	Deposited      string `json:"deposited"`
	EntryIntoForce string `json:"entry_into_force"`
}

// 1. The attack: Sweden's deposit antedated on disk, checksum
// and all. Every command that opens the log names the message; reading
// on is possible and shows the forged history, recording is not.
func TestEvidenceEditedEventOnADataDirectory(t *testing.T) {
	dir := evLoadedData(t)
	code, out, errs := run(t, "", "status", "SWE", "--data", dir, "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var st evStatusJSON
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	require.Equal(t, "2012-10-01", st.EntryIntoForce, "before the edit")

	seq, id := evForgeSweDeposit(t, dir)
	at := "sequence " + strconv.FormatUint(seq, 10)

	code, out, errs = run(t, "", "status", "SWE", "--data", dir, "--format", "json")
	assert.Equal(t, exitDamaged, code, "status on the edited log: %s", errs)
	assert.Empty(t, out, "nothing is shown of a log that fails its check")
	assert.Contains(t, errs, at)
	assert.Contains(t, errs, "event "+id)
	assert.Contains(t, errs, "tampered or damaged")
	assert.Contains(t, errs, "--allow-damaged")

	code, out, errs = run(t, "", "status", "SWE", "--data", dir, "--format", "json", "--allow-damaged")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, errs, at+", event "+id, "the problem is still printed")
	assert.Contains(t, errs, "going on (--allow-damaged)")
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	assert.Equal(t, evForgedDate, st.Deposited, "what the edited log says")
	assert.Equal(t, "2010-08-01", st.EntryIntoForce, "the Convention's own entry into force, for a deposit before it")

	// Nothing is recorded on it, even with --allow-damaged.
	code, out, errs = run(t, "", "record", "--data", dir, "--allow-damaged", "--type", "victims-declared", "--state", "SWE",
		"--date", "2012-06-01", "--source", "test: a write to a damaged log")
	assert.Equal(t, exitDamaged, code, "record on the edited log: %s", errs)
	assert.NotContains(t, out, "recorded")
	assert.Contains(t, errs, "recover it")
	code, out, errs = run(t, "", "record", "--data", dir, "--type", "victims-declared", "--state", "SWE",
		"--date", "2012-06-01", "--source", "test: a write to a damaged log")
	assert.Equal(t, exitDamaged, code, "record without --allow-damaged: %s", errs)
	assert.Empty(t, out)

	code, out, errs = run(t, "", "verify", "--data", dir)
	assert.Equal(t, exitDamaged, code, "verify: %s", errs)
	assert.Contains(t, out, "TAMPERED OR DAMAGED")
	assert.Contains(t, out, at+", event "+id)
	assert.Contains(t, out, fmt.Sprintf("%d messages", recordSize), "no message added: the refused record stored nothing")
	// No proof is made against a damaged log: it could never verify.
	code, out, errs = run(t, "", "prove", id, "--data", dir, "--allow-damaged")
	assert.Equal(t, exitDamaged, code, "prove on a damaged log: %s", errs)
	assert.Empty(t, out)
	code, out, errs = run(t, "", "verify", "--data", dir, "--format", "json")
	assert.Equal(t, exitDamaged, code, errs)
	var v Verification
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	require.NotEmpty(t, v.Evidence.Problems)
	assert.Equal(t, seq, v.Evidence.Problems[0].Seq)
	assert.Equal(t, id, v.Evidence.Problems[0].ID)
	assert.Equal(t, recordSize, v.Messages)

	code, out, errs = run(t, "", "export", "--data", dir)
	assert.Equal(t, exitDamaged, code, "export: %s", errs)
	assert.Empty(t, out, "no export of a log that fails its check")
	assert.Contains(t, errs, at)

	// Exported anyway, the edit travels with the export's evidence, and
	// an auditor with the key finds it. (Where: the export's leaf lines are
	// those of the messages as read, not the stored ones, so the report
	// points at the first message rather than at the edited one; not
	// asserted.)
	code, out, errs = run(t, "", "export", "--data", dir, "--allow-damaged")
	require.Equal(t, exitOK, code, errs)
	assert.Len(t, eventLines(out), int(recordSize))
	f := filepath.Join(t.TempDir(), "damaged.jsonl")
	require.NoError(t, os.WriteFile(f, []byte(out), 0o644))
	code, out, errs = run(t, "", "verify", "--file", f, "--key", evPublicKey(t, dir))
	assert.Equal(t, exitDamaged, code, "the export of the edited log: %s", errs)
	assert.Contains(t, out, "TAMPERED OR DAMAGED")
	assert.Contains(t, out, "is not what the checkpoint signed")
}

// 2. Damage the server repairs silently at start-up, by dropping records:
// every command now says which messages are missing.
func TestEvidenceLostMessagesOnADataDirectory(t *testing.T) {
	// The store has one block (the ledger's stream has no byte limit):
	// the server drops the bad record and every one after it in the block.
	for _, tc := range []struct {
		name   string
		tamper func(dir string, seq uint64) error
		// lost returns the first sequence the server drops, given the
		// one tampered with and the last.
		lost func(seq, last uint64) uint64
	}{
		{"a flipped byte", func(dir string, seq uint64) error {
			return natstest.FlipByte(dir, evAccount, evStream, seq, 10)
		}, func(seq, _ uint64) uint64 { return seq }},
		{"a truncated block", func(dir string, _ uint64) error {
			return natstest.TruncateLastBlock(dir, evAccount, evStream, 100)
		}, func(_, last uint64) uint64 { return last }},
		{"a zeroed sector", func(dir string, seq uint64) error {
			_, off, _, err := natstest.MessageOffset(dir, evAccount, evStream, seq)
			if err != nil {
				return err
			}
			return natstest.ZeroRange(dir, evAccount, evStream, off, 4<<10)
		}, func(seq, _ uint64) uint64 { return seq }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := evLoadedData(t)
			export := evExport(t, dir)
			last := uint64(len(eventLines(export)))
			require.Equal(t, recordSize, last)
			_, _, seq, _ := evSweDeposit(t, export)
			require.NoError(t, tc.tamper(dir, seq))
			lost := tc.lost(seq, last)
			missing := evidence.Span("message", lost, last) + " missing"

			code, out, errs := run(t, "", "export", "--data", dir)
			assert.Equal(t, exitDamaged, code, "export: %s", errs)
			assert.Empty(t, out, "nothing exported")
			assert.Contains(t, errs, "sequence "+strconv.FormatUint(lost, 10)+": the log holds "+strconv.FormatUint(lost-1, 10)+" messages")
			assert.Contains(t, errs, missing)
			code, _, errs = run(t, "", "status", "SWE", "--data", dir)
			assert.Equal(t, exitDamaged, code, "status: %s", errs)
			assert.Contains(t, errs, missing)

			// The server did drop them: what --allow-damaged reads.
			code, out, errs = run(t, "", "export", "--data", dir, "--allow-damaged")
			require.Equal(t, exitOK, code, errs)
			assert.Len(t, eventLines(out), int(lost-1))
			assert.Contains(t, errs, missing)
		})
	}
}

// 3. An export carries its evidence: it verifies offline from the public
// key alone, and no line of it can be edited, removed, repeated or moved
// unnoticed; importers skip the evidence.
func TestEvidenceExportRoundTrip(t *testing.T) {
	dir := evLoadedData(t)
	export := evExport(t, dir)
	require.Len(t, eventLines(export), int(recordSize))
	assert.Contains(t, export, "\n# ccm-leaves 1 ")
	assert.Contains(t, export, "\n# ccm-checkpoint ")
	tmp := t.TempDir()
	f := filepath.Join(tmp, "export.jsonl")
	require.NoError(t, os.WriteFile(f, []byte(export), 0o644))
	key := evPublicKey(t, dir)
	keyFile := filepath.Join(tmp, "ledger.pub")
	require.NoError(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o644))

	for _, k := range []string{key, keyFile} {
		code, out, errs := run(t, "", "verify", "--file", f, "--key", k)
		require.Equal(t, exitOK, code, "verify --key %s: %s%s", k, out, errs)
		assert.Contains(t, out, fmt.Sprintf("The export holds %d messages", recordSize))
		assert.Contains(t, out, "none missing")
	}
	code, out, errs := run(t, export, "verify", "--file", "-", "--key", key, "--format", "json")
	require.Equal(t, exitOK, code, "from standard input: %s", errs)
	var r evidence.Report
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	assert.Equal(t, recordSize, r.Messages)
	assert.True(t, r.KeyChecked)
	assert.Empty(t, r.Problems)

	lines := strings.Split(strings.TrimSuffix(export, "\n"), "\n")
	depLine, dep, seq, id := evSweDeposit(t, export)
	require.Equal(t, depLine, lines[dep])
	with := func(edit func([]string) []string) string {
		return strings.Join(edit(append([]string(nil), lines...)), "\n") + "\n"
	}
	for _, tc := range []struct {
		name string
		in   string
		want []string // in the report
	}{
		{"an edited event line", with(func(l []string) []string {
			l[dep] = strings.Replace(l[dep], `"date":"`+evSweDate+`"`, `"date":"`+evForgedDate+`"`, 1)
			return l
		}), []string{"line " + strconv.Itoa(dep+1) + ", sequence " + strconv.FormatUint(seq, 10) + ", event " + id}},
		{"an edited event line, its leaf recomputed", with(func(l []string) []string {
			// As an attacker who knows the format would: the leaf lines
			// only locate; the signed checkpoint is the proof.
			l[dep] = strings.Replace(l[dep], `"date":"`+evSweDate+`"`, `"date":"`+evForgedDate+`"`, 1)
			var leaves []evidence.Hash
			at := -1
			for i, line := range l {
				if strings.HasPrefix(line, "# ccm-leaves ") {
					at = i
					break
				}
				e, err := evidence.ExportedEvent([]byte(line))
				require.NoError(t, err, "line %d", i+1)
				leaves = append(leaves, evidence.LeafHash(evidence.EventLeafData(e)))
			}
			require.GreaterOrEqual(t, at, 0, "the export's leaves line")
			require.Len(t, leaves, int(recordSize), "every message of the bundled record is an event")
			require.Less(t, len(leaves), evidence.LeavesPerLine, "one leaves line")
			l[at] = string(evidence.LeavesLine(1, leaves))
			return l
		}), []string{"is not what the checkpoint signed"}},
		{"a removed line", with(func(l []string) []string {
			return append(l[:dep], l[dep+1:]...)
		}), []string{"sequence " + strconv.FormatUint(seq, 10), "missing"}},
		{"a duplicated line", with(func(l []string) []string {
			return append(l[:dep+1], l[dep:]...)
		}), []string{"line " + strconv.Itoa(dep+2) + ", sequence " + strconv.FormatUint(seq, 10), "out of order"}},
		{"two swapped lines", with(func(l []string) []string {
			l[dep], l[dep+1] = l[dep+1], l[dep]
			return l
		}), []string{"line " + strconv.Itoa(dep+1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := filepath.Join(t.TempDir(), "export.jsonl")
			require.NoError(t, os.WriteFile(g, []byte(tc.in), 0o644))
			code, out, errs := run(t, "", "verify", "--file", g, "--key", key)
			assert.Equal(t, exitDamaged, code, "%s%s", out, errs)
			assert.Contains(t, out, "TAMPERED OR DAMAGED")
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
		})
	}

	// The key of another ledger (another data directory: the same origin,
	// another key) verifies none of its checkpoints.
	otherKey := evOtherKey(t)
	require.NotEqual(t, key, otherKey)
	code, out, errs = run(t, "", "verify", "--file", f, "--key", otherKey)
	assert.Equal(t, exitDamaged, code, "another ledger's key: %s%s", out, errs)
	assert.Contains(t, out, "no checkpoint signed by this key covers the messages")

	// An export imports into a new ledger: the evidence lines are comments
	// importers skip; the events keep their ids and order, and get record
	// times of the new ledger, which signs them with its own key.
	fresh := filepath.Join(t.TempDir(), "fresh")
	code, out, errs = run(t, "", "import", f, "--data", fresh, "--no-record")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, fmt.Sprintf("%[1]d events read, recorded %[1]d, 0 already recorded; last sequence %[1]d", recordSize))
	again := evExport(t, fresh)
	got, want := eventLines(again), eventLines(export)
	require.Len(t, got, len(want))
	strip := func(l string) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		delete(m, "recorded")
		return m
	}
	for i := range want {
		require.Equal(t, strip(want[i]), strip(got[i]), "event line %d", i+1)
	}
	g := filepath.Join(t.TempDir(), "again.jsonl")
	require.NoError(t, os.WriteFile(g, []byte(again), 0o644))
	code, out, errs = run(t, "", "verify", "--file", g, "--key", evPublicKey(t, fresh))
	assert.Equal(t, exitOK, code, "the new ledger's export with its key: %s%s", out, errs)
	code, out, errs = run(t, "", "verify", "--file", g, "--key", key)
	assert.Equal(t, exitDamaged, code, "the new ledger's export is not the history the first ledger signed: %s%s", out, errs)
}

// 4. A proof shows one event is in the signed history, without the rest
// of the log; it is small, and no byte of its event can change.
func TestEvidenceProofOfOneEvent(t *testing.T) {
	dir := evLoadedData(t)
	_, _, seq, id := evSweDeposit(t, evExport(t, dir))
	key := evPublicKey(t, dir)
	p := filepath.Join(t.TempDir(), "proof.json")
	code, out, errs := run(t, "", "prove", id, "--data", dir, "--out", p)
	require.Equal(t, exitOK, code, errs)
	assert.Empty(t, out)
	assert.Contains(t, errs, "wrote the proof of "+id)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Less(t, fi.Size(), int64(2<<10), "a proof of one event of the record is small")

	code, out, errs = run(t, "", "verify", "--proof", p, "--key", key)
	require.Equal(t, exitOK, code, "%s%s", out, errs)
	assert.Contains(t, out, "The proof holds: event "+id+" (deposited SWE "+evSweDate+", sequence "+strconv.FormatUint(seq, 10))
	assert.Contains(t, out, fmt.Sprintf("history of %d messages", recordSize))

	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	forged := bytes.Replace(raw, []byte(`\"date\":\"`+evSweDate+`\"`), []byte(`\"date\":\"`+evForgedDate+`\"`), 1)
	require.NotEqual(t, raw, forged, "the proof carries the event's date: %s", raw)
	q := filepath.Join(t.TempDir(), "forged.json")
	require.NoError(t, os.WriteFile(q, forged, 0o644))
	code, out, errs = run(t, "", "verify", "--proof", q, "--key", key)
	assert.Equal(t, exitDamaged, code, "an edited proof: %s%s", out, errs)
	assert.NotContains(t, out, "The proof holds")
	assert.Contains(t, errs, "tampered or damaged")

	code, out, errs = run(t, "", "verify", "--proof", p, "--key", evOtherKey(t))
	assert.Equal(t, exitDamaged, code, "another ledger's key: %s%s", out, errs)

	code, _, errs = run(t, "", "prove", uuid.NewString(), "--data", dir)
	assert.Equal(t, exitNotFound, code, "an unknown event: %s", errs)
}

// evServe is a `ccm serve` run in-process on a data directory, with its
// NATS URL and HTTP address.
type evServe struct {
	data, natsURL, http string
	stderr              *lockedBuffer
}

// evStartServe runs `ccm serve --data data` in-process (projector
// off, HTTP API on a free loopback port) until the test ends.
func evStartServe(t *testing.T, data string, args ...string) *evServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &evServe{data: data, stderr: &lockedBuffer{}}
	type addrs struct{ nats, http string }
	ready := make(chan addrs, 1)
	done := make(chan int, 1)
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: s.stderr,
		Getenv: func(string) string { return "" }, Now: time.Now,
		ServeReady: func(natsURL, httpAddr string) { ready <- addrs{natsURL, httpAddr} }}
	go func() {
		done <- m.Run(ctx, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:-1", "--projector=false", "--http", "127.0.0.1:0"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("ccm serve did not stop; stderr:\n%s", s.stderr)
		}
	})
	select {
	case a := <-ready:
		s.natsURL, s.http = a.nats, "http://"+a.http
	case code := <-done:
		t.Fatalf("ccm serve %v ended with exit %d:\n%s", args, code, s.stderr)
	case <-time.After(90 * time.Second):
		t.Fatalf("ccm serve %v not ready:\n%s", args, s.stderr)
	}
	return s
}

// ccm runs a client command against the serve over NATS, with the
// credentials of its data directory.
func (s *evServe) ccm(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return run(t, "", append(args, "--nats-url", s.natsURL, "--nats-auth-dir", filepath.Join(s.data, "auth"))...)
}

func (s *evServe) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	return httpDo(t, &http.Client{Timeout: 30 * time.Second}, "GET", s.http+path, "", "", "")
}

func (s *evServe) checkpoints(t *testing.T) (httpapi.Checkpoints, http.Header) {
	t.Helper()
	code, h, body := s.get(t, "/v1/checkpoints")
	require.Equal(t, http.StatusOK, code, body)
	var cps httpapi.Checkpoints
	require.NoError(t, json.Unmarshal([]byte(body), &cps), body)
	return cps, h
}

// 5. ccm serve publishes its key and checkpoints, proves events, notes
// its latest checkpoint on every answer, signs on request over NATS, and
// a witness (the service role) receives what it signs.
func TestEvidenceServe(t *testing.T) {
	data := t.TempDir()
	s := evStartServe(t, data)
	key := evPublicKey(t, data)
	origin := evidence.Origin(evStream)

	cps, h := s.checkpoints(t)
	assert.Equal(t, key, cps.PublicKey, "the key of ccm checkpoint --public-key")
	assert.Empty(t, cps.Damaged)
	require.NotNil(t, cps.Latest)
	assert.Equal(t, recordSize, cps.Latest.Size, "the latest checkpoint covers the log")
	assert.Equal(t, recordSize, cps.Latest.LastSeq)
	assert.Equal(t, origin, cps.Latest.Origin)
	latest, err := evidence.Open([]byte(cps.Latest.Note), origin, key)
	require.NoError(t, err, "the latest checkpoint is signed by the key")
	assert.Equal(t, cps.Latest.Root, latest.Root)
	require.NotEmpty(t, cps.Checkpoints)
	for i, c := range cps.Checkpoints {
		_, err := evidence.Open([]byte(c.Note), origin, key)
		assert.NoError(t, err, "stored checkpoint %d", i+1)
	}
	assert.Equal(t, fmt.Sprintf("size=%d", recordSize)+" time="+latest.Time.Format(time.RFC3339)+" root="+base64.StdEncoding.EncodeToString(cps.Latest.Root[:]), h.Get(httpapi.CheckpointHeader))
	assert.Empty(t, h.Get(httpapi.DamagedHeader))

	// A view carries the checkpoint it can be checked against.
	code, h, body := s.get(t, "/v1/states/SWE?as_of=3MSP")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, fmt.Sprintf("size=%d", recordSize)+" time="+latest.Time.Format(time.RFC3339)+" root="+base64.StdEncoding.EncodeToString(cps.Latest.Root[:]), h.Get(httpapi.CheckpointHeader))
	assert.Empty(t, h.Get(httpapi.DamagedHeader))
	code, h, body = s.get(t, "/v1/report?as_of=3MSP")
	require.Equal(t, http.StatusOK, code, body)
	assert.NotEmpty(t, h.Get(httpapi.CheckpointHeader))

	// The proof of Sweden's deposit, checked with the key alone.
	code, _, body = s.get(t, "/v1/events?state=SWE&type=deposited")
	require.Equal(t, http.StatusOK, code, body)
	var listed struct {
		Events []struct {
			ID   string `json:"id"`
			Seq  uint64 `json:"seq"`
			Date string `json:"date"`
		} `json:"events"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &listed), body)
	require.Len(t, listed.Events, 1, body)
	dep := listed.Events[0]
	require.Equal(t, evSweDate, dep.Date)
	code, _, body = s.get(t, "/v1/proofs/"+dep.ID)
	require.Equal(t, http.StatusOK, code, body)
	var p evidence.Proof
	require.NoError(t, json.Unmarshal([]byte(body), &p), body)
	e, c, err := evidence.VerifyProof(p, key)
	require.NoError(t, err, "the proof served holds with the key")
	assert.Equal(t, dep.ID, e.ID.String())
	assert.Equal(t, dep.Seq, e.Seq)
	assert.Equal(t, recordSize, c.Size)
	_, _, err = evidence.VerifyProof(p, evOtherKey(t))
	assert.ErrorIs(t, err, evidence.ErrTampered, "not with another ledger's key")

	code, _, body = s.get(t, "/v1/proofs/"+uuid.NewString())
	assert.Equal(t, http.StatusNotFound, code, body)
	assert.Contains(t, body, `"code":"not-found"`)
	code, _, body = s.get(t, "/v1/proofs/not-a-uuid")
	assert.Equal(t, http.StatusBadRequest, code, body)

	// A witness: the service user keeps the checkpoints it is sent.
	seed, err := nats.NkeyOptionFromSeed(filepath.Join(data, "auth", "service.nk"))
	require.NoError(t, err)
	witness, err := nats.Connect(s.natsURL, seed, nats.CustomInboxPrefix(roles.ServiceInbox), nats.Name("test witness"))
	require.NoError(t, err)
	defer witness.Close()
	sub, err := witness.SubscribeSync(roles.Checkpoints)
	require.NoError(t, err)
	require.NoError(t, witness.Flush())
	require.NoError(t, witness.LastError(), "the service role may subscribe to the checkpoints")

	// An event recorded through the running ledger, then a checkpoint
	// asked for over NATS (no data directory: a recorder's command).
	code, out, errs := s.ccm(t, "record", "--type", "victims-declared", "--state", "SWE", "--date", "2012-06-01",
		"--source", "test: recorded through ccm serve", "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var rec struct {
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rec), out)
	require.Equal(t, recordSize+1, rec.Seq)
	code, out, errs = s.ccm(t, "checkpoint", "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var cp evidence.Checkpoint
	require.NoError(t, json.Unmarshal([]byte(out), &cp), out)
	assert.GreaterOrEqual(t, cp.Size, rec.Seq, "the checkpoint covers the new event")
	signed, err := evidence.Open([]byte(cp.Note), origin, key)
	require.NoError(t, err, "signed by the ledger's key")
	assert.Equal(t, cp.Size, signed.Size)
	// The new checkpoint extends the one of the bundled record: its
	// consistency proof is published with it.
	got := evNextCheckpoint(t, sub, string(cp.Note))
	assert.Equal(t, recordSize, got.From, "the checkpoint after one more message proves it extends the record's")
	prev, err := evidence.Open([]byte(cps.Latest.Note), origin, key)
	require.NoError(t, err)
	assert.NoError(t, evidence.VerifyConsistency(got.From, signed.Size, got.Consistency, prev.Root, signed.Root))

	code, _, body = s.get(t, "/v1/proofs/"+rec.ID)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &p), body)
	e, _, err = evidence.VerifyProof(p, key)
	require.NoError(t, err, "the new event is proved")
	assert.Equal(t, rec.Seq, e.Seq)

	// Forced: the same head signed again, and published to the witness.
	code, out, errs = s.ccm(t, "checkpoint", "--force", "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var forced evidence.Checkpoint
	require.NoError(t, json.Unmarshal([]byte(out), &forced), out)
	assert.Equal(t, cp.Size, forced.Size)
	got = evNextCheckpoint(t, sub, string(forced.Note))
	_, err = evidence.Open([]byte(got.Note), origin, key)
	require.NoError(t, err, "the witness's copy is signed by the key")

	cps, h = s.checkpoints(t)
	require.NotNil(t, cps.Latest)
	assert.Equal(t, forced.Note, cps.Latest.Note, "the latest checkpoint is the forced one")
	assert.Contains(t, h.Get(httpapi.CheckpointHeader), fmt.Sprintf("size=%d ", recordSize+1))
}

// evNextCheckpoint returns the checkpoint of note received on sub, skipping
// others published before it.
func evNextCheckpoint(t *testing.T, sub *nats.Subscription, note string) evidence.Stored {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := sub.NextMsg(time.Until(deadline))
		require.NoError(t, err, "the checkpoint of %q is published", note)
		assert.Equal(t, "ccm.checkpoints."+evStream, m.Subject)
		var s evidence.Stored
		require.NoError(t, json.Unmarshal(m.Data, &s), "%s", m.Data)
		if s.Note == note {
			return s
		}
	}
}

// evOtherKey returns the public key of another ledger: another data
// directory, whose key is made at its first start (the same origin, since
// the stream has the same name).
func evOtherKey(t *testing.T) string {
	t.Helper()
	other := t.TempDir()
	code, _, errs := run(t, "", "status", "SWE", "--data", other, "--no-record")
	require.Equal(t, exitOK, code, errs)
	return evPublicKey(t, other)
}

// 6. ccm serve on an edited store: it refuses to start, or with
// --allow-damaged serves reads marked damaged and refuses every write.
func TestEvidenceServeOnADamagedStore(t *testing.T) {
	data := evLoadedData(t)
	seq, id := evForgeSweDeposit(t, data)

	code, _, errs := run(t, "", "serve", "--data", data, "--listen", "127.0.0.1:-1", "--projector=false", "--http", "off")
	assert.Equal(t, exitDamaged, code, "serve on the edited store: %s", errs)
	assert.Contains(t, errs, "sequence "+strconv.FormatUint(seq, 10)+", event "+id)

	s := evStartServe(t, data, "--allow-damaged")
	assert.Contains(t, s.stderr.String(), "every write is refused")
	cps, h := s.checkpoints(t)
	assert.NotEmpty(t, cps.Damaged, "GET /v1/checkpoints says the log is damaged")
	assert.Contains(t, cps.Damaged, "sequence "+strconv.FormatUint(seq, 10))
	assert.Equal(t, "true", h.Get(httpapi.DamagedHeader))
	require.NotNil(t, cps.Latest, "the checkpoint signed before the edit")
	assert.Equal(t, recordSize, cps.Latest.Size)

	code, h, body := s.get(t, "/v1/states/SWE")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "true", h.Get(httpapi.DamagedHeader), "a view of the damaged log says so")
	assert.Contains(t, body, `"entry_into_force":"2010-08-01"`, "what the edited log says")

	token, err := os.ReadFile(filepath.Join(data, "auth", "http.token"))
	require.NoError(t, err)
	code, h, body = httpDo(t, &http.Client{Timeout: 30 * time.Second}, "POST", s.http+"/v1/events", strings.TrimSpace(string(token)), "", httpTestEvent)
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Contains(t, body, `"code":"damaged"`)
	assert.Equal(t, "true", h.Get(httpapi.DamagedHeader))

	code, out, errs := s.ccm(t, "record", "--type", "victims-declared", "--state", "SWE", "--date", "2012-06-01", "--source", "test: through a damaged serve")
	assert.Equal(t, exitDamaged, code, "record through NATS: %s%s", out, errs)
	assert.NotContains(t, out, "recorded")
	assert.Contains(t, errs, "tampered or damaged", "the ledger's refusal, as the command sees it")
	code, out, errs = s.ccm(t, "checkpoint")
	assert.Equal(t, exitDamaged, code, "nothing is signed over the damage: %s%s", out, errs)
	code, _, body = s.get(t, "/v1/proofs/"+id)
	assert.Equal(t, http.StatusServiceUnavailable, code, "no proof of the edited event: %s", body)
	assert.Contains(t, body, `"code":"damaged"`)

	code, _, body = s.get(t, "/v1/events?state=SWE&type=victims-declared")
	require.Equal(t, http.StatusOK, code, body)
	assert.NotContains(t, body, "through a damaged serve", "nothing was recorded")
}
