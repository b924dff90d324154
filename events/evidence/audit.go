package evidence

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
)

// ErrTampered marks a log, an export or a proof that is not the history the
// ledger's checkpoints signed: messages edited, missing, added or moved, a
// checkpoint signed by another key, two histories signed. Tampering and
// damage (records a server dropped) look alike from the outside; both are
// reported with the first sequence affected.
var ErrTampered = errors.New("tampered or damaged")

// Stored is a checkpoint as the ledger stores, publishes and exports it:
// the signed note, and the proof that its tree extends the tree of the
// checkpoint signed before it (of size From), so that a witness who kept
// only checkpoints can check that the ledger never rewrote what it signed.
type Stored struct {
	Note        string   `json:"checkpoint"`
	From        uint64   `json:"consistency_from,omitempty"`
	Consistency [][]byte `json:"consistency,omitempty"`
}

// Problem is one thing verification found wrong, at the first stream
// sequence it affects (0: none in particular).
type Problem struct {
	Seq uint64 `json:"seq,omitempty"`
	// ID is the event stored at Seq, when there is one.
	ID string `json:"id,omitempty"`
	// Line is the line of an export, when one was verified.
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	var at []string
	if p.Line > 0 {
		at = append(at, "line "+strconv.Itoa(p.Line))
	}
	if p.Seq > 0 {
		at = append(at, "sequence "+strconv.FormatUint(p.Seq, 10))
	}
	if p.ID != "" {
		at = append(at, "event "+p.ID)
	}
	if len(at) == 0 {
		return p.Reason
	}
	return strings.Join(at, ", ") + ": " + p.Reason
}

// TamperError carries every problem found, the first bad sequence first.
type TamperError struct{ Problems []Problem }

