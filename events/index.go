package events

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
)

// LineIndex is a JSON Lines input read and validated whole as ReadLines
// reads it, of which only where each event's line lies is held (32 bytes an
// event, against about 250 for the decoded event): its events are decoded
// again, a batch at a time, when they are needed (Events). An input that
// cannot be read again (a pipe) is copied as it is read into a temporary
// file, removed by Close (into memory when no temporary file can be made).
// Every line read again is checked against the line validated: an input
// changed in between is an error, never other events.
//
// A LineIndex is an aggregates.ImportSource. It is not safe for concurrent
// use.
type LineIndex struct {
	src    io.ReaderAt
	base   int64    // where the input starts in src
	spool  *os.File // the copy of an input that cannot be read again
	remove string   // the copy's name, when it could not be removed at once
	seed   maphash.Seed
	blocks [][]indexEntry
	n      int
	bytes  int64
}

// indexEntry is where one event's line lies, and what orders its decision.
type indexEntry struct {
	off  int64  // from the start of the input
	sum  uint64 // maphash of the line as validated
	line int32
	size int32
	date Date
	typ  uint8 // index in typeOrder
}

const indexBlock = 4096

// ErrInputChanged marks an input read again that no longer holds the line
// that was validated.
var ErrInputChanged = errors.New("input changed while it was read")

// IndexLines reads and validates a whole JSON Lines input as ReadLines
// does, with the same limits, problems and options, and returns its index.
// The caller must Close it.
func IndexLines(r io.Reader, opts ...ReadOption) (*LineIndex, error) {
	cfg := readConfig{limit: MaxInputBytes, maxEvents: MaxInputEvents}
	for _, o := range opts {
		o(&cfg)
	}
	size, sized := knownSize(r)
	if sized && cfg.limit > 0 && size > cfg.limit {
		return nil, &InputTooLargeError{Limit: cfg.limit}
	}
	x := &LineIndex{seed: maphash.MakeSeed()}
	if src, base, ok := readerAt(r); ok {
		x.src, x.base = src, base
	} else if f, err := os.CreateTemp("", "ccm-input-*.jsonl"); err == nil {
		if os.Remove(f.Name()) != nil {
			x.remove = f.Name() // removed on Close
		}
		x.spool, x.src = f, f
		r = io.TeeReader(r, f)
	} else {
		// No temporary file: the copy is kept in memory, its raw lines
		// (still less than the decoded events).
		m := &memCopy{}
		x.src = m
		r = io.TeeReader(r, m)
	}
	col := &indexCollector{x: x}
	err := scan(r, cfg, size, sized, col)
	if err == nil {
		err = col.result()
	}
	if err != nil {
		x.Close()
		return nil, err
	}
	return x, nil
}

// readerAt returns r as a reader at offsets, and where its unread part
// starts, when it can be read again: a regular file, a bytes.Reader.
func readerAt(r io.Reader) (io.ReaderAt, int64, bool) {
	ra, ok := r.(io.ReaderAt)
	if !ok {
		return nil, 0, false
	}
	if st, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		fi, err := st.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return nil, 0, false
		}
	}
	sk, ok := r.(io.Seeker)
	if !ok {
		return nil, 0, false
	}
	at, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, 0, false
	}
	return ra, at, true
}

// Close releases the input's copy, if any.
func (x *LineIndex) Close() error {
	if x.spool == nil {
		if _, ok := x.src.(*memCopy); ok {
			x.src = nil
		}
		return nil
	}
	err := x.spool.Close()
	if x.remove != "" {
		os.Remove(x.remove)
	}
	x.spool, x.src = nil, nil
	return err
}

// Len returns the number of events.
func (x *LineIndex) Len() int { return x.n }

// Bytes returns the length of the events' lines, together.
func (x *LineIndex) Bytes() int64 { return x.bytes }

func (x *LineIndex) at(i int) *indexEntry { return &x.blocks[i/indexBlock][i%indexBlock] }

// Line returns the 1-based line of event i.
func (x *LineIndex) Line(i int) int { return int(x.at(i).line) }

