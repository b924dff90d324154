package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// FuzzDecode: Decode never panics; what it accepts survives the wire and
// stored encodings unchanged, and what it refuses is a line-less
// ErrInvalid naming its problems.
func FuzzDecode(f *testing.F) {
	for _, line := range readGoldenLines(f) {
		f.Add(line)
		f.Add(dropField(f, line, "id"))
	}
	invalid, err := filepath.Glob(filepath.Join(goldenInvalidDir, "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	precise, err := filepath.Glob(filepath.Join(goldenDir, "precision", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range append(invalid, precise...) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimSpace(b))
	}
	for _, s := range []string{
		lineSigned, lineDeposited, lineMeeting,
		`{"type":"contamination-declared","state":"LAO","date":"2010-08-01","data":{"hostilities_ended":"1969-12-31"},"source":"s"}`,
		`{"type":"assistance-requested","state":"GNB","date":"2012-09-14","data":{"areas":[]},"source":"s"}`,
		`{"type":"stockpile-destroyed","state":"MDA","date":"2010-07-29","data":{"munitions":0,"submunitions":0},"source":"s"}`,
		`{"type":"retracted","date":"2012-09-14","data":{"event":"urn:uuid:65d3f747-76ea-57ba-b39d-43e819bf76b5","reason":"r"},"source":"s"}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"\ud800 invalid surrogate"}`,
		"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"\xff\xfe\"}",
		`{"type":"signed","type":"deposited","state":"SWE","date":"2012-04-23","source":"s","data":{"instrument":"ratification"}}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"\ud83d\udcdc a scroll"}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"\u200b"}`,
		"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"s\u0085\x7f\"}",
		`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"N","city":"O","start":"2012-09-11","end":"2012-09-14","city":"P"},"source":"s"}`,
		`{"id":"aea78634-fad9-5936-8b96-c6f7ea1324ec","type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"UN depositary notification; SEED fn 138 (Sweden 23/04/2012)"}`,
		`{"id":"aea78634-fad9-5936-8b96-c6f7ea1324ec","type":"signed","state":"SWE","date":"2008-12-03","source":"s"}`,
		`{}`, `null`, `[]`, `"x"`, `0`, ``,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Decode(line)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%q) = %v, not an ErrInvalid", line, err)
			}
			probs := problemsOf(err)
			if len(probs) == 0 {
				t.Fatalf("Decode(%q) = %v: no *FieldError", line, err)
			}
			for _, p := range probs {
				if p.Line != 0 || p.Reason == "" {
					t.Fatalf("Decode(%q): problem %#v", line, p)
				}
			}
			if e.ID != uuid.Nil || e.Payload != nil {
				t.Fatalf("Decode(%q) failed but returned %+v", line, e)
			}
			return
		}
		if e.ID == uuid.Nil || !e.Type.Known() || e.Date < Adoption || e.Payload == nil || !visible(e.Source) {
			t.Fatalf("Decode(%q) accepted an incomplete event %+v", line, e)
		}
		// Nothing encoding/json would have read with another meaning.
		if !utf8.Valid(line) || textProblem(e.Source) != "" || len(e.StoredJSON()) > MaxStoredBytes {
			t.Fatalf("Decode(%q) accepted %+v", line, e)
		}
		if tx, ok := e.Payload.(texter); ok {
			for _, f := range tx.texts() {
				if textProblem(f.value) != "" {
					t.Fatalf("Decode(%q) accepted %s %+q", line, f.path(), f.value)
				}
			}
		}
		if hasDuplicateKey(t, line) {
			t.Fatalf("Decode(%q) accepted a key given twice", line)
		}
		if w, _ := e.MarshalJSON(); bytes.Contains(w, []byte("\ufffd")) && !bytes.Contains(line, []byte("\ufffd")) &&
			!bytes.Contains(bytes.ToLower(line), []byte(`\ufffd`)) {
			t.Fatalf("Decode(%q) accepted %s: a U+FFFD the line does not have", line, w)
		}
		if e.ID.Version() == 5 && e.ID != DeriveIDAt(e.Type, e.State, e.Date, e.Precision, e.Data(), e.Source) {
			t.Fatalf("Decode(%q) accepted the id %s, derived from other content", line, e.ID)
		}

		wire, err := e.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of %q: %v", line, err)
		}
		back, err := Decode(wire)
		if err != nil {
			t.Fatalf("Decode(%q) accepted, but its encoding %s is refused: %v", line, wire, err)
		}
		if back.ID != e.ID || !bytes.Equal(back.Data(), e.Data()) {
			t.Fatalf("round trip of %q:\n got %s %s\nwant %s %s", line, back.ID, back.Data(), e.ID, e.Data())
		}
		assertSameEvent(t, e, back, "Decode(MarshalJSON(Decode(%q)))", line)
		again, err := back.MarshalJSON()
		if err != nil || !bytes.Equal(again, wire) {
			t.Fatalf("the encoding of %q is not a fixed point:\n%s\n%s (%v)", line, wire, again, err)
		}

		stored, err := DecodeStored(e.StoredJSON(), 9, time.Unix(1700000000, 0).UTC())
		if err != nil {
			t.Fatalf("DecodeStored(StoredJSON) of %q: %v", line, err)
		}
		if stored.Seq != 9 || !stored.Recorded.Equal(time.Unix(1700000000, 0)) {
			t.Fatalf("DecodeStored of %q lost seq and record time: %+v", line, stored)
		}
		stored.Seq, stored.Recorded = 0, time.Time{}
		assertSameEvent(t, e, stored, "DecodeStored(StoredJSON(Decode(%q)))", line)

		// New accepts the same parts and builds the same event.
		n, err := NewAt(e.ID, e.Type, e.State, e.Date, e.Precision, e.Payload, e.Source)
		if err != nil {
			t.Fatalf("New refuses the parts of %q: %v", line, err)
		}
		assertSameEvent(t, e, n, "New(parts of Decode(%q))", line)
	})
}

