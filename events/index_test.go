package events

import (
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readIndexed reads in through IndexLines and decodes every event again, in
// input order, as ReadLines would return them.
func readIndexed(t *testing.T, in io.Reader, opts ...ReadOption) ([]Envelope, []int, error) {
	t.Helper()
	x, err := IndexLines(in, opts...)
	if err != nil {
		return nil, nil, err
	}
	defer x.Close()
	order := make([]int32, x.Len())
	for i := range order {
		order[i] = int32(i)
	}
	evs, lines := []Envelope{}, []int{}
	err = x.Events(order, func(at int, batch []Envelope) error {
		require.Equal(t, len(evs), at, "batches in order")
		evs = append(evs, batch...)
		return nil
	})
	require.NoError(t, err)
	for i := range x.Len() {
		lines = append(lines, x.Line(i))
		d, typ := x.Key(i)
		require.Equal(t, evs[i].Date, d, "key of event %d", i)
		require.Equal(t, evs[i].Type, typ, "key of event %d", i)
	}
	return evs, lines, nil
}

// openers give an input as a reader of each kind IndexLines reads: one it
// reads again in place (a bytes reader, a regular file), and one it copies
// (a stream).
func openers(t *testing.T) map[string]func(string) io.Reader {
	return map[string]func(string) io.Reader{
		"sized":  func(s string) io.Reader { return strings.NewReader(s) },
		"stream": func(s string) io.Reader { return struct{ io.Reader }{strings.NewReader(s)} },
		"file": func(s string) io.Reader {
			name := filepath.Join(t.TempDir(), "in.jsonl")
			require.NoError(t, os.WriteFile(name, []byte("# skipped by a seek\n"+s), 0o600))
			f, err := os.Open(name)
			require.NoError(t, err)
			t.Cleanup(func() { f.Close() })
			_, err = f.Seek(int64(len("# skipped by a seek\n")), io.SeekStart)
			require.NoError(t, err)
			return f
		},
	}
}

// TestIndexLinesReadsAsReadLines: the same events, lines and problems as
// ReadLines, from every kind of reader.
func TestIndexLinesReadsAsReadLines(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(string(syntheticInput(12_000)), "\n"), "\n")
	lines[9_999] = lines[9] // an identical line collapses
	lines[2_999] = "# a comment"
	lines[3_000] = ""
	lines[4_000] += "\r"
	good := strings.Join(lines, "\n")
	bad := slices.Clone(lines)
	bad[1_499] = `{"type":"signed"}`
	bad[11_000] = strings.Replace(bad[11_000], `"type"`, `"type":"signed","type"`, 1)
	const random = "9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70"
	dupID := `{"id":"` + random + `",` + lineDeposited[1:] + "\n" + lineSigned + "\n" +
		`{"id":"` + random + `","type":"deposited","state":"SWE","date":"2012-04-24","data":{"instrument":"ratification"},"source":"UNTC"}`
	for name, open := range openers(t) {
		for _, in := range []struct{ name, text string }{
			{"good", good},
			{"bad", strings.Join(bad, "\n")},
			{"an id on two events", dupID},
			{"empty", ""},
			{"long line", lineSigned + "\n" + `{"source":"` + strings.Repeat("x", MaxLineBytes) + `"}` + "\n" + lineMeeting},
		} {
			t.Run(name+", "+in.name, func(t *testing.T) {
				want, wantLines, wantErr := ReadLines(strings.NewReader(in.text))
				got, gotLines, err := readIndexed(t, open(in.text))
				if wantErr != nil {
					assert.Equal(t, wantErr, err)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, wantLines, gotLines)
				require.Equal(t, len(want), len(got))
				for i := range want {
					require.Equal(t, want[i], got[i], "event %d", i)
				}
			})
		}
	}
}