func (e *TamperError) Error() string {
	msg := fmt.Sprintf("%s: %s", ErrTampered, e.Problems[0])
	if n := len(e.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// Unwrap makes the error match ErrTampered.
func (e *TamperError) Unwrap() error { return ErrTampered }

// Report is what a verification found.
type Report struct {
	Origin string `json:"origin"`
	// Messages is the number of stored messages (leaves) read.
	Messages uint64 `json:"messages"`
	// Checkpoints counts the checkpoints whose signature verified;
	// KeyChecked is false when no public key was given (then the roots
	// were compared, the signatures not).
	Checkpoints int  `json:"checkpoints"`
	KeyChecked  bool `json:"key_checked"`
	// Latest is the checkpoint of the largest tree.
	Latest *Checkpoint `json:"latest,omitempty"`
	// Unsigned counts the messages after the latest checkpoint: recorded
	// since, and covered by no signature yet.
	Unsigned uint64    `json:"unsigned"`
	Problems []Problem `json:"problems"`
}

// Err returns the report's problems as a *TamperError, or nil.
func (r Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return &TamperError{Problems: r.Problems}
}

// Audit rebuilds the tree of a log from its messages, in stream order, and
// checks it against the checkpoints. Live stores and exports are verified
// by the same code.
type Audit struct {
	origin   string
	verifier note.Verifier // nil: roots compared, signatures not checked
	tree     Tree
	ids      []uuid.UUID
	lines    []int32
	problems []Problem
	// missing marks the placeholder leaves of missing sequences.
	missing map[uint64]bool
	grow    int
}

// maxGap bounds the placeholders of missing sequences an audit makes.
const maxGap = 1 << 24

// missingLeaf stands for a missing message: no message hashes to it.
var missingLeaf = Hash{}

// NewAudit starts the audit of the log of origin. With public == "" the
// signatures are not checked (a damage check by someone without the key).
func NewAudit(origin, public string) (*Audit, error) {
	a := &Audit{origin: origin, missing: map[uint64]bool{}}
	if public != "" {
		v, err := note.NewVerifier(public)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		if v.Name() != origin {
			return nil, fmt.Errorf("public key of %q, not of this ledger's log %q", v.Name(), origin)
		}
		a.verifier = v
	}
	return a, nil
}

// KeyOrigin returns the origin a public key verifies checkpoints of.
func KeyOrigin(public string) (string, error) {
	v, err := note.NewVerifier(strings.TrimSpace(public))
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	return v.Name(), nil
}

// Size returns the number of leaves so far.
func (a *Audit) Size() uint64 { return a.tree.Size() }

// Problemf records a problem found outside the tree (the stream's state, a
// malformed line).
func (a *Audit) Problemf(seq uint64, line int, format string, args ...any) {
	a.problems = append(a.problems, Problem{Seq: seq, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// Add appends the leaf of the message at seq (id: the event stored there,
// if any; line: its line in an export, or 0). A message out of order is a
// problem and is not added; missing sequences before it are problems and
// take placeholder leaves, so that every leaf stays at its sequence.
func (a *Audit) Add(seq uint64, leaf Hash, id uuid.UUID, line int) {
	next := a.tree.Size() + 1
	switch {
	case seq < next:
		a.Problemf(seq, line, "out of order: after sequence %d (a line added, repeated or moved)", next-1)
		return
	case seq-next > maxGap:
		a.Problemf(next, line, "%s missing", Span("sequence", next, seq-1))
		return
	case seq > next:
		a.Problemf(next, line, "%s missing (deleted, lost, or a line removed)", Span("sequence", next, seq-1))
		for s := next; s < seq; s++ {
			a.missing[s] = true
			a.append(missingLeaf, uuid.Nil, line)
		}
	}
	a.append(leaf, id, line)
}

// Unreadable records a message that cannot be read where sequence seq (0:
// unknown) should be: a problem, and a placeholder leaf in its place.
func (a *Audit) Unreadable(seq uint64, line int, reason string) {
	if seq != a.tree.Size()+1 {
		a.Problemf(0, line, "%s", reason)
		return
	}
	a.Problemf(seq, line, "%s", reason)
	a.missing[seq] = true
	a.append(missingLeaf, uuid.Nil, line)
}

// append adds a leaf, and its id and line once any was given (a live
// check gives none: it names ids when it reports, and has no lines).
func (a *Audit) append(leaf Hash, id uuid.UUID, line int) {
	if (id != uuid.Nil || line != 0) && a.ids == nil {
		a.ids = make([]uuid.UUID, a.tree.Size(), max(a.tree.Size()+1, uint64(a.grow)))
		a.lines = make([]int32, a.tree.Size(), cap(a.ids))
	}
	a.tree.Append(leaf)
	if a.ids != nil {
		a.ids = append(a.ids, id)
		a.lines = append(a.lines, int32(line))
	}
}

// Grow makes room for n more leaves, when the caller knows how many come.
func (a *Audit) Grow(n uint64) {
	a.grow = int(n)
	a.tree.Grow(n)
}

// FinishOptions say what the checks must hold to.
type FinishOptions struct {
	// Trusted are leaf hashes stored beside the log: when they match a
	// checkpoint they name the first message that does not.
	Trusted []Hash
	// RequireCovered makes messages after the latest checkpoint a problem
	// (an export must be signed whole; a live log grows between them).
	RequireCovered bool
	// IDOf, when set, names the event stored at a sequence a problem
	// names, when Add was given none ("" for none).
	IDOf func(seq uint64) string
}

// Finish checks every checkpoint (signature, consistency with the one
// before, root against the log) and returns the report.
func (a *Audit) Finish(stored []Stored, o FinishOptions) Report {
	r := Report{Origin: a.origin, Messages: a.tree.Size(), KeyChecked: a.verifier != nil}
	cps := a.openAll(stored)
	r.Checkpoints = len(cps)
	a.checkLog(cps, o.Trusted)
	if len(cps) > 0 {
		latest := cps[0]
		for _, c := range cps[1:] {
			if c.Size > latest.Size || (c.Size == latest.Size && c.Time.After(latest.Time)) {
				latest = c
			}
		}
		r.Latest = &latest
		if latest.Size < r.Messages {
			r.Unsigned = r.Messages - latest.Size
		}
	}
	if o.RequireCovered {
		switch {
		case r.Latest == nil && r.Messages > 0:
			a.Problemf(1, a.line(1), "no checkpoint signed by this key covers the messages")
		case r.Unsigned > 0:
			a.Problemf(r.Latest.Size+1, a.line(r.Latest.Size+1), "%d messages from here on are covered by no checkpoint signed by this key", r.Unsigned)
		}
	}
	for i := range a.problems {
		p := &a.problems[i]
		if p.Seq < 1 || p.Seq > a.tree.Size() || p.ID != "" || a.missing[p.Seq] {
			continue
		}
		if a.ids != nil && a.ids[p.Seq-1] != uuid.Nil {
			p.ID = a.ids[p.Seq-1].String()
		} else if o.IDOf != nil {
			p.ID = o.IDOf(p.Seq)
		}
	}
	sort.SliceStable(a.problems, func(i, j int) bool { return seqKey(a.problems[i]) < seqKey(a.problems[j]) })
	r.Problems = append([]Problem{}, a.problems...)
	return r
}

// seqKey sorts problems by sequence, those of no sequence last.
func seqKey(p Problem) uint64 {
	if p.Seq == 0 {
		return ^uint64(0)
	}
	return p.Seq
}

func (a *Audit) line(seq uint64) int {
	if a.lines != nil && seq >= 1 && seq <= uint64(len(a.lines)) {
		return int(a.lines[seq-1])
	}
	return 0
}

// openAll checks the signatures and the consistency proofs, and returns the
// checkpoints that are the ledger's.
func (a *Audit) openAll(stored []Stored) []Checkpoint {
	var cps []Checkpoint
	bySize := map[uint64]Checkpoint{}
	for i, s := range stored {
		c, err := a.open([]byte(s.Note))
		if err != nil {
			a.Problemf(0, 0, "checkpoint %d of %d: %v", i+1, len(stored), err)
			continue
		}
		if prev, ok := bySize[c.Size]; ok && prev.Root != c.Root {
			a.Problemf(c.Size, a.line(c.Size), "two checkpoints of %d messages with different roots (signed %s and %s): two histories were signed",
				c.Size, prev.Time.Format(time.RFC3339), c.Time.Format(time.RFC3339))
		}
		bySize[c.Size] = c
		if s.From > 0 {
			prev, ok := bySize[s.From]
			switch {
			case !ok:
				a.Problemf(0, 0, "checkpoint of %d messages (signed %s) extends one of %d that no checkpoint before it has", c.Size, c.Time.Format(time.RFC3339), s.From)
			case VerifyConsistency(s.From, c.Size, s.Consistency, prev.Root, c.Root) != nil:
				a.Problemf(s.From+1, a.line(s.From+1), "checkpoint of %d messages (signed %s) does not extend the checkpoint of %d before it: the history it signed was rewritten",
					c.Size, c.Time.Format(time.RFC3339), s.From)
			}
		}
		cps = append(cps, c)
	}
	return cps
}

func (a *Audit) open(signed []byte) (Checkpoint, error) {
	if err := canonicalSignatures(signed); err != nil {
		return Checkpoint{}, err
	}
	if a.verifier != nil {
		return openWith(signed, a.origin, a.verifier)
	}
	return parseUnverified(signed, a.origin)
}

// checkLog compares the tree with each checkpoint, smallest first, and
// names the first message that is not what the smallest failing one signed.
func (a *Audit) checkLog(cps []Checkpoint, trusted []Hash) {
	sorted := append([]Checkpoint(nil), cps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Size < sorted[j].Size })
	var good uint64 // the largest size a checkpoint matched
	for _, c := range sorted {
		signed := c.Time.Format(time.RFC3339)
		if c.Size > a.tree.Size() {
			from := a.tree.Size() + 1
			a.Problemf(from, 0, "the log holds %d messages, the checkpoint signed %s covers %d: %s missing",
				a.tree.Size(), signed, c.Size, Span("message", from, c.Size))
			return
		}
		root, err := a.tree.Root(c.Size)
		if err != nil || root == c.Root {
			good = max(good, c.Size)
			continue
		}
		bad, exact := a.locate(c, trusted, good)
		if a.missing[bad] {
			return // reported as missing
		}
		if exact {
			a.Problemf(bad, a.line(bad), "not the message the checkpoint signed %s covers (edited, replaced or moved)", signed)
		} else {
			a.Problemf(bad, a.line(bad), "a message from here to sequence %d is not what the checkpoint signed %s covers (edited, replaced or moved; the stored leaves do not match it either)", c.Size, signed)
		}
		return
	}
}

// locate returns the first leaf that differs from what c signed: exactly
// when the trusted leaves are those c signed, else the first after the
// largest prefix a checkpoint matched.
func (a *Audit) locate(c Checkpoint, trusted []Hash, good uint64) (uint64, bool) {
	if uint64(len(trusted)) >= c.Size {
		var t Tree
		for _, h := range trusted[:c.Size] {
			t.Append(h)
		}
		if root, err := t.Root(c.Size); err == nil && root == c.Root {
			for i := uint64(0); i < c.Size; i++ {
				if a.tree.Leaf(i) != trusted[i] {
					return i + 1, true
				}
			}
		}
	}
	return good + 1, false
}

// ParseUnverified reads a checkpoint without checking its signature: to
// show it, never to trust it (Open checks it).
func ParseUnverified(signed []byte) (Checkpoint, error) { return parseUnverified(signed, "") }

// parseUnverified reads a checkpoint's text without checking its
// signature.
func parseUnverified(signed []byte, origin string) (Checkpoint, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return Checkpoint{}, errors.New("checkpoint: not a signed note")
	}
	return parseText(string(text)+"\n", origin, signed)
}

// canonicalSignatures refuses signature lines whose base64 is not the one
// encoding of its bytes: the note's own decoder lets the unused bits of
// the last character change, and no byte of the evidence may change
// unnoticed.
func canonicalSignatures(signed []byte) error {
	_, sigs, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return errors.New("checkpoint: not a signed note")
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if _, err := base64.StdEncoding.Strict().DecodeString(line[i+1:]); err != nil {
			return fmt.Errorf("checkpoint: a signature line that is not canonical base64: %v", err)
		}
	}
	return nil
}

// Tree returns the tree the audit rebuilt, for proofs and new checkpoints.
func (a *Audit) Tree() *Tree { return &a.tree }

// Span names the sequences from to to: "message 7 is" or "messages 7 to
// 9 are".
func Span(what string, from, to uint64) string {
	if from == to {
		return fmt.Sprintf("%s %d is", what, from)
	}
	return fmt.Sprintf("%ss %d to %d are", what, from, to)
}
