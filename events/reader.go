package events

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one line of JSON Lines input, not counting its line
// ending.
const MaxLineBytes = 1 << 20

// ReadAll reads and validates a whole JSON Lines input. Blank lines and
// lines starting with '#' are skipped. It returns every event, or, when any
// line is invalid, an *InputError listing every problem of every line (with
// line numbers) and no events: an input is accepted whole or not at all.
// Two lines with the same id are an error unless they are identical.
func ReadAll(r io.Reader) ([]Envelope, error) {
	evs, _, err := ReadLines(r)
	return evs, err
}

// ReadLines is ReadAll that also returns, for each event, the 1-based line
// it was read from, so that later problems can name the line.
func ReadLines(r io.Reader) ([]Envelope, []int, error) {
	sc := bufio.NewScanner(r)
	// Room for the line ending ("\r\n") of a line of MaxLineBytes.
	sc.Buffer(make([]byte, 0, 64*1024), MaxLineBytes+2)
	var (
		out    []Envelope
		lines  []int
		bad    InputError
		seen   = map[[16]byte]int{}
		lineNo int
	)
	for sc.Scan() {
		lineNo++
		if len(sc.Bytes()) > MaxLineBytes {
			bad.Problems = append(bad.Problems, &FieldError{Line: lineNo, Reason: tooLong})
			continue
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		e, fast := decodeFast(line)
		var probs []fieldProblem
		if !fast {
			e, probs = decode(line)
		}
		if len(probs) > 0 {
			for _, p := range probs {
				bad.Problems = append(bad.Problems, &FieldError{Line: lineNo, Field: p.field, Reason: p.reason})
			}
			continue
		}
		if first, dup := seen[e.ID]; dup {
			prev := out[first]
			if prev.Type != e.Type || prev.State != e.State || prev.Date != e.Date || !bytes.Equal(prev.Data(), e.Data()) || prev.Source != e.Source {
				bad.Problems = append(bad.Problems, &FieldError{Line: lineNo, Field: "id", Reason: fmt.Sprintf("%s is also the id of a different event on an earlier line", e.ID)})
			}
			continue
		}
		seen[e.ID] = len(out)
		out = append(out, e)
		lines = append(lines, lineNo)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			bad.Problems = append(bad.Problems, &FieldError{Line: lineNo + 1, Reason: tooLong})
		} else {
			return nil, nil, fmt.Errorf("read input: %w", err)
		}
	}
	if len(bad.Problems) > 0 {
		return nil, nil, &bad
	}
	return out, lines, nil
}

var tooLong = fmt.Sprintf("line longer than %d bytes", MaxLineBytes)

// WriteAll writes events in the JSON Lines format, one per line.
func WriteAll(w io.Writer, evs []Envelope) error {
	bw := bufio.NewWriter(w)
	for _, e := range evs {
		b, err := e.MarshalJSON()
		if err != nil {
			return err
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
