// Command recordgen builds the bundled record of the Convention on Cluster
// Munitions: it reads the curated source files and writes the JSON Lines
// events, sorted, so that the same sources always give the same bytes.
//
// It is run by go generate in events/record:
//
//	recordgen -sources sources -out record.jsonl
//
// With -out - the record is written to standard output. A bad source row
// stops it with an error naming the file, the line, the field and the
// reason; nothing is written then.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ccm-ledger/ccm-ledger/events/record/build"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "recordgen:", err)
		os.Exit(1)
	}
}

// run parses the flags, builds the record and writes it to -out (stdout
// when it is "-").
func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("recordgen", flag.ContinueOnError)
	sources := fs.String("sources", "sources", "directory of the record's source files")
	out := fs.String("out", "record.jsonl", "file to write, or - for standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	b, err := build.Record(*sources)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = stdout.Write(b)
		return err
	}
	// Write beside the target and rename, so a failed run never leaves a
	// truncated record behind.
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}