// Key returns the valid date and the type of event i.
func (x *LineIndex) Key(i int) (Date, Type) {
	e := x.at(i)
	return e.date, typeOrder[e.typ]
}

func (x *LineIndex) push(e indexEntry) {
	if x.n%indexBlock == 0 {
		x.blocks = append(x.blocks, make([]indexEntry, 0, indexBlock))
	}
	b := &x.blocks[len(x.blocks)-1]
	*b = append(*b, e)
	x.n++
	x.bytes += int64(e.size)
}

// readBatch is the events of one batch of Events.
type readBatch struct {
	at  int
	evs []Envelope
	buf []byte
	err error
}

// eventsBatch is how many events Events decodes at a time.
const eventsBatch = 4096

// Events decodes the events at the indexes of order, in that order, and
// calls fn with them a batch at a time; at is the position in order of the
// batch's first event. fn must not keep evs. The next batch is decoded
// while fn runs. Events stops at the first error, fn's or its own: a line
// that cannot be read, or that is not the line validated (ErrInputChanged).
func (x *LineIndex) Events(order []int32, fn func(at int, evs []Envelope) error) error {
	if len(order) == 0 {
		return nil
	}
	if x.src == nil {
		return errors.New("read the input again: the index is closed")
	}
	ready := make(chan *readBatch, 1)
	free := make(chan *readBatch, 2)
	free <- &readBatch{}
	free <- &readBatch{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ready)
		for at := 0; at < len(order); at += eventsBatch {
			var b *readBatch
			select {
			case b = <-free:
			case <-stop:
				return
			}
			x.read(b, at, order[at:min(at+eventsBatch, len(order))])
			ready <- b
			if b.err != nil {
				return
			}
		}
	})
	var err error
	for b := range ready {
		if err == nil {
			err = b.err
		}
		if err == nil {
			err = fn(b.at, b.evs)
		}
		if err != nil {
			break
		}
		free <- b
	}
	close(stop)
	for range ready {
	}
	wg.Wait()
	return err
}

// read decodes the events idx into b.
func (x *LineIndex) read(b *readBatch, at int, idx []int32) {
	b.at, b.err = at, nil
	// The lines, read in runs of lines that lie close together in the
	// input (all of them when the input is in decision order).
	b.buf = b.buf[:0]
	starts := make([]int, len(idx)+1)
	for k := 0; k < len(idx); {
		first := x.at(int(idx[k]))
		end, j := first.off+int64(first.size), k+1
		for j < len(idx) {
			e := x.at(int(idx[j]))
			if e.off < end || e.off-end > 4096 || e.off+int64(e.size)-first.off > 4<<20 {
				break
			}
			end, j = e.off+int64(e.size), j+1
		}
		from := len(b.buf)
		b.buf = append(b.buf, make([]byte, end-first.off)...)
		if _, err := x.src.ReadAt(b.buf[from:], x.base+first.off); err != nil {
			b.err = fmt.Errorf("read the input again at line %d: %w", first.line, err)
			return
		}
		for ; k < j; k++ {
			e := x.at(int(idx[k]))
			starts[k] = from + int(e.off-first.off)
		}
	}
	lineOf := func(k int) []byte {
		e := x.at(int(idx[k]))
		return b.buf[starts[k] : starts[k]+int(e.size)]
	}
	if cap(b.evs) < len(idx) {
		b.evs = make([]Envelope, len(idx))
	}
	b.evs = b.evs[:len(idx)]
	errs := make([]error, len(idx))
	decode := func(from, to int) {
		for k := from; k < to; k++ {
			e, line := x.at(int(idx[k])), lineOf(k)
			if maphash.Bytes(x.seed, line) != e.sum {
				errs[k] = fmt.Errorf("line %d: %w", e.line, ErrInputChanged)
				continue
			}
			d := decodeLine(line)
			if d.skip || d.tooLong || len(d.probs) > 0 {
				errs[k] = fmt.Errorf("line %d: %w", e.line, ErrInputChanged)
				continue
			}
			b.evs[k] = d.e
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(idx) < 256 || workers < 2 {
		decode(0, len(idx))
	} else {
		var wg sync.WaitGroup
		per := (len(idx) + workers - 1) / workers
		for from := 0; from < len(idx); from += per {
			to := min(from+per, len(idx))
			wg.Go(func() { decode(from, to) })
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			b.err = err
			return
		}
	}
}

// memCopy is a copy of an input in memory, in blocks that are never
// copied again as it grows.
type memCopy struct {
	blocks [][]byte
	n      int64
}

const memCopyBlock = 1 << 20

func (m *memCopy) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		if len(m.blocks) == 0 || len(m.blocks[len(m.blocks)-1]) == memCopyBlock {
			m.blocks = append(m.blocks, make([]byte, 0, memCopyBlock))
		}
		b := &m.blocks[len(m.blocks)-1]
		k := min(len(rest), memCopyBlock-len(*b))
		*b = append(*b, rest[:k]...)
		rest = rest[k:]
	}
	m.n += int64(len(p))
	return len(p), nil
}

