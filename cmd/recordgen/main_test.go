package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events/record/build"
)

const sources = "../../events/record/sources"

func TestRunWritesTheRecord(t *testing.T) {
	want, err := build.Record(sources)
	require.NoError(t, err)

	// Given the sources, when recordgen writes to a file, then the file
	// holds the record and no temporary file is left.
	dir := t.TempDir()
	out := filepath.Join(dir, "record.jsonl")
	require.NoError(t, run([]string{"-sources", sources, "-out", out}, nil))
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "file written by recordgen differs from build.Record")
	_, err = os.Stat(out + ".tmp")
	assert.True(t, os.IsNotExist(err), "temporary file left behind: %v", err)

	// When it writes to standard output, then stdout holds the record.
	var stdout bytes.Buffer
	require.NoError(t, run([]string{"-sources", sources, "-out", "-"}, &stdout))
	assert.True(t, bytes.Equal(want, stdout.Bytes()), "stdout of recordgen differs from build.Record")
}

func TestRunFailsWithoutWriting(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "record.jsonl")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"missing sources", []string{"-sources", filepath.Join(dir, "nowhere"), "-out", out}},
		{"stray argument", []string{"-sources", sources, "-out", out, "extra"}},
		{"unknown flag", []string{"-source", sources}},
	} {
		err := run(c.args, &bytes.Buffer{})
		assert.Errorf(t, err, "%s: run(%q) succeeded", c.name, c.args)
		_, statErr := os.Stat(out)
		assert.Truef(t, os.IsNotExist(statErr), "%s: %s was written", c.name, out)
	}
}
