package events

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"
)

// syntheticInput returns n distinct valid lines of JSON Lines input, about
// 300 bytes each like the record's, of several types; one line in twenty
// has an escape and so takes the precise decoder, as in the record.
func syntheticInput(n int) []byte {
	states := States()
	var b bytes.Buffer
	b.Grow(n * 320)
	for i := range n {
		st := states[i%len(states)].ISO3
		date := MakeDate(2010+i%15, time.Month(1+i%12), 1+i%28).String()
		src := "synthetic test input " + strconv.Itoa(i) + "; MON-CP annual update, appendix table IX; day not given: dated at the close of the meeting of that year"
		if i%20 == 0 {
			src += ` (\"quoted\")`
		}
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, `{"type":"stockpile-destroyed","state":%q,"date":%q,"data":{"munitions":%d,"submunitions":%d},"source":"%s"}`, st, date, i%977, i%9973, src)
		case 1:
			fmt.Fprintf(&b, `{"type":"report-submitted","state":%q,"date":%q,"data":{"kind":"annual","year":%d},"source":"%s"}`, st, date, 2009+i%15, src)
		case 2:
			fmt.Fprintf(&b, `{"type":"assistance-provided","state":%q,"date":%q,"data":{"areas":["clearance","victim-assistance"]},"source":"%s"}`, st, date, src)
		default:
			fmt.Fprintf(&b, `{"type":"legislation-status","state":%q,"date":%q,"data":{"status":"in-progress"},"source":"%s"}`, st, date, src)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkReadLines reads and validates a synthetic input of 100,000
// lines, from a reader that tells its size (a file) and from one that does
// not (a pipe).
func BenchmarkReadLines(b *testing.B) {
	in := syntheticInput(100_000)
	for _, bc := range []struct {
		name string
		open func() io.Reader
	}{
		{"sized", func() io.Reader { return bytes.NewReader(in) }},
		{"stream", func() io.Reader { return struct{ io.Reader }{bytes.NewReader(in)} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				evs, _, err := ReadLines(bc.open())
				if err != nil || len(evs) != 100_000 {
					b.Fatalf("ReadLines: %d events, %v", len(evs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/event")
		})
	}
}
