package evidence

import (
	"errors"
	"fmt"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// ProofFormat names the format of an inclusion proof file.
const ProofFormat = "ccm-proof/1"

// Proof shows that one event is in the history a checkpoint signed, without
// the rest of the log: the event's export line, its leaf's place in the
// tree, the hashes of the inclusion proof and the signed checkpoint.
type Proof struct {
	Format string `json:"format"`
	// Event is the event's line in an export (with seq and recorded),
	// byte for byte: a string, so that no JSON tool reformats it.
	Event string `json:"event"`
	// Index is the event's leaf (its stream sequence - 1), in a tree of
	// Size leaves.
	Index     uint64   `json:"leaf_index"`
	Size      uint64   `json:"tree_size"`
	Inclusion [][]byte `json:"inclusion"`
	// Checkpoint is the signed note of the tree of Size leaves.
	Checkpoint string `json:"checkpoint"`
}

// ErrNotCanonical marks an event stored in a form the ledger does not
// write (a raw message of an old version): its proof would need the stored
// bytes, and a proof carries the event's line.
var ErrNotCanonical = errors.New("the event is not stored in the form the ledger writes")

// Prove makes the proof of the event e, stored as m, against the checkpoint
// c, from the tree that holds at least c.Size leaves.
func Prove(t *Tree, m Message, e events.Envelope, c Checkpoint) (Proof, error) {
	if e.Seq == 0 || e.Seq > c.Size {
		return Proof{}, fmt.Errorf("event at sequence %d is not covered by the checkpoint of %d messages", e.Seq, c.Size)
	}
	if !Canonical(m, e) {
		return Proof{}, fmt.Errorf("sequence %d: %w: it has no proof of its own (ccm verify --file checks it in an export)", e.Seq, ErrNotCanonical)
	}
	if t.Leaf(e.Seq-1) != LeafOf(m) {
		return Proof{}, fmt.Errorf("%w: the event at sequence %d does not hash to its leaf", ErrTampered, e.Seq)
	}
	p, err := t.InclusionProof(e.Seq-1, c.Size)
	if err != nil {
		return Proof{}, err
	}
	line, err := e.MarshalJSON()
	if err != nil {
		return Proof{}, err
	}
	return Proof{Format: ProofFormat, Event: string(line), Index: e.Seq - 1, Size: c.Size, Inclusion: p, Checkpoint: string(c.Note)}, nil
}

// VerifyProof checks a proof with the public key alone: the checkpoint is
// signed by the key, and the event, hashed as a leaf, is at its place in
// the tree whose root the checkpoint signed. It returns the event and the
// checkpoint. Errors wrap ErrTampered for a proof that does not hold.
func VerifyProof(p Proof, public string) (events.Envelope, Checkpoint, error) {
	if p.Format != ProofFormat {
		return events.Envelope{}, Checkpoint{}, fmt.Errorf("not a proof of format %s: %q", ProofFormat, p.Format)
	}
	origin, err := KeyOrigin(public)
	if err != nil {
		return events.Envelope{}, Checkpoint{}, err
	}
	c, err := Open([]byte(p.Checkpoint), origin, public)
	if err != nil {
		if errors.Is(err, ErrNotSigned) {
			err = fmt.Errorf("%w: %v", ErrTampered, err)
		}
		return events.Envelope{}, Checkpoint{}, err
	}
	e, err := ExportedEvent([]byte(p.Event))
	if err != nil {
		return events.Envelope{}, Checkpoint{}, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	switch {
	case p.Size != c.Size:
		return e, c, fmt.Errorf("%w: a proof in a tree of %d leaves against a checkpoint of %d", ErrTampered, p.Size, c.Size)
	case p.Index != e.Seq-1:
		return e, c, fmt.Errorf("%w: the event at sequence %d is not leaf %d", ErrTampered, e.Seq, p.Index)
	}
	if err := VerifyInclusion(p.Index, p.Size, LeafHash(EventLeafData(e)), p.Inclusion, c.Root); err != nil {
		return e, c, fmt.Errorf("%w: the event at sequence %d, hashed with the proof, does not lead to the root the checkpoint signed: it is not in that history", ErrTampered, e.Seq)
	}
	return e, c, nil
}
