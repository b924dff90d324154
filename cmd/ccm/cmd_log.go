package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"unicode/utf8"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/cmdservice"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
	"github.com/ccm-ledger/ccm-ledger/events/record"
)

// importCmd validates a whole JSON Lines input, then records it: on a data
// directory as the ledger itself, on a server by sending it to the ledger's
// command service, which decides it as a whole.
func (m *Main) importCmd(ctx context.Context, args []string) error {
	fs := m.flagSet("import", "FILE|-")
	var c connFlags
	m.addConnFlags(fs, &c)
	bundled := fs.Bool("bundled", false, "import the bundled record of the Convention (no FILE)")
	dryRun := fs.Bool("dry-run", false, "validate against the ledger and report, record nothing")
	var format formatFlag
	addFormatFlag(fs, &format, "text", "json")
	pos, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if err := format.check(); err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	var (
		input io.Reader
		name  string
	)
	switch {
	case *bundled && len(pos) > 0:
		return usagef("import: give FILE or --bundled, not both")
	case *bundled:
		input, name = bytes.NewReader(record.JSONL()), "bundled record"
	case len(pos) == 0:
		return usagef("import: missing FILE (or - for standard input, or --bundled)")
	case pos[0] == "-":
		input, name = m.Stdin, "standard input"
	default:
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		input, name = f, pos[0]
	}
	var res importResult
	if c.dataSet {
		res, err = m.importHere(ctx, c, input, *dryRun, *bundled)
	} else {
		res, err = m.importRemote(ctx, c, input, *dryRun)
	}
	if err != nil {
		var (
			ie *aggregates.ImportError
			re *cmdservice.RefusedError
		)
		switch {
		case errors.As(err, &ie):
			out := &importError{input: name, err: err}
			for _, p := range ie.Problems {
				out.problems = append(out.problems, fmt.Sprintf("line %d: %s %s %s: %v", res.line(p.Index), p.Event.Type, p.Event.Scope(), p.Event.Date, p.Err))
			}
			return out
		case errors.As(err, &re):
			out := &importError{input: name, err: err}
			for _, p := range re.Problems {
				out.problems = append(out.problems, p.String())
			}
			return out
		}
		if res.Recorded > 0 {
			return fmt.Errorf("import %s: %d recorded before the failure: %w", name, res.Recorded, err)
		}
		return fmt.Errorf("import %s: %w", name, err)
	}
	res.DryRun = *dryRun
	if format.value == "json" {
		return writeJSON(m.Stdout, map[string]any{"input": name, "events": res.Events, "recorded": res.Recorded,
			"already_recorded": res.AlreadyRecorded, "last_seq": res.LastSeq, "attempts": res.Attempts,
			"stored_per_attempt": res.StoredPerAttempt, "dry_run": res.DryRun})
	}
	verb := "recorded"
	if *dryRun {
		verb = "would record"
	}
	fmt.Fprintf(m.Stdout, "%s: %d events read, %s %d, %d already recorded; last sequence %d\n", name, res.Events, verb, res.Recorded, res.AlreadyRecorded, res.LastSeq)
	if res.Attempts > 1 {
		fmt.Fprintf(m.Stdout, "%s: recorded in %d attempts (stored by each: %v)\n", name, res.Attempts, res.StoredPerAttempt)
	}
	return nil
}

// importResult is what an import did, the same on a data directory and
// through the command service.
type importResult struct {
	cmdservice.ImportReply
	line func(i int) int // the input line of each event, on a data directory
}