func TestIndexLinesLimits(t *testing.T) {
	in := strings.Repeat(lineSigned+"\n", 10)
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) {
			_, err := IndexLines(open(in), WithMaxInputBytes(int64(len(in)-1)))
			assert.ErrorIs(t, err, ErrInputTooLarge)
			_, err = IndexLines(open(lineSigned+"\n"+lineDeposited+"\n"+lineMeeting), WithMaxInputEvents(2))
			var tl *InputTooLargeError
			require.ErrorAs(t, err, &tl)
			assert.Equal(t, 2, tl.Events)
		})
	}
}

// TestIndexLinesEventsInAnyOrder: the events come in the order asked, in
// batches, whatever the order of their lines.
func TestIndexLinesEventsInAnyOrder(t *testing.T) {
	text := string(syntheticInput(10_000))
	want, err := ReadAll(strings.NewReader(text))
	require.NoError(t, err)
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) {
			x, err := IndexLines(open(text))
			require.NoError(t, err)
			defer x.Close()
			order := make([]int32, x.Len())
			for i := range order {
				order[i] = int32(i)
			}
			rand.New(rand.NewSource(1)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			n, batches := 0, 0
			require.NoError(t, x.Events(order, func(at int, evs []Envelope) error {
				require.Equal(t, n, at)
				assert.LessOrEqual(t, len(evs), eventsBatch)
				for k, e := range evs {
					require.Equal(t, want[order[at+k]], e, "event %d", order[at+k])
				}
				n, batches = n+len(evs), batches+1
				return nil
			}))
			assert.Equal(t, len(order), n)
			assert.Greater(t, batches, 1)

			stop := errors.New("stop")
			calls := 0
			err = x.Events(order, func(int, []Envelope) error { calls++; return stop })
			assert.ErrorIs(t, err, stop)
			assert.Equal(t, 1, calls, "no call after an error")
		})
	}
}

// TestIndexLinesNoticesAChangedInput: a file changed after it was
// validated gives an error, never the events it holds now.
func TestIndexLinesNoticesAChangedInput(t *testing.T) {
	name := filepath.Join(t.TempDir(), "in.jsonl")
	require.NoError(t, os.WriteFile(name, []byte(lineSigned+"\n"+lineDeposited+"\n"), 0o600))
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	x, err := IndexLines(f)
	require.NoError(t, err)
	defer x.Close()
	changed := strings.Replace(lineDeposited, "2012-04-23", "2012-04-24", 1)
	require.NoError(t, os.WriteFile(name, []byte(lineSigned+"\n"+changed+"\n"), 0o600))
	err = x.Events([]int32{0, 1}, func(int, []Envelope) error { return nil })
	assert.ErrorIs(t, err, ErrInputChanged)
	assert.Contains(t, err.Error(), "line 2")
}

// TestIndexLinesCopyIsRemoved: the copy of a stream is gone once closed
// (on Unix it has no name from the start).
func TestIndexLinesCopyIsRemoved(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	x, err := IndexLines(struct{ io.Reader }{strings.NewReader(lineSigned + "\n")})
	require.NoError(t, err)
	require.NotNil(t, x.spool)
	require.NoError(t, x.Close())
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left)
	err = x.Events([]int32{0}, func(int, []Envelope) error { return nil })
	assert.Error(t, err, "closed")
}

// TestIndexLinesWithoutTemporaryFiles: where no temporary file can be made,
// a stream's copy is kept in memory.
func TestIndexLinesWithoutTemporaryFiles(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	text := string(syntheticInput(6_000)) // two blocks of the copy
	want, wantLines, err := ReadLines(strings.NewReader(text))
	require.NoError(t, err)
	x, err := IndexLines(struct{ io.Reader }{strings.NewReader(text)})
	require.NoError(t, err)
	m, inMemory := x.src.(*memCopy)
	require.True(t, inMemory)
	assert.Len(t, m.blocks, 2)
	x.Close()
	got, gotLines, err := readIndexed(t, struct{ io.Reader }{strings.NewReader(text)})
	require.NoError(t, err)
	assert.Equal(t, wantLines, gotLines)
	assert.Equal(t, want, got)
}
