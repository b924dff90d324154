package main

import (
	"bytes"

	"github.com/ccm-ledger/ccm-ledger/events/record"
)

// recordSize is the number of events of the bundled record: what a new
// data directory's log holds.
var recordSize = uint64(bytes.Count(record.JSONL(), []byte("\n")))
