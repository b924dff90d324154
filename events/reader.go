package events

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"sync"
)

// MaxInputBytes is the largest input ReadAll and ReadLines accept unless
// told otherwise (WithMaxInputBytes): 192 MiB, about 1.2 million events of
// 171 bytes. Every event of an input is held until the whole input is known
// to be valid, at about 250 bytes of heap each; validating an input of this
// size peaks at about 700 MB of memory from a pipe, 600 MB from a file
// (docs/design-notes.md, "Input limits and memory").
const MaxInputBytes = 192 << 20

// MaxInputEvents bounds the events of one input as MaxInputBytes bounds its
// bytes, for inputs of short lines: memory grows with the events (about 250
// bytes each), and 1.2 million is about what 192 MiB of the record's lines
// hold.
const MaxInputEvents = 1_200_000

// maxProblems bounds the problems an input reports: past it, the rest are
// counted.
const maxProblems = 1000

// ReadOption changes how ReadAll and ReadLines read an input.
type ReadOption func(*readConfig)

type readConfig struct {
	limit     int64
	maxEvents int
}

// WithMaxInputBytes sets the largest input accepted, in bytes; zero or less
// means no limit.
func WithMaxInputBytes(n int64) ReadOption {
	return func(c *readConfig) { c.limit = max(n, 0) }
}

// WithMaxInputEvents sets the most events an input may hold; zero or less
// means no limit.
func WithMaxInputEvents(n int) ReadOption {
	return func(c *readConfig) { c.maxEvents = max(n, 0) }
}

// ReadAll reads and validates a whole JSON Lines input. Blank lines and
// lines starting with '#' are skipped. It returns every event, or, when any
// line is invalid, an *InputError listing every problem of every line (with
// line numbers) and no events: an input is accepted whole or not at all.
// Two lines with the same id are an error unless they are identical.
//
// An input larger than MaxInputBytes (or the limit given) is refused with
// an *InputTooLargeError as soon as that is known: before reading, when
// the input tells its size (a file, a bytes.Reader), else when the limit
// is crossed. The input is read line by line and never held whole; a line
// longer than MaxLineBytes is reported and skipped, not held.
func ReadAll(r io.Reader, opts ...ReadOption) ([]Envelope, error) {
	evs, _, err := ReadLines(r, opts...)
	return evs, err
}

// ReadLines is ReadAll that also returns, for each event, the 1-based line
// it was read from, so that later problems can name the line.
func ReadLines(r io.Reader, opts ...ReadOption) ([]Envelope, []int, error) {
	cfg := readConfig{limit: MaxInputBytes, maxEvents: MaxInputEvents}
	for _, o := range opts {
		o(&cfg)
	}
	size, sized := knownSize(r)
	if sized && cfg.limit > 0 && size > cfg.limit {
		return nil, nil, &InputTooLargeError{Limit: cfg.limit}
	}
	var col collector
	if err := scan(r, cfg, size, sized, &col); err != nil {
		return nil, nil, err
	}
	return col.result()
}

// sink takes the decoded chunks of an input, in input order.
type sink interface {
	// reserve makes room for the events of an input of size bytes, as
	// many as its first lines (lines of them in read bytes) promise.
	reserve(size int64, lines int, read int64)
	add(c *chunk) error
	// events counts the events taken so far.
	events() int
}

// scan reads r line by line, decodes its lines on every processor and
// hands them to col in input order, within cfg's limits.
func scan(r io.Reader, cfg readConfig, size int64, sized bool, col sink) error {
	lr := &lineReader{br: bufio.NewReaderSize(r, 64<<10), limit: cfg.limit}
	var d decoder
	defer d.close()
	for lr.err == nil {
		c := d.get()
		lr.fill(c)
		if sized && lr.err == nil && c.first == 1 {
			col.reserve(size, len(c.ends), lr.read)
		}
		switch {
		case lr.err != nil && lr.err != io.EOF:
			return lr.err
		case lr.err == io.EOF && len(d.pending) == 0:
			// A small input, or the end with nothing in flight: no need
			// for the workers.
			c.decode()
			if err := col.add(c); err != nil {
				return err
			}
			continue
		}
		d.submit(c)
		for len(d.pending) >= d.depth() || (lr.err == io.EOF && len(d.pending) > 0) {
			c := d.next()
			err := col.add(c)
			d.free = append(d.free, c)
			if err != nil {
				return err
			}
		}
		if cfg.maxEvents > 0 && col.events() > cfg.maxEvents {
			return &InputTooLargeError{Limit: cfg.limit, Events: cfg.maxEvents}
		}
	}
	if cfg.maxEvents > 0 && col.events() > cfg.maxEvents {
		return &InputTooLargeError{Limit: cfg.limit, Events: cfg.maxEvents}
	}
	return nil
}

