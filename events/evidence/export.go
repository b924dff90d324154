package evidence

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// An export is the JSON Lines of the events every view counts, in stream
// order, each with its sequence and record time, and comment lines that
// importers skip and verification needs:
//
//	# ccm-message {"seq":…,"recorded":…,"subject":…,"data":…}   a stored message as stored: one no view
//	                                                           counts, or an event stored in a form the
//	                                                           ledger does not write (its event line
//	                                                           follows, with the same sequence)
//	# ccm-leaves FROM BASE64                                    leaf hashes from sequence FROM
//	# ccm-checkpoint {"checkpoint":…,"consistency_from":…,…}    a Stored checkpoint
//
// Every line must be exactly as the ledger writes it, so that any changed
// byte is found, even one that does not change what the line means.
const (
	messagePrefix    = "# ccm-message "
	leavesPrefix     = "# ccm-leaves "
	checkpointPrefix = "# ccm-checkpoint "
)

// MaxExportLine bounds a line of an export: an event line is at most
// events.MaxLineBytes; a message line holds one stored message in base64.
const MaxExportLine = 2*events.MaxLineBytes + 1024

// LeavesPerLine is the number of leaf hashes an export line carries.
const LeavesPerLine = 1024

// exportedMessage is the JSON of a ccm-message line.
type exportedMessage struct {
	Seq      uint64 `json:"seq"`
	Recorded string `json:"recorded"`
	Subject  string `json:"subject"`
	Data     []byte `json:"data"`
}

// MessageLine returns the export line of a stored message no view counts.
func MessageLine(m Message) []byte {
	j, _ := json.Marshal(exportedMessage{Seq: m.Seq, Recorded: m.Recorded.UTC().Format(time.RFC3339Nano), Subject: m.Subject, Data: m.Data})
	return append([]byte(messagePrefix), j...)
}

// LeavesLine returns the export line of leaf hashes from sequence from.
func LeavesLine(from uint64, leaves []Hash) []byte {
	raw := make([]byte, 0, len(leaves)*len(Hash{}))
	for _, h := range leaves {
		raw = append(raw, h[:]...)
	}
	b := append([]byte(leavesPrefix), strconv.FormatUint(from, 10)...)
	b = append(b, ' ')
	return base64.StdEncoding.AppendEncode(b, raw)
}

// CheckpointLine returns the export line of a checkpoint.
func CheckpointLine(s Stored) []byte {
	j, _ := json.Marshal(s)
	return append([]byte(checkpointPrefix), j...)
}

// VerifyExport verifies an export from the public key alone: every line is
// as the ledger writes it, the messages are those the checkpoints signed,
// in their order, none missing, none added, all covered by a checkpoint,
// and the checkpoints are signed by the key and extend one another. The
// report's Err says what is wrong, at the first bad line.
// Checkpoints a witness kept (ReadCheckpoints) are checked with the
// export's own: one the export does not reach shows an export, or a log,
// cut back after it was signed.
func VerifyExport(r io.Reader, public string, witnessed ...Stored) (Report, error) {
	origin, err := KeyOrigin(public)
	if err != nil {
		return Report{}, err
	}
	a, err := NewAudit(origin, public)
	if err != nil {
		return Report{}, err
	}
	v := exportVerifier{audit: a}
	br := bufio.NewReaderSize(r, 1<<16)
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) && len(b) <= MaxExportLine {
			var more []byte
			more, err = br.ReadSlice('\n')
			b = append(append([]byte(nil), b...), more...)
		}
		if len(b) > MaxExportLine {
			// No line of the ledger's is this long: stop before it takes
			// the memory.
			a.Problemf(0, line, "a line longer than %d bytes, which the ledger never writes", MaxExportLine)
			break
		}
		if len(b) > 0 {
			if b[len(b)-1] != '\n' {
				a.Problemf(0, line, "the last line does not end with a newline")
			} else {
				v.line(line, b[:len(b)-1])
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Report{}, err
		}
	}
	v.checkTrusted()
	return a.Finish(append(v.stored, witnessed...), FinishOptions{Trusted: v.trusted, RequireCovered: true}), nil
}

type exportVerifier struct {
	audit *Audit
	// shadow is the event line a ccm-message line announces: the event
	// it holds, which the views count, for importers.
	shadow    []byte
	shadowSeq uint64
	stored    []Stored
	trusted   []Hash
	// trustedLine is the line of each trusted chunk, by its first leaf.
	trustedLine map[uint64]int
}

