package events

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	lineSigned    = `{"type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden; CMC 2012-04-24; government.se (states.csv: signed 3 Dec 2008)"}`
	lineDeposited = `{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"UN depositary notification; SEED fn 138 (Sweden 23/04/2012)"}`
	lineMeeting   = `{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8; meetings.csv 3MSP"}`
)

func mustDecode(tb testing.TB, line string) Envelope {
	tb.Helper()
	e, err := Decode([]byte(line))
	require.NoError(tb, err, "Decode(%s)", line)
	return e
}

func TestReadAllGoodFile(t *testing.T) {
	in := lineSigned + "\n" + lineDeposited + "\n" + lineMeeting + "\n"
	got, err := ReadAll(strings.NewReader(in))
	require.NoError(t, err)
	want := []Envelope{mustDecode(t, lineSigned), mustDecode(t, lineDeposited), mustDecode(t, lineMeeting)}
	assert.Equal(t, want, got, "events in input order")

	// The last line needs no newline.
	got, err = ReadAll(strings.NewReader(strings.TrimSuffix(in, "\n")))
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestReadAllEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n", "  \t\n# a\n\n"} {
		got, err := ReadAll(strings.NewReader(in))
		require.NoError(t, err, "ReadAll(%q)", in)
		assert.Empty(t, got, "ReadAll(%q)", in)
	}
}

func TestReadAllSkipsBlankAndCommentLines(t *testing.T) {
	in := "# Sweden, from states.csv\n" +
		"\n" +
		lineSigned + "\n" +
		"   \t \n" +
		"   # an indented comment\n" +
		"#" + lineDeposited + "\n" +
		lineMeeting + "\n"
	got, err := ReadAll(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, []Envelope{mustDecode(t, lineSigned), mustDecode(t, lineMeeting)}, got, "a commented-out event is skipped")
}

func TestReadAllCRLF(t *testing.T) {
	in := "# written on Windows\r\n" + lineSigned + "\r\n\r\n" + lineDeposited + "\r\n"
	got, err := ReadAll(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, []Envelope{mustDecode(t, lineSigned), mustDecode(t, lineDeposited)}, got)
}

// TestReadAllReportsEveryBadLine: given an input with several bad lines
// among good ones, when it is read, then one *InputError lists every
// problem with its line number (counting blank and comment lines), and no
// event is returned.
func TestReadAllReportsEveryBadLine(t *testing.T) {
	in := strings.Join([]string{
		"# header",                       // 1
		lineSigned,                       // 2
		`{"type":"signed","state":"SWE"`, // 3: truncated
		"",                               // 4
		`{"type":"deposited","state":"swe","date":"2012-04-23","data":{"instrument":"signature"},"source":""}`, // 5: three problems
		lineMeeting, // 6
		`{"type":"ratified","state":"SWE","date":"2012-04-23","source":"s"}`, // 7
	}, "\n")
	got, err := ReadAll(strings.NewReader(in))
	require.Error(t, err)
	assert.Nil(t, got, "an input is accepted whole or not at all")
	assert.ErrorIs(t, err, ErrInvalid)
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	type problem struct {
		Line  int
		Field string
	}
	var probs []problem
	for _, p := range ie.Problems {
		probs = append(probs, problem{p.Line, p.Field})
	}
	assert.Equal(t, []problem{
		{3, ""},
		{5, "state"},
		{5, "source"},
		{5, "data.instrument"},
		{7, "type"},
	}, probs, "problems of\n%s\ngot %v", in, err)
	assert.Contains(t, err.Error(), "5 problems in input:\n  line 3: not a JSON object")
	assert.Contains(t, err.Error(), "\n  line 7: type: \"ratified\" is not an event type")
}

func TestReadAllOneBadLine(t *testing.T) {
	_, err := ReadAll(strings.NewReader(lineSigned + "\n" + `{"type":"signed","state":"SWE","date":"2008-12-03"}`))
	require.Error(t, err)
	var ie *InputError
	require.ErrorAs(t, err, &ie, "ReadAll always returns an *InputError")
	require.Len(t, ie.Problems, 1)
	assert.Equal(t, "line 2: source: is required: every fact needs a source a reader can check", err.Error())
}

