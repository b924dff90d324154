package evidence

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
)

// signedLog is a log of the bundled record with a raw message in it, and
// checkpoints along it, as a ledger would keep them.
type signedLog struct {
	msgs         []Message
	stored       []Stored
	priv, pub    string
	quarantined  uint64
	noncanonical uint64
}

func newSignedLog(t testing.TB, n int, every uint64, noncanonical bool) *signedLog {
	t.Helper()
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(evs), n)
	origin := Origin("CCM")
	l := &signedLog{}
	l.priv, l.pub, err = NewKey(origin)
	require.NoError(t, err)
	at := time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC)
	var tree Tree
	var last *Checkpoint
	for i := 0; i < n; i++ {
		seq := uint64(len(l.msgs) + 1)
		m := Message{Seq: seq, Recorded: at.Add(time.Duration(seq) * time.Millisecond), Subject: evs[i].Subject(), Data: evs[i].StoredJSON()}
		if noncanonical && i == n/3 {
			// An event stored in a form the ledger does not write (a space
			// after a comma): the views count it, its leaf is its bytes.
			l.noncanonical = seq
			m.Data = bytes.Replace(m.Data, []byte(`","type":`), []byte(`", "type":`), 1)
		}
		if i == n/2 {
			// A raw publish that is no event: stored, and evidence too.
			l.quarantined = seq
			m = Message{Seq: seq, Recorded: m.Recorded, Subject: "ccm.events.SWE.deposited", Data: []byte("not an event\x00")}
		}
		l.msgs = append(l.msgs, m)
		tree.Append(LeafHash(LeafData(m)))
		if seq%every == 0 || i == n-1 {
			root, err := tree.Root(seq)
			require.NoError(t, err)
			c, err := Sign(l.priv, origin, seq, root, seq, m.Recorded.Add(time.Second))
			require.NoError(t, err)
			s := Stored{Note: string(c.Note)}
			if last != nil {
				s.From = last.Size
				s.Consistency, err = tree.ConsistencyProof(last.Size, seq)
				require.NoError(t, err)
			}
			l.stored = append(l.stored, s)
			last = &c
		}
	}
	return l
}

func (l *signedLog) export(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	x := NewExportWriter(&buf)
	for _, m := range l.msgs {
		if e, q := events.DecodeMessage(m.Subject, m.Data, m.Seq, m.Recorded); q == nil {
			require.NoError(t, x.Event(m, e))
		} else {
			require.NoError(t, x.Message(m))
		}
	}
	n, covered, err := x.Close(l.stored)
	require.Equal(t, x.Size(), covered)
	require.NoError(t, err)
	require.Equal(t, len(l.stored), n)
	return buf.Bytes()
}

func verifyExport(t testing.TB, b []byte, pub string) Report {
	t.Helper()
	r, err := VerifyExport(bytes.NewReader(b), pub)
	require.NoError(t, err)
	return r
}

func TestExportVerifies(t *testing.T) {
	l := newSignedLog(t, 451, 100, true)
	x := l.export(t)
	ls := lines(x)
	i := int(l.noncanonical - 1)
	require.True(t, bytes.HasPrefix(ls[i], []byte(messagePrefix)), "the stored form first: %s", ls[i])
	e, err := ExportedEvent(bytes.TrimSuffix(ls[i+1], []byte("\n")))
	require.NoError(t, err, "then the event, for importers")
	require.Equal(t, l.noncanonical, e.Seq)
	r := verifyExport(t, x, l.pub)
	require.NoError(t, r.Err())
	assert.Equal(t, uint64(451), r.Messages)
	assert.Equal(t, 5, r.Checkpoints)
	assert.True(t, r.KeyChecked)
	assert.Equal(t, uint64(451), r.Latest.Size)
	assert.Zero(t, r.Unsigned)
}

func lines(b []byte) [][]byte {
	ls := bytes.SplitAfter(b, []byte("\n"))
	return ls[:len(ls)-1]
}

