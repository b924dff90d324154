package events

import (
	"bytes"
	"errors"
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

	t.Run("the same id on different content is an error", func(t *testing.T) {
		other := `{"id":"` + dep.ID.String() + `","type":"deposited","state":"SWE","date":"2012-04-24","data":{"instrument":"ratification"},"source":"UN depositary notification; SEED fn 138 (Sweden 23/04/2012)"}`
		in := lineDeposited + "\n" + lineSigned + "\n" + other + "\n"
		got, err := ReadAll(strings.NewReader(in))
		require.Error(t, err)
		assert.Nil(t, got)
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		require.Len(t, ie.Problems, 1, "%v", err)
		p := ie.Problems[0]
		assert.Equal(t, 3, p.Line)
		assert.Equal(t, "id", p.Field)
		assert.Contains(t, p.Reason, dep.ID.String()+" is also the id of a different event")
	})

	t.Run("a different source is different content", func(t *testing.T) {
		other := `{"id":"` + dep.ID.String() + `","type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"UNTC"}`
		_, err := ReadAll(strings.NewReader(lineDeposited + "\n" + other))
		var fe *FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, 2, fe.Line)
		assert.Equal(t, "id", fe.Field)
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

	// A line just within the bound is read.
	source := strings.Repeat("x", MaxLineBytes-len(`{"type":"signed","state":"SWE","date":"2008-12-03","source":""}`))
	fits := `{"type":"signed","state":"SWE","date":"2008-12-03","source":"` + source + `"}`
	require.Len(t, fits, MaxLineBytes)
	for _, in := range []string{lineMeeting + "\n" + fits, fits + "\n" + lineMeeting, fits + "\r\n" + lineMeeting} {
		got, err = ReadAll(strings.NewReader(in))
		require.NoError(t, err, "a line of MaxLineBytes")
		require.Len(t, got, 2)
	}
	assert.Equal(t, source, got[0].Source)

	// A line one byte too long is reported, and reading goes on.
	in = fits[:len(fits)-2] + `x"}` + "\n" + `{"type":"signed"}` + "\n"
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