// importHere validates the whole input, then decides and records it as the
// ledger of a data directory.
func (m *Main) importHere(ctx context.Context, c connFlags, input io.Reader, dryRun, bundled bool) (importResult, error) {
	// The whole input is read and validated before the ledger is opened:
	// a malformed file never touches the log. Only where each event's line
	// is is kept: the ledger reads the events again as it decides them
	// (a pipe is copied to a temporary file as it is read).
	in, err := events.IndexLines(input)
	if err != nil {
		return importResult{}, err
	}
	defer in.Close()
	c.noRecord = c.noRecord || bundled
	b, err := m.open(ctx, c, openOptions{})
	if err != nil {
		return importResult{}, err
	}
	defer b.close()
	if err := b.writable(); err != nil && !dryRun {
		return importResult{}, err
	}
	var progress func(done, total int)
	if m.terminal(m.Stderr) {
		bar := newProgressBar(m.Stderr, "recording")
		progress = bar.update
		defer bar.finish()
	}
	if _, err := b.ledger.Sync(ctx); err != nil {
		return importResult{}, err
	}
	defer importMemoryLimit(in)()
	var res aggregates.ImportResult
	if dryRun {
		res, err = b.ledger.CheckFrom(ctx, in)
	} else {
		res, err = b.ledger.ImportFrom(ctx, in, progress)
	}
	out := importResult{line: in.Line, ImportReply: cmdservice.ImportReply{Events: in.Len(), Recorded: res.Appended,
		AlreadyRecorded: res.Skipped, LastSeq: res.LastSeq, Attempts: res.Attempts, StoredPerAttempt: res.Stored}}
	if err == nil && !dryRun {
		// Signing reads the log, not the aggregates: let them and the
		// index go first, since the one-shot ledger is done.
		b.ledger, out.line = nil, nil
		in.Close()
		_, err = b.signHead(ctx)
	}
	return out, err
}

// importMemoryLimit sets the soft memory limit of the Go runtime
// (runtime/debug.SetMemoryLimit) for the import of in by a process that has
// read the log: what the process holds, plus 32 MiB, plus 600 bytes an event
// and the length of its line. It returns the function that restores the
// limit before. A limit already in force (GOMEMLIMIT) or GOGC set is the
// operator's choice and left alone.
//
// An import keeps what it records: the aggregates (the facts, each id twice,
// the source and the data: about 330 bytes an event of the synthetic
// ledger), and while it appends, the server keeps the ids of the last two
// minutes (about 125 bytes) and the import its index of the input (36) and
// the links in flight: about 570 bytes an event of 172 bytes in all. Left to
// GOGC=100 the heap would grow to twice that before each collection; under
// the limit the collector runs more often as the import nears its end
// instead, and the resident set stays under 1 KB an event. An input whose
// events keep more than the limit allows is still imported: the runtime
// then lets the heap pass the limit, and bounds the collector's share of
// the processor.
func importMemoryLimit(in *events.LineIndex) (restore func()) {
	if os.Getenv("GOGC") != "" || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return func() {}
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	held := int64(s[0].Value.Uint64() - s[1].Value.Uint64())
	prev := debug.SetMemoryLimit(held + 32<<20 + 600*int64(in.Len()) + in.Bytes())
	return func() { debug.SetMemoryLimit(prev) }
}

// importRemote sends the input to the ledger's command service as it reads
// it; the ledger validates it whole, decides and records it.
func (m *Main) importRemote(ctx context.Context, c connFlags, input io.Reader, dryRun bool) (importResult, error) {
	if f, ok := input.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > events.MaxInputBytes {
			return importResult{}, &events.InputTooLargeError{Limit: events.MaxInputBytes}
		}
	}
	b, err := m.open(ctx, c, openOptions{role: roles.Recorder, connOnly: true})
	if err != nil {
		return importResult{}, err
	}
	defer b.close()
	o := cmdservice.ImportOptions{DryRun: dryRun}
	if m.terminal(m.Stderr) {
		o.Sent = func(n int64) { fmt.Fprintf(m.Stderr, "\rccm: sent %d MB", n>>20) }
		defer fmt.Fprintln(m.Stderr)
	}
	r, err := cmdservice.NewClient(b.nc).Import(ctx, input, o)
	return importResult{ImportReply: r}, err
}