func TestReadAllDuplicates(t *testing.T) {
	dep := mustDecode(t, lineDeposited)

	t.Run("identical lines collapse", func(t *testing.T) {
		in := lineDeposited + "\n" + lineSigned + "\n" + lineDeposited + "\n"
		got, err := ReadAll(strings.NewReader(in))
		require.NoError(t, err)
		assert.Equal(t, []Envelope{dep, mustDecode(t, lineSigned)}, got)
	})

	t.Run("the same fact with and without its id collapses", func(t *testing.T) {
		withID, err := dep.MarshalJSON()
		require.NoError(t, err)
		got, err := ReadAll(strings.NewReader(lineDeposited + "\n" + string(withID) + "\n"))
		require.NoError(t, err)
		assert.Equal(t, []Envelope{dep}, got)
	})

	const random = "9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70" // version 4
	withRandomID := func(line string) string { return `{"id":"` + random + `",` + line[1:] }

	t.Run("the same id on different content is an error", func(t *testing.T) {
		other := `{"id":"` + random + `","type":"deposited","state":"SWE","date":"2012-04-24","data":{"instrument":"ratification"},"source":"UN depositary notification; SEED fn 138 (Sweden 23/04/2012)"}`
		in := withRandomID(lineDeposited) + "\n" + lineSigned + "\n" + other + "\n"
		got, err := ReadAll(strings.NewReader(in))
		require.Error(t, err)
		assert.Nil(t, got)
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		require.Len(t, ie.Problems, 1, "%v", err)
		p := ie.Problems[0]
		assert.Equal(t, 3, p.Line)
		assert.Equal(t, "id", p.Field)
		assert.Contains(t, p.Reason, random+" is also the id of a different event")
	})

	t.Run("a different source is different content", func(t *testing.T) {
		other := `{"id":"` + random + `","type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"UNTC"}`
		_, err := ReadAll(strings.NewReader(withRandomID(lineDeposited) + "\n" + other))
		var fe *FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, 2, fe.Line)
		assert.Equal(t, "id", fe.Field)
	})

	// Given the id Sweden's deposit derives to, when a line gives it to
	// another fact first, then that line is refused on its own: the id
	// stays free for the fact it names.
	t.Run("a derived id taken for other content is refused", func(t *testing.T) {
		squat := `{"id":"` + dep.ID.String() + `","type":"deposited","state":"SWE","date":"2012-04-24","data":{"instrument":"ratification"},"source":"UNTC"}`
		_, err := ReadAll(strings.NewReader(lineSigned + "\n" + squat + "\n" + lineDeposited + "\n"))
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		require.Len(t, ie.Problems, 1, "%v", err)
		assert.Equal(t, &FieldError{Line: 2, Field: "id", Reason: dep.ID.String() +
			" is a name-based (version 5) id, but not the one derived from this event's content: omit the id to derive it from the content, or give a random (version 4) id"}, ie.Problems[0])
	})
}

