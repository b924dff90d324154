package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// fastSeeds are lines of every kind the fast decoders meet: the golden
// events, the bundled record and awkward variants.
func fastSeeds(f *testing.F) [][]byte {
	var out [][]byte
	out = append(out, readGoldenLines(f)...)
	if rec, err := os.ReadFile("record/record.jsonl"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(rec))
		sc.Buffer(nil, MaxLineBytes)
		for i := 0; sc.Scan() && i < 200; i++ {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	for _, s := range []string{
		`{"type":"report-submitted","state":"SWE","date":"2013-04-30","data":{"kind":"annual","year":2012.0},"source":"s"}`,
		`{"type":"report-submitted","state":"SWE","date":"2013-04-30","data":{"kind":"annual","year":1e3},"source":"s"}`,
		`{"type":"stockpile-declared","state":"SWE","date":"2012-04-23","data":{"munitions":+1},"source":"s"}`,
		`{"type":"stockpile-declared","state":"SWE","date":"2012-04-23","data":{"munitions":nan},"source":"s"}`,
		`{"type":"stockpile-declared","state":"SWE","date":"2012-04-23","data":{"munitions":01},"source":"s"}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s","seq":1-2}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s","seq":{"a":1}}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s","recorded":"x","seq":12}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"a <b> & c"}`,
		`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"Third","city":"Oslo","start":"2012-09-11","end":"2012-09-14","end":"2012-09-14"},"source":"s"}`,
		`{"type":"assistance-provided","state":"NOR","date":"2012-09-14","data":{"areas":["clearance","victim-assistance"]},"source":"s"}`,
		`{"type":"assistance-provided","state":"NOR","date":"2012-09-14","data":{"areas":[1]},"source":"s"}`,
		`{"type":"retracted","state":"BDI","date":"2012-09-14","data":{"event":"{65d3f747-76ea-57ba-b39d-43e819bf76b5}","reason":"r"},"source":"s"}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s","data":null}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s","data":{}}`,
		`{"type":"contamination-declared","state":"LAO","date":"2010-08-01","data":{"hostilities_ended":null},"source":"s"}`,
		"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"tab\there\"}",
		"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"del\x7f\"}",
		"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"c1\u0085\"}",
		"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"\u00a0\u200b\ufeff\"}",
		"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"Gen\xe8ve\"}",
		"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"s\"}\xff",
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s","recorded":"2026-01-01T00:00:00Z"}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s","recorded":"2026","recorded":"2027"}`,
		`{"id":"aea78634-fad9-5936-8b96-c6f7ea1324ec","type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"UN depositary notification; SEED fn 138 (Sweden 23/04/2012)"}`,
		`{"id":"aea78634-fad9-5936-8b96-c6f7ea1324ec","type":"signed","state":"SWE","date":"2008-12-03","source":"s"}`,
		`{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"signed","state":"SWE","date":"2008-12-03","source":"s"}`,
		`{"type":"assistance-provided","state":"NOR","date":"2012-09-14","data":{"areas":["clearance","⁠"]},"source":"s"}`,
		`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"Third","city":" ","start":"2012-09-11","end":"2012-09-14"},"source":"s"}`,
		`{"type":"retracted","state":"BDI","date":"2012-09-14","data":{"event":"65d3f747-76ea-57ba-b39d-43e819bf76b5","reason":"​"},"source":"s"}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// FuzzFastDecodeAgrees holds the fast decoders to the precise one: the
// fast path accepts only what the precise decoder accepts, and gives the
// same event; the stored form decodes back to it; the hand-written
// canonical JSON is what encoding/json writes.
func FuzzFastDecodeAgrees(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := decodeFast(line)
		slow, probs := decode(line)
		if ok {
			require.Empty(t, probs, "the fast path accepted a line the precise decoder rejects: %q", line)
			require.Equal(t, slow, fast, "fast and precise decoders disagree on %q", line)
		}
		if len(probs) > 0 {
			return
		}
		if pj, ok := slow.Payload.(payloadJSON); ok {
			want, err := json.Marshal(slow.Payload)
			require.NoError(t, err)
			if _, empty := slow.Payload.(Empty); !empty {
				require.Equal(t, string(want), string(pj.appendJSON(nil)), "canonical JSON of %q", line)
			}
		}
		w := wire{ID: slow.ID.String(), Type: slow.Type, State: slow.State, Date: slow.Date, Data: slow.Data(), Source: slow.Source}
		want, err := json.Marshal(w)
		require.NoError(t, err)
		require.Equal(t, string(want), string(slow.StoredJSON()), "stored form of %q", line)
		back, ok := decodeStoredFast(slow.StoredJSON(), 7, slow.Recorded)
		require.True(t, ok, "fast stored decoder refused %s", slow.StoredJSON())
		slow.Seq = 7
		require.Equal(t, slow, back)
	})
}

func TestFastPathTakesTheCommonLines(t *testing.T) {
	rec, err := os.ReadFile("record/record.jsonl")
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(rec))
	sc.Buffer(nil, MaxLineBytes)
	var n, fast int
	for sc.Scan() {
		n++
		if _, ok := decodeFast(sc.Bytes()); ok {
			fast++
		}
	}
	require.Greater(t, n, 400)
	// Lines with escapes go the precise way; they are few in the record.
	require.Greater(t, fast, n*9/10, "the fast path took %d of %d lines of the record", fast, n)
}

// TestPlainText: the fast path takes a line only when it holds no escape,
// no control character and no invalid UTF-8, wherever the byte falls.
func TestPlainText(t *testing.T) {
	base := `{"type":"signed","state":"SWE","date":"2008-12-03","source":"Genève, 3 Dec 2008 — MON-CP"}`
	require.True(t, plainText([]byte(base)))
	for _, bad := range []string{"\x00", "\x1f", "\t", "\x7f", "\u0080", "\u009f", "\\", "\xff", "\xc2"} {
		for at := 0; at <= len(base); at++ {
			line := base[:at] + bad + base[at:]
			require.False(t, plainText([]byte(line)), "%+q at %d", bad, at)
		}
	}
	for _, fine := range []string{" ", "\u00a0", "\u00a0\u00a0", "\u200b", "~"} {
		require.True(t, plainText([]byte(base[:10]+fine+base[10:])), "%+q", fine)
	}
}