// hasDuplicateKey reports whether an object of a valid JSON line has a key
// twice, as encoding/json's tokenizer reads it.
func hasDuplicateKey(t *testing.T, line []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(line))
	type frame struct {
		keys    map[string]bool
		isObj   bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatalf("tokenizing %q: %v", line, err)
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				if top != nil && top.isObj {
					top.wantKey = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, isObj: tok == '{', wantKey: tok == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.isObj && top.wantKey {
				if top.keys[tok] {
					return true
				}
				top.keys[tok] = true
				top.wantKey = false
				continue
			}
			if top != nil && top.isObj {
				top.wantKey = true
			}
		default:
			if top != nil && top.isObj {
				top.wantKey = true
			}
		}
	}
}

// FuzzReadAll: ReadAll never panics; it returns events that write and read
// back unchanged, or an *InputError whose every problem has a line number
// of the input.
func FuzzReadAll(f *testing.F) {
	golden := readGoldenLines(f)
	f.Add([]byte(strings.Join([]string{lineSigned, lineDeposited, lineMeeting}, "\n")))
	f.Add([]byte("# header\r\n" + lineSigned + "\r\n\r\n" + lineDeposited + "\r\n"))
	f.Add([]byte(lineDeposited + "\n" + lineDeposited + "\n"))
	f.Add([]byte(lineSigned + "\n{\"type\":\"signed\"}\n\n[1]\n" + lineMeeting))
	f.Add(bytes.Join(golden, []byte("\n")))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte("#\n#" + lineSigned + "\n   \t\n"))
	f.Add([]byte(""))
	f.Add([]byte("\r"))
	f.Add([]byte("{\"id\":\"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70\",\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"a\"}\n" +
		"{\"id\":\"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70\",\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"b\"}"))

	f.Fuzz(func(t *testing.T, in []byte) {
		evs, err := ReadAll(bytes.NewReader(in))
		lines := bytes.Count(in, []byte("\n")) + 1
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("ReadAll(%q) = %v, not an *InputError", in, err)
			}
			if evs != nil {
				t.Fatalf("ReadAll(%q) failed but returned %d events", in, len(evs))
			}
			if len(ie.Problems) == 0 {
				t.Fatalf("ReadAll(%q): an *InputError without problems", in)
			}
			prev := 0
			for _, p := range ie.Problems {
				if p.Line < 1 || p.Line > lines || p.Line < prev || p.Reason == "" {
					t.Fatalf("ReadAll(%q) (%d lines): problem %#v after line %d", in, lines, p, prev)
				}
				prev = p.Line
			}
			return
		}
		evs2, lineNos, err := ReadLines(bytes.NewReader(in))
		if err != nil || len(evs2) != len(evs) || len(lineNos) != len(evs) {
			t.Fatalf("ReadLines(%q) = %d events, lines %v, %v; ReadAll gave %d events", in, len(evs2), lineNos, err, len(evs))
		}
		for i, n := range lineNos {
			if n < 1 || n > lines || (i > 0 && n <= lineNos[i-1]) {
				t.Fatalf("ReadLines(%q) (%d lines): lines %v", in, lines, lineNos)
			}
		}
		ids := map[uuid.UUID]bool{}
		for _, e := range evs {
			if ids[e.ID] {
				t.Fatalf("ReadAll(%q) returned the id %s twice", in, e.ID)
			}
			ids[e.ID] = true
		}
		var buf bytes.Buffer
		if err := WriteAll(&buf, evs); err != nil {
			t.Fatal(err)
		}
		back, err := ReadAll(&buf)
		if err != nil {
			t.Fatalf("ReadAll(%q) accepted, but its export %q is refused: %v", in, buf.String(), err)
		}
		if len(back) != len(evs) {
			t.Fatalf("ReadAll(%q): %d events, %d after a round trip", in, len(evs), len(back))
		}
		for i := range evs {
			assertSameEvent(t, evs[i], back[i], "event %d of %q after WriteAll and ReadAll", i, in)
		}
	})
}