func TestReadAllLongLine(t *testing.T) {
	long := `{"type":"signed","state":"SWE","date":"2008-12-03","source":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	in := lineSigned + "\n" + `{"type":"signed"}` + "\n\n" + long + "\n" + lineMeeting + "\n"
	got, err := ReadAll(strings.NewReader(in))
	require.Error(t, err)
	assert.Nil(t, got)
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	last := ie.Problems[len(ie.Problems)-1]
	assert.Equal(t, 4, last.Line, "the long line is line 4: %v", err)
	assert.Contains(t, last.Reason, "line longer than 1048576 bytes")
	assert.Equal(t, 2, ie.Problems[0].Line, "problems before the long line are kept: %v", err)

	// A line just within the bound is read. (Its event is small: spaces
	// between the fields do not count once stored.)
	pad := strings.Repeat(" ", MaxLineBytes-len(lineSigned))
	fits := lineSigned[:len(lineSigned)-1] + pad + "}"
	require.Len(t, fits, MaxLineBytes)
	for _, in := range []string{lineMeeting + "\n" + fits, fits + "\n" + lineMeeting, fits + "\r\n" + lineMeeting} {
		got, err = ReadAll(strings.NewReader(in))
		require.NoError(t, err, "a line of MaxLineBytes")
		require.Len(t, got, 2)
	}
	assert.Equal(t, mustDecode(t, lineSigned), got[0])

	// A line one byte too long is reported, and reading goes on.
	in = fits[:len(fits)-1] + " }" + "\n" + `{"type":"signed"}` + "\n"
	_, err = ReadAll(strings.NewReader(in))
	require.ErrorAs(t, err, &ie)
	require.Len(t, ie.Problems, 4, "%v", err)
	assert.Equal(t, 1, ie.Problems[0].Line)
	assert.Equal(t, "line longer than 1048576 bytes", ie.Problems[0].Reason)
	for _, p := range ie.Problems[1:] {
		assert.Equal(t, 2, p.Line, "the next line is read: %v", p)
	}
}

func TestReadAllReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := ReadAll(iotest.ErrReader(boom))
	require.Error(t, err)
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrInvalid, "a failed read is not bad input")
}

func TestWriteAllReadAll(t *testing.T) {
	var evs []Envelope
	for _, typ := range Types() {
		evs = append(evs, goldenEvents(t)[typ])
	}
	var buf bytes.Buffer
	require.NoError(t, WriteAll(&buf, evs))
	assert.Equal(t, len(evs), strings.Count(buf.String(), "\n"), "one line per event")
	for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		want, err := evs[i].MarshalJSON()
		require.NoError(t, err)
		assert.Equal(t, string(want), line, "line %d is the wire form of %s", i+1, evs[i].Type)
	}
	got, err := ReadAll(&buf)
	require.NoError(t, err)
	assert.Equal(t, evs, got)

	buf.Reset()
	require.NoError(t, WriteAll(&buf, nil))
	assert.Empty(t, buf.String())
}

func TestWriteAllWriteError(t *testing.T) {
	boom := errors.New("disk full")
	err := WriteAll(failingWriter{boom}, []Envelope{mustDecode(t, lineSigned)})
	assert.ErrorIs(t, err, boom)
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestReadLinesNumbersEachEvent(t *testing.T) {
	in := "# header\n" + // 1
		lineSigned + "\n" + // 2
		"\n" + // 3
		lineDeposited + "\r\n" + // 4
		lineSigned + "\n" + // 5: a duplicate, collapsed into line 2
		lineMeeting // 6
	evs, lines, err := ReadLines(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, []Envelope{mustDecode(t, lineSigned), mustDecode(t, lineDeposited), mustDecode(t, lineMeeting)}, evs)
	assert.Equal(t, []int{2, 4, 6}, lines, "line of each event")

	evs, lines, err = ReadLines(strings.NewReader(lineSigned + "\n{}"))
	require.Error(t, err)
	assert.Nil(t, evs)
	assert.Nil(t, lines)
}

// TestReadAllManyChunks: given an input long enough to be decoded in
// parallel, with bad lines and repeated events far apart, when it is read,
// then events and problems come in input order with their own line numbers.
func TestReadAllManyChunks(t *testing.T) {
	// From a reader that tells its size, one that does not, and one whose
	// first lines promise fewer events than follow.
	long := "# " + strings.Repeat("a long comment ", 200)
	for _, tc := range []struct {
		name string
		open func(string) io.Reader
		head []string
	}{
		{"sized", func(s string) io.Reader { return strings.NewReader(s) }, nil},
		{"stream", func(s string) io.Reader { return struct{ io.Reader }{strings.NewReader(s)} }, nil},
		{"sized, long lines first", func(s string) io.Reader { return strings.NewReader(s) }, slices.Repeat([]string{long}, chunkLines)},
	} {
		t.Run(tc.name, func(t *testing.T) { readManyChunks(t, tc.open, tc.head) })
	}
}

func readManyChunks(t *testing.T, open func(string) io.Reader, head []string) {
	lines := strings.Split(strings.TrimSuffix(string(syntheticInput(20_000)), "\n"), "\n")
	want, wantLines, err := ReadLines(strings.NewReader(strings.Join(lines[:1], "\n")))
	require.NoError(t, err)
	require.Len(t, want, 1)
	wantLines[0] += len(head)

	lines[14_999] = lines[9] // collapses into line 10
	lines[2_999] = "# a comment"
	lines = append(head, lines...)
	evs, nums, err := ReadLines(open(strings.Join(lines, "\n")))
	require.NoError(t, err)
	require.Len(t, evs, 20_000-2)
	require.Len(t, nums, len(evs))
	h := len(head)
	assert.Equal(t, want[0], evs[0])
	assert.Equal(t, wantLines, nums[:1])
	assert.Equal(t, []int{h + 2_999, h + 3_001}, nums[2_998:3_000], "line 3000 is a comment")
	assert.Equal(t, h+20_000, nums[len(nums)-1])
	for i, n := range nums {
		one, err := Decode([]byte(lines[n-1]))
		require.NoError(t, err)
		require.Equal(t, one, evs[i], "event %d, from line %d", i, n)
	}

	lines[h+1_499] = `{"type":"signed"}`
	lines[h+9_000] = lines[h+9][:20]
	lines[h+19_999] = strings.Replace(lines[h+19_999], `"type"`, `"type":"signed","type"`, 1)
	_, _, err = ReadLines(open(strings.Join(lines, "\n")))
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	var got []int
	for _, p := range ie.Problems {
		got = append(got, p.Line-h)
	}
	assert.Equal(t, []int{1_500, 1_500, 1_500, 9_001, 20_000}, got, "%v", err)
	assert.Equal(t, fmt.Sprintf("line %d: type: given twice", h+20_000), ie.Problems[4].Error())
}

// TestReadAllInputLimit: an input larger than the limit is refused whole,
// before reading when its size is known, else once the limit is crossed.
func TestReadAllInputLimit(t *testing.T) {
	in := strings.Repeat(lineSigned+"\n", 10) // 1,300 bytes, one event
	size := int64(len(in))

	t.Run("an input of the limit is read", func(t *testing.T) {
		evs, err := ReadAll(strings.NewReader(in), WithMaxInputBytes(size))
		require.NoError(t, err)
		assert.Len(t, evs, 1)
		evs, err = ReadAll(iotest.OneByteReader(strings.NewReader(in)), WithMaxInputBytes(size))
		require.NoError(t, err)
		assert.Len(t, evs, 1)
	})

	wantErr := func(t *testing.T, err error, limit int64) {
		t.Helper()
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrInputTooLarge)
		assert.ErrorIs(t, err, ErrInvalid)
		var te *InputTooLargeError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, limit, te.Limit)
		size := fmt.Sprintf("%d bytes", limit)
		if limit%(1<<20) == 0 {
			size += fmt.Sprintf(" (%d MiB)", limit>>20)
		}
		assert.Equal(t, "input larger than "+size+", the limit of one input: split it into smaller inputs and read them one after the other", err.Error())
	}

	t.Run("a sized input one byte over is refused before reading", func(t *testing.T) {
		r := strings.NewReader(in)
		evs, err := ReadAll(r, WithMaxInputBytes(size-1))
		wantErr(t, err, size-1)
		assert.Nil(t, evs)
		assert.Equal(t, len(in), r.Len(), "nothing read")
	})

	t.Run("a file over the limit is refused before reading", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "in.jsonl")
		require.NoError(t, os.WriteFile(path, []byte(in), 0o600))
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		_, err = ReadAll(f, WithMaxInputBytes(size-1))
		wantErr(t, err, size-1)
		at, err := f.Seek(0, io.SeekCurrent)
		require.NoError(t, err)
		assert.Zero(t, at, "nothing read")
		// From where the file stands.
		_, err = f.Seek(int64(len(lineSigned)+1), io.SeekStart)
		require.NoError(t, err)
		evs, err := ReadAll(f, WithMaxInputBytes(size-int64(len(lineSigned)+1)))
		require.NoError(t, err)
		assert.Len(t, evs, 1)
	})

	t.Run("a stream is refused as soon as it crosses the limit", func(t *testing.T) {
		r := &endless{line: []byte(lineSigned + "\n")}
		_, err := ReadAll(r, WithMaxInputBytes(1<<20))
		wantErr(t, err, 1<<20)
		assert.Less(t, r.read, int64(1<<20+128<<10), "read %d bytes", r.read)
	})

	t.Run("the default limit applies, and none when told", func(t *testing.T) {
		_, err := ReadAll(sized{strings.NewReader(in), MaxInputBytes + 1})
		wantErr(t, err, MaxInputBytes)
		assert.Equal(t, "input larger than 201326592 bytes (192 MiB), the limit of one input: split it into smaller inputs and read them one after the other", err.Error())
		evs, err := ReadAll(sized{strings.NewReader(in), MaxInputBytes + 1}, WithMaxInputBytes(0))
		require.NoError(t, err)
		assert.Len(t, evs, 1)
	})
}

// sized is a reader that tells a size of its own.
type sized struct {
	io.Reader
	n int
}

func (s sized) Len() int { return s.n }

// endless repeats a line until stop bytes (zero: forever), and counts what
// was read. It does not tell its size.
type endless struct {
	line       []byte
	read, stop int64
}

func (r *endless) Read(p []byte) (int, error) {
	if r.stop > 0 && r.read >= r.stop {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && (r.stop == 0 || r.read < r.stop) {
		c := copy(p[n:], r.line[r.read%int64(len(r.line)):])
		if r.stop > 0 {
			c = min(c, int(r.stop-r.read))
		}
		n += c
		r.read += int64(c)
	}
	return n, nil
}

// TestReadAllDoesNotHoldLongLines: given a line of 64 MiB, when the input
// is read, then the line is reported too long without being held, and the
// lines after it are read.
func TestReadAllDoesNotHoldLongLines(t *testing.T) {
	head := `{"type":"signed","state":"SWE","date":"2008-12-03","source":"`
	long := io.MultiReader(strings.NewReader(head), &endless{line: []byte("x"), stop: 64 << 20},
		strings.NewReader("\"}\n"+lineSigned+"\n"+`{"type":"signed"}`+"\n"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadAll(long, WithMaxInputBytes(0))
	runtime.ReadMemStats(&after)
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	require.Len(t, ie.Problems, 4, "%v", err)
	assert.Equal(t, &FieldError{Line: 1, Reason: "line longer than 1048576 bytes"}, ie.Problems[0])
	assert.Equal(t, 3, ie.Problems[1].Line)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "allocated while reading a line of 64 MiB")
}

// An input of many short lines under the byte limit is bounded by its
func TestReadAllEventLimit(t *testing.T) {
	var in strings.Builder
	for y := 2010; y < 2020; y++ {
		fmt.Fprintf(&in, `{"type":"report-submitted","state":"SWE","date":"%d-04-30","data":{"kind":"annual","year":%d},"source":"s"}`+"\n", y, y-1)
	}
	_, err := ReadAll(strings.NewReader(in.String()), WithMaxInputEvents(5))
	var tl *InputTooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, 5, tl.Events)
	assert.Contains(t, err.Error(), "larger than 5 events")
	assert.ErrorIs(t, err, ErrInputTooLarge)
	evs, err := ReadAll(strings.NewReader(in.String()), WithMaxInputEvents(10))
	require.NoError(t, err)
	assert.Len(t, evs, 10)
}

// An input with more problems than anyone reads lists the first thousand
// and counts the rest, in bounded memory.
func TestReadAllListsTheFirstThousandProblems(t *testing.T) {
	in := strings.Repeat("not json\n", 1500)
	_, err := ReadAll(strings.NewReader(in))
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	require.Len(t, ie.Problems, 1001)
	assert.Equal(t, 1000, ie.Problems[999].Line)
	assert.Equal(t, "and 500 more problems: only the first 1000 are listed", ie.Problems[1000].Reason)
}