// knownSize returns what is left to read of r when r can tell.
func knownSize(r io.Reader) (int64, bool) {
	switch r := r.(type) {
	case interface{ Len() int }: // bytes.Reader, strings.Reader, bytes.Buffer
		return int64(r.Len()), true
	case interface {
		Stat() (fs.FileInfo, error)
		io.Seeker
	}:
		fi, err := r.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		at, err := r.Seek(0, io.SeekCurrent)
		return fi.Size() - at, err == nil
	}
	return 0, false
}

// Lines are decoded in chunks of about this many lines or bytes.
const (
	chunkLines = 1024
	chunkBytes = 512 << 10
)

// chunk is a run of whole lines of an input and, once decoded, their
// outcomes.
type chunk struct {
	first int     // line number of its first line
	buf   []byte  // the lines, back to back, without their '\n'
	ends  []int   // where each line ends in buf
	offs  []int64 // where each line starts in the input
	long  []bool  // lines longer than MaxLineBytes, not held in buf
	out   []decodedLine
	done  chan struct{} // closed once out is set
}

func (c *chunk) reset(first int) {
	clear(c.out) // holds events already collected
	*c = chunk{first: first, buf: c.buf[:0], ends: c.ends[:0], offs: c.offs[:0], long: c.long[:0], out: c.out[:0], done: make(chan struct{})}
}

func (c *chunk) full() bool { return len(c.ends) >= chunkLines || len(c.buf) >= chunkBytes }

func (c *chunk) decode() {
	start := 0
	for i, end := range c.ends {
		if c.long[i] {
			c.out = append(c.out, decodedLine{tooLong: true})
		} else {
			c.out = append(c.out, decodeLine(c.buf[start:end]))
		}
		start = end
	}
}

// lineReader cuts an input into chunks of lines, counting the bytes read
// against the limit.
type lineReader struct {
	br    *bufio.Reader
	limit int64 // 0: none
	read  int64
	lines int
	err   error // io.EOF at the end of the input; a read error or *InputTooLargeError
}

// fill cuts lines into c until c is full or the input ends.
func (lr *lineReader) fill(c *chunk) {
	c.reset(lr.lines + 1)
	for lr.err == nil && !c.full() {
		lr.line(c)
	}
}

