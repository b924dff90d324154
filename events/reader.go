package events

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
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
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read input: %w", err)
	}
	var raw [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			i = len(data)
		}
		raw = append(raw, data[:i])
		data = data[min(i+1, len(data)):]
	}
	// Lines decode independently: spread them over the processors.
	decoded := make([]decodedLine, len(raw))
	decodeLines(raw, decoded)
	var (
		out   = make([]Envelope, 0, len(raw))
		lines = make([]int, 0, len(raw))
		bad   InputError
		seen  = make(map[[16]byte]int, len(raw))
	)
	for i, d := range decoded {
		lineNo := i + 1
		switch {
		case d.skip:
			continue
		case d.tooLong:
			bad.Problems = append(bad.Problems, &FieldError{Line: lineNo, Reason: tooLong})
			continue
		case len(d.probs) > 0:
			for _, p := range d.probs {
				bad.Problems = append(bad.Problems, &FieldError{Line: lineNo, Field: p.field, Reason: p.reason})
			}
			continue
		}
		e := d.e
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
	if len(bad.Problems) > 0 {
		return nil, nil, &bad
	}
	return out, lines, nil
}

// decodedLine is the outcome of decoding one line.
type decodedLine struct {
	e       Envelope
	probs   []fieldProblem
	skip    bool // blank or a comment
	tooLong bool
}

func decodeLine(line []byte) decodedLine {
	if len(bytes.TrimRight(line, "\r")) > MaxLineBytes {
		return decodedLine{tooLong: true}
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' {
		return decodedLine{skip: true}
	}
	if e, ok := decodeFast(line); ok {
		return decodedLine{e: e}
	}
	e, probs := decode(line)
	return decodedLine{e: e, probs: probs}
}

// decodeLines decodes raw into out, in parallel for large inputs.
func decodeLines(raw [][]byte, out []decodedLine) {
	workers := runtime.GOMAXPROCS(0)
	if len(raw) < 2048 || workers < 2 {
		for i, l := range raw {
			out[i] = decodeLine(l)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(raw) + workers - 1) / workers
	for from := 0; from < len(raw); from += chunk {
		to := min(from+chunk, len(raw))
		wg.Go(func() {
			for i := from; i < to; i++ {
				out[i] = decodeLine(raw[i])
			}
		})
	}
	wg.Wait()
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
