package evidence

import (
	"bytes"
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// Hash is a node of the tree: SHA-256, as RFC 6962 hashes it.
type Hash = [sha256.Size]byte

var hasher = rfc6962.DefaultHasher

// leafPrefix names the leaf format; a change of format is a new prefix.
const leafPrefix = "ccm-leaf/1\n"

// Message is one stored message of the log, as a leaf sees it.
type Message struct {
	Seq      uint64
	Recorded time.Time
	Subject  string
	Data     []byte
}

// LeafData returns the bytes the leaf of m commits to: the leaf format,
// the sequence, the record time (UTC, to the nanosecond), the subject, and
// the stored bytes — for every event the ledger writes, the event's
// canonical stored form (Envelope.StoredJSON).
func LeafData(m Message) []byte { return leafData(m, m.Data) }

// EventLeafData is LeafData of a stored event whose stored bytes are its
// canonical form, as an export carries it.
func EventLeafData(e events.Envelope) []byte {
	return leafData(Message{Seq: e.Seq, Recorded: e.Recorded, Subject: e.Subject()}, e.StoredJSON())
}

// Canonical reports whether a stored message holds an event in the form
// the ledger writes: an export line then rebuilds its leaf.
func Canonical(m Message, e events.Envelope) bool {
	return m.Subject == e.Subject() && bytes.Equal(m.Data, e.StoredJSON())
}

func leafData(m Message, content []byte) []byte {
	b := make([]byte, 0, len(leafPrefix)+64+len(m.Subject)+len(content))
	b = append(b, leafPrefix...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, '\n')
	b = m.Recorded.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '\n')
	b = append(b, m.Subject...)
	b = append(b, '\n')
	return append(b, content...)
}

// LeafHash returns the RFC 6962 hash of a leaf's data.
func LeafHash(data []byte) Hash {
	var h Hash
	copy(h[:], hasher.HashLeaf(data))
	return h
}

// LeafOf returns the leaf hash of a stored message.
func LeafOf(m Message) Hash { return LeafHash(LeafData(m)) }