// line cuts one line into c. Of a line longer than MaxLineBytes only the
// length is kept.
func (lr *lineReader) line(c *chunk) {
	start, long, any, off := len(c.buf), false, false, lr.read
	for {
		frag, err := lr.br.ReadSlice('\n')
		lr.read += int64(len(frag))
		if lr.limit > 0 && lr.read > lr.limit {
			lr.err = &InputTooLargeError{Limit: lr.limit}
			return
		}
		any = any || len(frag) > 0
		if !long && len(c.buf)-start+len(frag) > MaxLineBytes+len("\r\n") {
			long, c.buf = true, c.buf[:start]
		}
		if !long {
			c.buf = append(c.buf, frag...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			lr.err = fmt.Errorf("read input: %w", err)
			return
		}
		if err == io.EOF {
			lr.err = io.EOF
			if !any {
				return
			}
		}
		break
	}
	if n := len(c.buf); !long && n > start && c.buf[n-1] == '\n' {
		c.buf = c.buf[:n-1]
	}
	lr.lines++
	c.ends = append(c.ends, len(c.buf))
	c.offs = append(c.offs, off)
	c.long = append(c.long, long)
}

// decoder decodes chunks on every processor and hands them back in input
// order. At most depth chunks are in flight, which bounds the raw input
// held at any time.
type decoder struct {
	jobs    chan *chunk
	pending []*chunk // submitted, in input order
	free    []*chunk
	wg      sync.WaitGroup
}

func (d *decoder) depth() int { return 2*runtime.GOMAXPROCS(0) + 1 }

func (d *decoder) get() *chunk {
	if n := len(d.free); n > 0 {
		c := d.free[n-1]
		d.free = d.free[:n-1]
		return c
	}
	return &chunk{}
}

func (d *decoder) submit(c *chunk) {
	if d.jobs == nil {
		d.jobs = make(chan *chunk, d.depth())
		for range runtime.GOMAXPROCS(0) {
			d.wg.Go(func() {
				for c := range d.jobs {
					c.decode()
					close(c.done)
				}
			})
		}
	}
	d.jobs <- c
	d.pending = append(d.pending, c)
}

// next waits for the oldest chunk in flight to be decoded and returns it.
func (d *decoder) next() *chunk {
	c := d.pending[0]
	d.pending = d.pending[1:]
	<-c.done
	return c
}

func (d *decoder) close() {
	if d.jobs != nil {
		close(d.jobs)
		d.wg.Wait()
	}
}

// collector gathers the events and problems of decoded lines, in input
// order, and collapses repeated events.
type collector struct {
	evs  eventList
	bad  InputError
	more int              // problems past maxProblems
	seen map[[16]byte]int // id → index in evs
}

func (col *collector) problem(fe *FieldError) {
	if len(col.bad.Problems) < maxProblems {
		col.bad.Problems = append(col.bad.Problems, fe)
		return
	}
	col.more++
}

// usableLine reports whether a decoded line holds an event, and gives its
// problems to problem when it does not (a blank or comment line has none).
func usableLine(problem func(*FieldError), lineNo int, d decodedLine) bool {
	switch {
	case d.skip:
		return false
	case d.tooLong:
		problem(&FieldError{Line: lineNo, Reason: tooLong})
		return false
	case len(d.probs) > 0:
		for _, p := range d.probs {
			problem(&FieldError{Line: lineNo, Field: p.field, Reason: p.reason})
		}
		return false
	}
	return true
}

func (col *collector) reserve(size int64, lines int, read int64) { col.evs.reserve(size, lines, read) }

func (col *collector) events() int { return col.evs.n }

func (col *collector) add(c *chunk) error {
	if col.seen == nil {
		col.seen = map[[16]byte]int{}
	}
	for i, d := range c.out {
		lineNo := c.first + i
		if !usableLine(col.problem, lineNo, d) {
			continue
		}
		e := d.e
		if first, dup := col.seen[e.ID]; dup {
			prev := col.evs.at(first)
			if !prev.SameFact(e) {
				col.problem(&FieldError{Line: lineNo, Field: "id", Reason: fmt.Sprintf("%s is also the id of a different event on an earlier line", e.ID)})
			}
			continue
		}
		col.seen[e.ID] = col.evs.n
		col.evs.push(e, lineNo)
	}
	return nil
}

func (col *collector) result() ([]Envelope, []int, error) {
	if col.more > 0 {
		col.bad.Problems = append(col.bad.Problems, &FieldError{Reason: fmt.Sprintf("and %d more problems: only the first %d are listed", col.more, maxProblems)})
	}
	if len(col.bad.Problems) > 0 {
		return nil, nil, &col.bad
	}
	evs, lines := col.evs.join()
	if evs == nil {
		evs, lines = []Envelope{}, []int{}
	}
	return evs, lines, nil
}

// eventList holds the events of an input, with their line numbers, as they
// are collected: in one list reserved for them when the input's size is
// known, else in blocks joined at the end. One list grown as it fills would
// be copied at every growth and held twice at the last one, when largest.
type eventList struct {
	reserved bool
	blocks   []eventBlock // one when reserved; else every one but the last holds blockEvents
	n        int
}

type eventBlock struct {
	evs   []Envelope
	lines []int
}

const blockEvents = 4096

// reserve makes room for the events of an input of size bytes, as many as
// its first lines (lines of them in read bytes) promise.
func (l *eventList) reserve(size int64, lines int, read int64) {
	n := size*int64(lines)/max(read, 1)*51/50 + chunkLines
	n = min(n, size/minLineBytes+1) // no event is written shorter
	l.reserved = true
	l.blocks = []eventBlock{{make([]Envelope, 0, n), make([]int, 0, n)}}
}

// minLineBytes is the length of the shortest line of an event:
// {"type":"signed","state":"SWE","date":"2008-12-03","source":"x"}.
const minLineBytes = 64

func (l *eventList) push(e Envelope, line int) {
	switch last := len(l.blocks) - 1; {
	case last < 0:
		l.blocks = append(l.blocks, eventBlock{}) // grows from small, for small inputs
	case !l.reserved && len(l.blocks[last].evs) == blockEvents:
		l.blocks = append(l.blocks, eventBlock{make([]Envelope, 0, blockEvents), make([]int, 0, blockEvents)})
	}
	b := &l.blocks[len(l.blocks)-1]
	b.evs = append(b.evs, e)
	b.lines = append(b.lines, line)
	l.n++
}

func (l *eventList) at(i int) *Envelope {
	if l.reserved {
		return &l.blocks[0].evs[i]
	}
	return &l.blocks[i/blockEvents].evs[i%blockEvents]
}

func (l *eventList) join() ([]Envelope, []int) {
	switch len(l.blocks) {
	case 0:
		return nil, nil
	case 1:
		return l.blocks[0].evs, l.blocks[0].lines
	}
	evs, lines := make([]Envelope, 0, l.n), make([]int, 0, l.n)
	for i, b := range l.blocks {
		evs, lines = append(evs, b.evs...), append(lines, b.lines...)
		l.blocks[i] = eventBlock{}
	}
	return evs, lines
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