func firstProblem(t *testing.T, r Report) Problem {
	t.Helper()
	require.Error(t, r.Err())
	require.ErrorIs(t, r.Err(), ErrTampered)
	return r.Problems[0]
}

// Each way of tampering with an export is found, at its line.
func TestExportTampering(t *testing.T) {
	l := newSignedLog(t, 451, 100, false)
	good := l.export(t)
	ls := lines(good)
	join := func(ls [][]byte) []byte { return bytes.Join(ls, nil) }
	edit := func(i int, from, to string) []byte {
		c := append([][]byte(nil), ls...)
		require.Contains(t, string(c[i]), from)
		c[i] = []byte(strings.Replace(string(c[i]), from, to, 1))
		return join(c)
	}
	t.Run("edited date", func(t *testing.T) {
		// Line 10 is an event: a date moved by one year still parses.
		e, err := ExportedEvent(bytes.TrimSuffix(ls[9], []byte("\n")))
		require.NoError(t, err)
		y := e.Date.String()[:4]
		p := firstProblem(t, verifyExport(t, edit(9, `"date":"`+y, `"date":"`+"2011"), l.pub))
		assert.Equal(t, 10, p.Line)
		assert.Equal(t, uint64(10), p.Seq)
		assert.Equal(t, e.ID.String(), p.ID)
		r := verifyExport(t, edit(9, `"date":"`+y, `"date":"`+"2011"), l.pub)
		assert.Contains(t, fmt.Sprint(r.Problems), "not the message the checkpoint signed")
		// A date the rules refuse is an unreadable line, at its sequence.
		p = firstProblem(t, verifyExport(t, edit(9, `"date":"`+y, `"date":"`+"1999"), l.pub))
		assert.Equal(t, 10, p.Line)
		assert.Equal(t, uint64(10), p.Seq)
	})
	t.Run("removed", func(t *testing.T) {
		c := append(append([][]byte(nil), ls[:199]...), ls[200:]...)
		p := firstProblem(t, verifyExport(t, join(c), l.pub))
		assert.Equal(t, uint64(200), p.Seq)
		assert.Contains(t, p.Reason, "missing")
	})
	t.Run("added", func(t *testing.T) {
		c := append([][]byte(nil), ls[:300]...)
		c = append(c, ls[299])
		c = append(c, ls[300:]...)
		p := firstProblem(t, verifyExport(t, join(c), l.pub))
		assert.Equal(t, 301, p.Line)
		assert.Contains(t, p.Reason, "out of order")
	})
	t.Run("reordered", func(t *testing.T) {
		c := append([][]byte(nil), ls...)
		c[40], c[41] = c[41], c[40]
		// Line 41 holds sequence 42: 41 is missing there.
		p := firstProblem(t, verifyExport(t, join(c), l.pub))
		assert.Equal(t, 41, p.Line)
		assert.Equal(t, uint64(41), p.Seq)
	})
	t.Run("appended at the end", func(t *testing.T) {
		// A new event after the last message: covered by no checkpoint.
		e, err := ExportedEvent(bytes.TrimSuffix(ls[0], []byte("\n")))
		require.NoError(t, err)
		e.Seq = 452
		j, _ := e.MarshalJSON()
		c := append(append([][]byte(nil), ls[:451]...), append(j, '\n'))
		c = append(c, ls[451:]...)
		p := firstProblem(t, verifyExport(t, join(c), l.pub))
		assert.Equal(t, uint64(452), p.Seq)
	})
	t.Run("foreign key", func(t *testing.T) {
		other := newSignedLog(t, 451, 100, false)
		r := verifyExport(t, good, other.pub)
		require.Error(t, r.Err())
		assert.Zero(t, r.Checkpoints)
		assert.Contains(t, r.Problems[0].Reason, "no checkpoint signed by this key")
		assert.Contains(t, r.Problems[1].Reason, "not signed by this key")
	})
	t.Run("quarantined message edited", func(t *testing.T) {
		i := int(l.quarantined - 1)
		c := append([][]byte(nil), ls...)
		require.True(t, bytes.HasPrefix(c[i], []byte(messagePrefix)))
		c[i] = bytes.Replace(c[i], []byte(`"subject":"ccm.events.SWE`), []byte(`"subject":"ccm.events.NOR`), 1)
		p := firstProblem(t, verifyExport(t, join(c), l.pub))
		assert.Equal(t, l.quarantined, p.Seq)
	})
}