func (v *exportVerifier) line(n int, b []byte) {
	a := v.audit
	// A shadow is the line right after its message line, or none.
	shadow, shadowSeq := v.shadow, v.shadowSeq
	v.shadow, v.shadowSeq = nil, 0
	switch {
	case bytes.HasPrefix(b, []byte(messagePrefix)):
		var m exportedMessage
		if err := strictJSON(b[len(messagePrefix):], &m); err != nil {
			a.Problemf(0, n, "a malformed ccm-message line: %v", err)
			return
		}
		at, err := time.Parse(time.RFC3339Nano, m.Recorded)
		msg := Message{Seq: m.Seq, Recorded: at, Subject: m.Subject, Data: m.Data}
		if err != nil || !bytes.Equal(MessageLine(msg), b) {
			a.Problemf(m.Seq, n, "the ccm-message line is not as the ledger writes it")
			return
		}
		a.Add(m.Seq, LeafOf(msg), uuid.Nil, n)
		if e, q := events.DecodeMessage(msg.Subject, msg.Data, msg.Seq, msg.Recorded); q == nil {
			v.shadow, _ = e.MarshalJSON()
			v.shadowSeq = msg.Seq
		}
	case bytes.HasPrefix(b, []byte(leavesPrefix)):
		v.leaves(n, b)
	case bytes.HasPrefix(b, []byte(checkpointPrefix)):
		var s Stored
		if err := strictJSON(b[len(checkpointPrefix):], &s); err != nil || !bytes.Equal(CheckpointLine(s), b) {
			a.Problemf(0, n, "a ccm-checkpoint line that is not as the ledger writes it")
			return
		}
		v.stored = append(v.stored, s)
	case len(b) > 0 && b[0] == '#':
		a.Problemf(0, n, "a comment line the ledger does not write")
	default:
		if shadowSeq != 0 && bytes.Equal(b, shadow) {
			return // the event of the message line before: no leaf of its own
		}
		e, seq, err := exportedEvent(b)
		if err != nil {
			a.Unreadable(seq, n, err.Error())
			return
		}
		if shadowSeq != 0 && seq == shadowSeq {
			a.Problemf(seq, n, "not the event the ccm-message line before it holds")
			return
		}
		a.Add(e.Seq, LeafHash(EventLeafData(e)), e.ID, n)
	}
}

func (v *exportVerifier) leaves(n int, b []byte) {
	a := v.audit
	rest := b[len(leavesPrefix):]
	i := bytes.IndexByte(rest, ' ')
	var from uint64
	var raw []byte
	err := errors.New("want FROM BASE64")
	if i > 0 {
		from, err = strconv.ParseUint(string(rest[:i]), 10, 64)
	}
	if err == nil {
		raw, err = base64.StdEncoding.Strict().DecodeString(string(rest[i+1:]))
	}
	switch {
	case err != nil:
		a.Problemf(0, n, "a malformed ccm-leaves line: %v", err)
		return
	case len(raw)%len(Hash{}) != 0 || len(raw) == 0:
		a.Problemf(0, n, "a ccm-leaves line of %d bytes, not whole hashes", len(raw))
		return
	case from != uint64(len(v.trusted))+1:
		a.Problemf(from, n, "ccm-leaves from sequence %d after leaves to %d", from, len(v.trusted))
		return
	}
	if v.trustedLine == nil {
		v.trustedLine = map[uint64]int{}
	}
	v.trustedLine[from] = n
	for j := 0; j < len(raw); j += len(Hash{}) {
		v.trusted = append(v.trusted, Hash(raw[j:j+len(Hash{})]))
	}
	if !bytes.Equal(LeavesLine(from, v.trusted[from-1:]), b) {
		a.Problemf(from, n, "the ccm-leaves line is not as the ledger writes it")
	}
}

// checkTrusted requires the export's leaf lines to be the leaves of its
// messages: they only locate a bad message, but no byte of an export may
// change unnoticed.
func (v *exportVerifier) checkTrusted() {
	a := v.audit
	if v.trusted == nil {
		return
	}
	if uint64(len(v.trusted)) != a.Size() {
		a.Problemf(0, 0, "the ccm-leaves lines hold %d leaves for %d messages", len(v.trusted), a.Size())
	}
	for i := uint64(0); i < min(a.Size(), uint64(len(v.trusted))); i++ {
		if a.missing[i+1] || a.tree.Leaf(i) == v.trusted[i] {
			continue
		}
		a.Problemf(i+1, a.line(i+1), "does not hash to its leaf in the ccm-leaves lines")
		return
	}
}

