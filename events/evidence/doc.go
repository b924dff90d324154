// Package evidence is what lets anyone check that the ledger's history was
// not altered: a Merkle tree over the log (RFC 6962 hashing, with
// github.com/transparency-dev/merkle), checkpoints of its head signed with
// the ledger's Ed25519 key (C2SP signed notes, as Certificate Transparency
// logs and Go's checksum database write them), inclusion proofs of one
// event, and the verification of a whole export from the public key alone.
//
// Every stored message of the log is a leaf, in stream order: leaf i is the
// message at stream sequence i+1. A leaf commits to the message's
// sequence, record time and subject, and to its stored bytes: for every
// event the ledger writes, the event's canonical stored form
// (Envelope.StoredJSON); for any other message, what it holds (a
// quarantined message is evidence too). Hashing stored bytes, not a decoded
// event, keeps a check of the whole log at the speed of reading it.
// Appending a leaf updates the tree without hashing the history again.
//
// The package holds no I/O beyond readers and writers given to it; the log's
// side (reading the messages, storing the leaves and checkpoints) lives in
// deploy/jetstream.
package evidence