// Any single changed byte of an export fails its verification.
func TestExportAnyByteChangeFails(t *testing.T) {
	l := newSignedLog(t, 30, 10, true)
	good := l.export(t)
	require.NoError(t, verifyExport(t, good, l.pub).Err())
	step := 1
	if testing.Short() {
		step = 7
	}
	for i := 0; i < len(good); i += step {
		for k, flip := range []byte{0x01, 0x20} {
			if k == 1 && i%4 != 0 {
				continue
			}
			b := bytes.Clone(good)
			b[i] ^= flip
			if b[i] == good[i] {
				continue
			}
			r, err := VerifyExport(bytes.NewReader(b), l.pub)
			if err == nil && r.Err() == nil {
				start := bytes.LastIndexByte(good[:i], '\n') + 1
				end := start + bytes.IndexByte(good[start:], '\n')
				t.Fatalf("byte %d (%q → %q) changed, and the export still verifies; the line:\n%s", i, good[i], b[i], b[start:end])
			}
		}
	}
}

// A line no ledger writes, of any length, is refused without reading it
// whole.
func TestExportHugeLine(t *testing.T) {
	l := newSignedLog(t, 10, 10, false)
	good := l.export(t)
	huge := append(bytes.Repeat([]byte("x"), 64<<20), '\n')
	r, err := VerifyExport(io.MultiReader(bytes.NewReader(good[:bytes.IndexByte(good, '\n')+1]), bytes.NewReader(huge)), l.pub)
	require.NoError(t, err)
	require.Error(t, r.Err())
	assert.Contains(t, fmt.Sprint(r.Problems), "a line longer than")
}

// An export cut back after the ledger signed more (its last lines, its
// later checkpoints removed) verifies on its own, and fails against the
// checkpoints a witness kept.
func TestExportCutBackFailsAgainstAWitness(t *testing.T) {
	l := newSignedLog(t, 451, 100, false)
	full := l.export(t)
	// The same log, exported as it stood at 400 messages: what someone
	// who removed the last 51 events and checkpoints would hand over.
	cut := &signedLog{msgs: l.msgs[:400], stored: l.stored[:4], pub: l.pub}
	short := cut.export(t)
	require.NoError(t, verifyExport(t, short, l.pub).Err(), "on its own, the cut export verifies")
	witnessed, err := ReadCheckpoints(bytes.NewReader(checkpointLines(t, full)))
	require.NoError(t, err)
	require.Len(t, witnessed, 5)
	r, err := VerifyExport(bytes.NewReader(short), l.pub, witnessed...)
	require.NoError(t, err)
	require.Error(t, r.Err())
	assert.Equal(t, uint64(401), r.Problems[0].Seq)
	assert.Contains(t, r.Problems[0].Reason, "missing")
}

// checkpointLines returns an export's checkpoint lines, as a witness would
// keep them.
func checkpointLines(t *testing.T, export []byte) []byte {
	t.Helper()
	var out []byte
	for _, l := range lines(export) {
		if bytes.HasPrefix(l, []byte(checkpointPrefix)) {
			out = append(out, l...)
		}
	}
	return out
}

func TestReadCheckpointsNamesTheBadLine(t *testing.T) {
	_, err := ReadCheckpoints(strings.NewReader("{\"checkpoint\":\"x\"}\n\nnot json\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3")
}