// export writes the log as JSON Lines.
func (m *Main) export(ctx context.Context, args []string) error {
	fs := m.flagSet("export", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	state := fs.String("state", "", "only the events of this State (ISO3), or 'convention'")
	from := fs.Uint64("from-seq", 0, "first stream sequence")
	to := fs.Uint64("to-seq", 0, "last stream sequence (default: the end)")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	scope, err := scopeArg(*state)
	if err != nil {
		return err
	}
	b, err := m.open(ctx, c, openOptions{})
	if err != nil {
		return err
	}
	defer b.close()
	if scope == "" && *from <= 1 {
		return m.exportWhole(ctx, b, *to)
	}
	// The events every view counts: read from the start, through the
	// rules, whatever range is asked for.
	w := bufio.NewWriterSize(m.Stdout, 1<<16)
	kept := 0
	inRange := func(seq uint64) bool { return seq >= *from && (*to == 0 || seq <= *to) }
	gate := aggregates.NewGate(func(q events.Quarantined) {
		if inRange(q.Seq) {
			kept++
		}
	})
	_, err = b.log.Read(ctx, jslog.ReadOptions{Scope: scope, UpToSeq: *to, Quarantine: func(q events.Quarantined) {
		if inRange(q.Seq) {
			kept++
		}
	}}, func(e events.Envelope) error {
		if !gate.Admit(e) || !inRange(e.Seq) {
			return nil
		}
		j, err := e.MarshalJSON()
		if err != nil {
			return err
		}
		w.Write(j)
		return w.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	if kept > 0 {
		fmt.Fprintf(m.Stderr, "ccm: export: %d stored messages left out: no view counts them (`ccm verify` lists them)\n", kept)
	}
	fmt.Fprintln(m.Stderr, "ccm: export: a part of the log (--state or --from-seq) carries no evidence: `ccm verify --file` checks whole exports; `ccm prove ID` proves one event")
	return w.Flush()
}

// exportWhole writes the log up to sequence to (0: the end) with its
// evidence: the events every view counts, the other stored messages as
// comment lines, the leaves and the checkpoints, so that `ccm verify
// --file` checks it from the public key alone. The ledger signs its head
// first when the process is the ledger.
func (m *Main) exportWhole(ctx context.Context, b *backend, to uint64) error {
	if _, err := b.signHead(ctx); err != nil {
		return err
	}
	x := evidence.NewExportWriter(m.Stdout)
	kept := 0
	gate := aggregates.NewGate(func(events.Quarantined) { kept++ })
	_, err := b.log.ReadMessages(ctx, 1, to, func(msg evidence.Message) error {
		e, q := events.DecodeMessage(msg.Subject, msg.Data, msg.Seq, msg.Recorded)
		if q == nil && gate.Admit(e) {
			return x.Event(msg, e)
		}
		if q != nil {
			kept++
		}
		return x.Message(msg)
	})
	if err != nil {
		return err
	}
	stored, _, err := b.store.Load(ctx)
	if err != nil {
		return err
	}
	_, covered, err := x.Close(stored)
	if err != nil {
		return err
	}
	if kept > 0 {
		fmt.Fprintf(m.Stderr, "ccm: export: %d stored messages no view counts are comment lines (# ccm-message): importers skip them, verification needs them (`ccm verify` lists them)\n", kept)
	}
	if err := b.writable(); err != nil {
		fmt.Fprintln(m.Stderr, "ccm: export: the log is damaged: this export is what the damaged log holds, and does not verify against the ledger's checkpoints")
	} else if covered < x.Size() {
		fmt.Fprintf(m.Stderr, "ccm: export: the messages after sequence %d are covered by no checkpoint yet: `ccm checkpoint` asks the ledger to sign one; until then `ccm verify --file` fails on them\n", covered)
	}
	return nil
}

// record records one event from flags.
func (m *Main) record(ctx context.Context, args []string) error {
	fs := m.flagSet("record", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	typ := fs.String("type", "", "event type, e.g. deposited, report-submitted (required)")
	state := fs.String("state", "", "ISO 3166-1 alpha-3 code of the State (not for meeting-held)")
	date := fs.String("date", "", "valid date YYYY-MM-DD (required): the latest day the source allows")
	precision := fs.String("precision", "", "how well the date is known: day (default), month, year or on-or-before")
	data := fs.String("payload", "", `the event's data as JSON, e.g. '{"instrument":"ratification"}'`)
	source := fs.String("source", "", "where a reader can check the fact (required)")
	id := fs.String("id", "", "event id (UUID); default derived from the content")
	var format formatFlag
	addFormatFlag(fs, &format, "text", "json")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := format.check(); err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	// JSON would replace invalid UTF-8 with U+FFFD: a changed source.
	for _, f := range []struct{ name, v string }{{"type", *typ}, {"state", *state}, {"date", *date}, {"payload", *data}, {"source", *source}, {"id", *id}} {
		if !utf8.ValidString(f.v) {
			return &events.FieldError{Field: f.name, Reason: "--" + f.name + " is not valid UTF-8"}
		}
	}
	line := map[string]any{"type": *typ, "date": *date, "source": *source}
	if *state != "" {
		line["state"] = strings.ToUpper(*state)
	}
	if *id != "" {
		line["id"] = *id
	}
	if *precision != "" {
		line["precision"] = *precision
	}
	if *data != "" {
		if !json.Valid([]byte(*data)) {
			return &events.FieldError{Field: "data", Reason: "--payload is not valid JSON"}
		}
		line["data"] = json.RawMessage(*data)
	}
	raw, _ := json.Marshal(line)
	e, err := events.Decode(raw)
	if err != nil {
		return err
	}
	seq, dup, err := m.recordOne(ctx, c, raw)
	if err != nil {
		return err
	}
	if format.value == "json" {
		return writeJSON(m.Stdout, map[string]any{"id": e.ID, "seq": seq, "already_recorded": dup, "subject": e.Subject()})
	}
	if dup {
		fmt.Fprintf(m.Stdout, "already recorded: %s (%s %s %s) at sequence %d\n", e.ID, e.Type, e.Scope(), e.Date, seq)
		return nil
	}
	fmt.Fprintf(m.Stdout, "recorded %s %s %s as %s at sequence %d\n", e.Type, e.Scope(), e.Date, e.ID, seq)
	return nil
}

// recordOne records one event: as the ledger of a data directory, or by a
// command to a server's ledger. dup is true when the ledger held it.
func (m *Main) recordOne(ctx context.Context, c connFlags, body []byte) (seq uint64, dup bool, err error) {
	if !c.dataSet {
		b, err := m.open(ctx, c, openOptions{role: roles.Recorder, connOnly: true})
		if err != nil {
			return 0, false, err
		}
		defer b.close()
		r, err := cmdservice.NewClient(b.nc).Record(ctx, body)
		if err != nil {
			return 0, false, err
		}
		return r.Events[0].Seq, r.Events[0].Status == "existing", nil
	}
	e, err := events.Decode(body)
	if err != nil {
		return 0, false, err
	}
	b, err := m.open(ctx, c, openOptions{})
	if err != nil {
		return 0, false, err
	}
	defer b.close()
	if err := b.writable(); err != nil {
		return 0, false, err
	}
	seq, err = b.ledger.Record(ctx, e)
	if errors.Is(err, events.ErrDuplicate) {
		return seq, true, nil
	}
	if err == nil {
		_, err = b.signHead(ctx)
	}
	return seq, false, err
}

// scopeArg checks a --state value: a State's code or "convention".
func scopeArg(s string) (string, error) {
	if s == "" || s == events.ConventionScope {
		return s, nil
	}
	code, err := stateArg(s)
	return code, err
}

// stateArg resolves a State argument: an ISO3 code (any case) or a name.
func stateArg(s string) (string, error) {
	if c, ok := events.LookupState(strings.ToUpper(s)); ok {
		return c.ISO3, nil
	}
	if c, ok := events.StateByName(s); ok {
		return c.ISO3, nil
	}
	return "", notFoundf("%q is not a State: give its ISO 3166-1 alpha-3 code (e.g. SWE) or its name", s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
