package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// A witness keeps the ledger's checkpoints as the service role, adds only
// new ones, and the log verifies against them; a kept file with two
// signed histories, or an edited one, stops it with exit 9.
func TestWitnessKeepsTheCheckpoints(t *testing.T) {
	data := t.TempDir()
	s := evStartServe(t, data)
	pub := filepath.Join(data, "auth", notary.PublicKeyFile)
	kept := filepath.Join(t.TempDir(), "witness.jsonl")

	code, out, errs := s.ccm(t, "witness", "--key", pub, "--out", kept, "--once")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, fmt.Sprintf("kept: %d messages", recordSize))
	first := witnessLines(t, kept)
	require.NotEmpty(t, first)

	code, _, errs = s.ccm(t, "record", "--type", "victims-declared", "--state", "SWE", "--date", "2012-06-01",
		"--source", "test: recorded while a witness watches")
	require.Equal(t, exitOK, code, errs)
	code, _, errs = s.ccm(t, "checkpoint")
	require.Equal(t, exitOK, code, errs)
	code, out, errs = s.ccm(t, "witness", "--key", pub, "--out", kept, "--once")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, fmt.Sprintf("kept: %d messages", recordSize+1))
	assert.NotContains(t, out, fmt.Sprintf("kept: %d messages", recordSize), "what was kept is not kept again")
	assert.Len(t, witnessLines(t, kept), len(first)+1)

	code, out, errs = s.ccm(t, "verify", "--checkpoints", kept)
	require.Equal(t, exitOK, code, "%s\n%s", out, errs)

	// Two histories signed with the ledger's key: a checkpoint of the record's
	// messages with another root, as a ledger that rewrote its log would
	// sign it.
	key, err := notary.LoadKey(filepath.Join(data, "auth", notary.KeyFile), evidence.Origin(jslog.DefaultStream))
	require.NoError(t, err)
	fork, err := evidence.Sign(key.Private, evidence.Origin(jslog.DefaultStream), recordSize, evidence.LeafHash([]byte("another history")), recordSize, time.Now())
	require.NoError(t, err)
	forked := filepath.Join(t.TempDir(), "forked.jsonl")
	line := string(evidence.CheckpointLine(evidence.Stored{Note: string(fork.Note)}))
	require.NoError(t, os.WriteFile(forked, []byte(strings.Join(append(witnessLines(t, kept), line), "\n")+"\n"), 0o644))
	code, _, errs = s.ccm(t, "witness", "--key", pub, "--out", forked, "--once")
	assert.Equal(t, exitDamaged, code, errs)
	assert.Contains(t, errs, fmt.Sprintf("two checkpoints of %d messages with different roots", recordSize))
	code, out, _ = s.ccm(t, "verify", "--checkpoints", forked)
	assert.Equal(t, exitDamaged, code, "the live log against the forked checkpoint: %s", out)

	// An edited kept checkpoint is not the ledger's.
	ls := witnessLines(t, kept)
	ls[0] = strings.Replace(ls[0], fmt.Sprintf("\\n%d\\n", recordSize), fmt.Sprintf("\\n%d\\n", recordSize-1), 1)
	edited := filepath.Join(t.TempDir(), "edited.jsonl")
	require.NoError(t, os.WriteFile(edited, []byte(strings.Join(ls, "\n")+"\n"), 0o644))
	code, _, errs = s.ccm(t, "witness", "--key", pub, "--out", edited, "--once")
	assert.Equal(t, exitDamaged, code, errs)
	assert.Contains(t, errs, "not signed by this key")
}

func witnessLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// A following witness keeps each checkpoint the ledger signs while it runs,
// and stops cleanly when interrupted.
func TestWitnessFollows(t *testing.T) {
	data := t.TempDir()
	s := evStartServe(t, data)
	pub := filepath.Join(data, "auth", notary.PublicKeyFile)
	kept := filepath.Join(t.TempDir(), "witness.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, Getenv: func(string) string { return "" }, Now: time.Now}
	go func() {
		done <- m.Run(ctx, []string{"witness", "--key", pub, "--out", kept, "--nats-url", s.natsURL, "--nats-auth-dir", filepath.Join(data, "auth")})
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "checkpoints kept") }, 30*time.Second, 20*time.Millisecond,
		"the witness took the stored checkpoints: %s", stderr)
	before := len(witnessLines(t, kept))
	code, _, errs := s.ccm(t, "record", "--type", "victims-declared", "--state", "SWE", "--date", "2012-06-01",
		"--source", "test: recorded while a witness follows")
	require.Equal(t, exitOK, code, errs)
	code, _, errs = s.ccm(t, "checkpoint")
	require.Equal(t, exitOK, code, errs)
	require.Eventually(t, func() bool { return len(witnessLines(t, kept)) == before+1 }, 30*time.Second, 20*time.Millisecond,
		"the new checkpoint is kept as it is signed")
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, exitOK, code, "%s", stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("the witness did not stop")
	}
	code, out, errs := s.ccm(t, "verify", "--checkpoints", kept)
	assert.Equal(t, exitOK, code, "%s\n%s", out, errs)
}
