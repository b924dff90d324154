//go:build linux

package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

var (
	importMemoryEvents = flag.String("import-memory-events", "100000,300000", "BenchmarkImportMemory: comma-separated input sizes, in events")
	importMemoryCCM    = flag.String("import-memory-ccm", "", "BenchmarkImportMemory: the ccm binary to measure (default: built from this tree)")
)

// BenchmarkImportMemory measures `ccm import FILE --data DIR --no-record`
// of synthetic inputs (projections/synth.Generate(n, 42), written without
// ids as the record is, so that a million events stay under the input
// limit) into a new data directory, each in a process of its own: its peak
// resident set (getrusage's ru_maxrss) per event, and its rate. Every run
// is a new directory; the median of the runs is reported.
//
//	go test ./cmd/ccm -run '^$' -bench ImportMemory -benchtime 3x -args -import-memory-events 100000,300000,1000000
//
// -import-memory-ccm measures another build, for a comparison on the same
// inputs. The child inherits the environment (GOGC, GOMEMLIMIT).
func BenchmarkImportMemory(b *testing.B) {
	bin := *importMemoryCCM
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "ccm")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("build ccm: %v\n%s", err, out)
		}
	}
	for _, f := range strings.Split(*importMemoryEvents, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("-import-memory-events: %q is not a number of events", f)
		}
		input := filepath.Join(b.TempDir(), fmt.Sprintf("synth-%d.jsonl", n))
		size, err := writeSynthInput(input, n)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			var rss, rates []float64
			for range b.N {
				dir, err := os.MkdirTemp("", "ccm-import-memory-")
				if err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(bin, "import", input, "--data", dir, "--no-record")
				start := time.Now()
				out, err := cmd.CombinedOutput()
				took := time.Since(start)
				os.RemoveAll(dir)
				if err != nil {
					b.Fatalf("ccm import: %v\n%s", err, out)
				}
				if !bytes.Contains(out, []byte(fmt.Sprintf("recorded %d,", n))) {
					b.Fatalf("ccm import did not record %d events:\n%s", n, out)
				}
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				rss = append(rss, float64(ru.Maxrss)*1024) // KiB on Linux
				rates = append(rates, float64(n)/took.Seconds())
			}
			peak := medianOf(rss)
			b.ReportMetric(peak/float64(n), "RSS-B/event")
			b.ReportMetric(peak/(1<<20), "RSS-MiB")
			b.ReportMetric(medianOf(rates), "events/s")
			b.Logf("%d events (%d MiB of input): peak RSS %v MiB, %v events/s", n, size>>20, mib(rss), rounded(rates))
		})
	}
}

// writeSynthInput writes n synthetic events, one a line, without their
// ids.
func writeSynthInput(name string, n int) (int64, error) {
	f, err := os.Create(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	for _, e := range synth.Generate(n, 42) {
		j, err := e.MarshalJSON()
		if err != nil {
			return 0, err
		}
		w.WriteByte('{')
		w.Write(bytes.TrimPrefix(j, []byte(`{"id":"`+e.ID.String()+`",`)))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), f.Close()
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x / (1 << 20))
	}
	return out
}

func rounded(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}