func (m *memCopy) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= m.n {
			return n, io.EOF
		}
		b := m.blocks[at/memCopyBlock]
		n += copy(p[n:], b[at%memCopyBlock:])
	}
	return n, nil
}

// typeIndex is the index of each type in typeOrder.
var typeIndex = func() map[Type]uint8 {
	m := make(map[Type]uint8, len(typeOrder))
	for i, t := range typeOrder {
		m[t] = uint8(i)
	}
	return m
}()

// indexCollector indexes the decoded chunks of an input as collector
// collects them: the same problems, the same repeated events collapsed.
type indexCollector struct {
	x    *LineIndex
	bad  InputError
	more int
	seen map[[16]byte]int32 // id → index of its event
	dup  readBatch          // an earlier event read again
}

func (col *indexCollector) problem(fe *FieldError) {
	if len(col.bad.Problems) < maxProblems {
		col.bad.Problems = append(col.bad.Problems, fe)
		return
	}
	col.more++
}

func (col *indexCollector) reserve(size int64, lines int, read int64) {}

func (col *indexCollector) events() int { return col.x.n }

func (col *indexCollector) add(c *chunk) error {
	if col.seen == nil {
		col.seen = map[[16]byte]int32{}
	}
	x := col.x
	start := 0
	for i, d := range c.out {
		lineNo, from, to := c.first+i, start, c.ends[i]
		start = to
		if !usableLine(col.problem, lineNo, d) {
			continue
		}
		e := d.e
		if first, dup := col.seen[e.ID]; dup {
			prev, err := col.earlier(int(first))
			if err != nil {
				return err
			}
			if !prev.SameFact(e) {
				col.problem(&FieldError{Line: lineNo, Field: "id", Reason: fmt.Sprintf("%s is also the id of a different event on an earlier line", e.ID)})
			}
			continue
		}
		if x.n >= 1<<31-1 {
			return &InputTooLargeError{Limit: 0, Events: 1<<31 - 1}
		}
		col.seen[e.ID] = int32(x.n)
		line := c.buf[from:to]
		x.push(indexEntry{off: c.offs[i], sum: maphash.Bytes(x.seed, line), line: int32(lineNo), size: int32(len(line)),
			date: e.Date, typ: typeIndex[e.Type]})
	}
	return nil
}

// earlier decodes again the event i, already indexed.
func (col *indexCollector) earlier(i int) (Envelope, error) {
	col.x.read(&col.dup, 0, []int32{int32(i)})
	if col.dup.err != nil {
		return Envelope{}, col.dup.err
	}
	return col.dup.evs[0], nil
}

func (col *indexCollector) result() error {
	col.seen = nil
	if col.more > 0 {
		col.bad.Problems = append(col.bad.Problems, &FieldError{Reason: fmt.Sprintf("and %d more problems: only the first %d are listed", col.more, maxProblems)})
	}
	if len(col.bad.Problems) > 0 {
		return &col.bad
	}
	return nil
}