// assertSameEvent fails unless a and b are the same event, field by field
// and payload value by payload value.
func assertSameEvent(t *testing.T, a, b Envelope, format string, args ...any) {
	t.Helper()
	aw, _ := a.MarshalJSON()
	bw, _ := b.MarshalJSON()
	if a.ID != b.ID || a.Type != b.Type || a.State != b.State || a.Date != b.Date || a.Precision != b.Precision || a.Source != b.Source ||
		a.Seq != b.Seq || !a.Recorded.Equal(b.Recorded) || !samePayload(a.Payload, b.Payload) {
		t.Fatalf(format+":\n got %s\nwant %s", append(args, bw, aw)...)
	}
}

func samePayload(a, b Payload) bool {
	switch a := a.(type) {
	case Empty:
		_, ok := b.(Empty)
		return ok
	case *Deposit:
		b, ok := b.(*Deposit)
		return ok && *a == *b
	case *Quantities:
		b, ok := b.(*Quantities)
		return ok && a.requireBoth == b.requireBoth && sameCount(a.Munitions, b.Munitions) && sameCount(a.Submunitions, b.Submunitions)
	case *Contamination:
		b, ok := b.(*Contamination)
		return ok && *a == *b
	case *Report:
		b, ok := b.(*Report)
		return ok && *a == *b
	case *Legislation:
		b, ok := b.(*Legislation)
		return ok && *a == *b
	case *Extension:
		b, ok := b.(*Extension)
		return ok && *a == *b
	case *Assistance:
		b, ok := b.(*Assistance)
		if !ok || (a.Areas == nil) != (b.Areas == nil) || len(a.Areas) != len(b.Areas) {
			return false
		}
		for i := range a.Areas {
			if a.Areas[i] != b.Areas[i] {
				return false
			}
		}
		return true
	case *Meeting:
		b, ok := b.(*Meeting)
		return ok && *a == *b
	case *Retraction:
		b, ok := b.(*Retraction)
		return ok && *a == *b
	case *Coverage:
		b, ok := b.(*Coverage)
		return ok && *a == *b
	}
	return false
}

func sameCount(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
