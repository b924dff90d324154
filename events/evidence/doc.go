// Package evidence is what lets anyone check that the ledger's history was
// not altered: a Merkle tree over the log (RFC 6962 hashing, with
// github.com/transparency-dev/merkle), checkpoints of its head signed with
// the ledger's Ed25519 key (C2SP signed notes, as Certificate Transparency
// logs and Go's checksum database write them), inclusion proofs of one
// event, and the verification of a whole export from the public key alone.
//
// Every stored message of the log is a leaf, in stream order: leaf i is the
// message at stream sequence i+1. A leaf commits to the message's
// sequence, record time and subject, and to its content: the canonical
// stored form of the event when it is one (Envelope.StoredJSON), its raw
// bytes when it is not (a quarantined message is evidence too). Appending a
// leaf updates the tree without hashing the history again.
//
// The package holds no I/O beyond readers and writers given to it; the log's
// side (reading the messages, storing the leaves and checkpoints) lives in
// deploy/jetstream.
package evidence