// ExportedEvent reads an event line of an export: the stored form of the
// event with its sequence and record time, exactly as the ledger writes it.
func ExportedEvent(line []byte) (events.Envelope, error) {
	e, _, err := exportedEvent(line)
	return e, err
}

// exportedEvent is ExportedEvent, with the sequence the line gives, if any.
func exportedEvent(line []byte) (events.Envelope, uint64, error) {
	var pos struct {
		Seq      uint64 `json:"seq"`
		Recorded string `json:"recorded"`
	}
	if err := json.Unmarshal(line, &pos); err != nil {
		return events.Envelope{}, 0, fmt.Errorf("not an event line: %v", err)
	}
	at, err := time.Parse(time.RFC3339Nano, pos.Recorded)
	if pos.Seq == 0 || err != nil {
		return events.Envelope{}, pos.Seq, errors.New("an event line without its sequence and record time")
	}
	e, err := events.DecodeStored(line, pos.Seq, at)
	if err != nil {
		return events.Envelope{}, pos.Seq, err
	}
	if j, err := e.MarshalJSON(); err != nil || !bytes.Equal(j, line) {
		return events.Envelope{}, pos.Seq, errors.New("the event line is not as the ledger writes it")
	}
	return e, pos.Seq, nil
}

// strictJSON decodes one JSON object with no unknown field.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// ExportWriter writes an export: the lines of the messages in stream order,
// then the leaves and the checkpoints that cover them.
type ExportWriter struct {
	w    *bufio.Writer
	tree Tree
	err  error
}

// NewExportWriter writes an export to w.
func NewExportWriter(w io.Writer) *ExportWriter {
	return &ExportWriter{w: bufio.NewWriterSize(w, 1<<16)}
}

// Event writes a stored event every view counts, m as stored: its line,
// and, when it is not stored in the form the ledger writes, the stored
// message before it.
func (x *ExportWriter) Event(m Message, e events.Envelope) error {
	j, err := e.MarshalJSON()
	if err != nil {
		return err
	}
	if Canonical(m, e) {
		return x.write(e.Seq, LeafOf(m), j)
	}
	if err := x.write(m.Seq, LeafOf(m), MessageLine(m)); err != nil {
		return err
	}
	x.w.Write(j)
	x.err = x.w.WriteByte('\n')
	return x.err
}

// Message writes a stored message no view counts.
func (x *ExportWriter) Message(m Message) error {
	return x.write(m.Seq, LeafOf(m), MessageLine(m))
}

func (x *ExportWriter) write(seq uint64, leaf Hash, line []byte) error {
	if x.err == nil && seq != x.tree.Size()+1 {
		x.err = fmt.Errorf("export: message %d after %d", seq, x.tree.Size())
	}
	if x.err != nil {
		return x.err
	}
	x.tree.Append(leaf)
	x.w.Write(line)
	x.err = x.w.WriteByte('\n')
	return x.err
}

// Size returns the number of messages written.
func (x *ExportWriter) Size() uint64 { return x.tree.Size() }

// Close writes the leaves and the checkpoints of at most Size messages, and
// flushes. It returns the number of checkpoints written and the messages
// the largest of them covers.
func (x *ExportWriter) Close(stored []Stored) (int, uint64, error) {
	if x.err != nil {
		return 0, 0, x.err
	}
	for from := uint64(0); from < x.tree.Size(); from += LeavesPerLine {
		to := min(from+LeavesPerLine, x.tree.Size())
		x.w.Write(LeavesLine(from+1, x.tree.levels[0][from:to]))
		x.w.WriteByte('\n')
	}
	n, covered := 0, uint64(0)
	for _, s := range stored {
		c, err := parseUnverified([]byte(s.Note), "")
		if err != nil || c.Size > x.tree.Size() {
			continue
		}
		x.w.Write(CheckpointLine(s))
		x.w.WriteByte('\n')
		n, covered = n+1, max(covered, c.Size)
	}
	return n, covered, x.w.Flush()
}

// ReadCheckpoints reads the checkpoints a witness kept: one per line, each
// as the ledger publishes it on ccm.checkpoints.<stream> (the JSON of
// Stored) or as an export's ccm-checkpoint line; blank lines are skipped.
// The signatures are checked where the checkpoints are used.
func ReadCheckpoints(r io.Reader) ([]Stored, error) {
	var out []Stored
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		line = bytes.TrimPrefix(line, []byte(checkpointPrefix))
		var s Stored
		if err := strictJSON(line, &s); err != nil || s.Note == "" {
			return nil, fmt.Errorf("line %d: not a checkpoint as the ledger publishes it ({\"checkpoint\": ...}): %v", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}
