// Package record holds the bundled record of the Convention on Cluster
// Munitions from its adoption (30 May 2008) to the close of the Third
// Meeting of States Parties (14 September 2012), and the Convention's later
// meetings: JSON Lines events in the public wire format, every one with a
// source. The file is generated from the curated files in sources/ by
// cmd/recordgen; docs/record.md explains how it is built and extended.
package record

import _ "embed"

//go:generate go run ../../cmd/recordgen -sources sources -out record.jsonl

//go:embed record.jsonl
var jsonl []byte

// JSONL returns the record: one event per line, sorted by date, State, type
// and data. The caller must not modify the returned bytes.
func JSONL() []byte { return jsonl }
