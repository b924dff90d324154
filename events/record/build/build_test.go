package build_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record/build"
)

const sources = "../sources"

// copySources copies the record's source files into a temporary directory
// that a test may then spoil.
func copySources(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(sources)
	require.NoError(t, err, "reading %s", sources)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(sources, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	return dir
}

// lineOf returns the 1-based line of file that starts with prefix.
func lineOf(t *testing.T, dir, file, prefix string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	require.NoError(t, err)
	for i, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line starting with %q", file, prefix)
	return 0
}

// appendRow adds one line at the end of a source file and returns its line.
func appendRow(t *testing.T, dir, file, row string) int {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.True(t, bytes.HasSuffix(b, []byte("\n")), "%s does not end with a newline", file)
	require.NoError(t, os.WriteFile(p, append(b, row+"\n"...), 0o644))
	return bytes.Count(b, []byte("\n")) + 1
}

// replace replaces the one occurrence of old in a source file.
func replace(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equalf(t, 1, bytes.Count(b, []byte(old)), "%s should contain %q once", file, old)
	require.NoError(t, os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644))
}

func TestRecordIsDeterministic(t *testing.T) {
	// Given the same sources, when the record is built twice, then the
	// bytes are the same, and every line decodes as an event.
	a, err := build.Record(sources)
	require.NoError(t, err)
	b, err := build.Record(copySources(t))
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "two builds of the same sources differ")
	evs, err := events.ReadAll(bytes.NewReader(a))
	require.NoError(t, err, "the record does not read back with events.ReadAll")
	assert.Equal(t, bytes.Count(a, []byte("\n")), len(evs), "events read back")
}

func TestBadSourceRows(t *testing.T) {
	const (
		facts       = build.SeedFactsFile
		later       = build.LaterFactsFile
		retractions = build.RetractionsFile
	)
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, dir string) (file string, line int)
		field string
		inErr string
	}{
		{"unknown State", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `XXX,victims-declared,2012-09-14,bound,,SEED Oslo Progress Report fn 64,`)
		}, "state", "XXX"},
		{"impossible date", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,victims-declared,2012-02-30,exact,,a source,`)
		}, "date", "2012-02-30"},
		{"date before the Convention's adoption", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,victims-declared,2008-05-29,exact,,a source,`)
		}, "date", "adoption"},
		{"unknown event type", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,victims-counted,2012-09-14,exact,,a source,`)
		}, "type", "victims-counted"},
		{"unknown field in data", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,report-submitted,2012-09-14,exact,"{""kind"":""initial"",""pages"":3}",a source,`)
		}, "data.pages", "not a field"},
		{"data not an object", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,report-submitted,2012-09-14,exact,initial,a source,`)
		}, "data", "JSON object"},
		{"empty source", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,victims-declared,2012-09-14,exact,, ,`)
		}, "source", "required"},
		{"unknown date basis", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,victims-declared,2012-09-14,guess,,a source,`)
		}, "date_basis", "guess"},
		{"deposit basis with another date", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,victims-declared,2012-04-24,deposit,,a source,`)
		}, "date", "2012-04-23"},
		{"month basis not at the month's end", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `SWE,victims-declared,2012-01-30,month,,a source,`)
		}, "date", "2012-01-31"},
		{"eif basis for a signatory", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `CAN,victims-declared,2012-09-14,eif,,a source,`)
		}, "date_basis", "State Party"},
		{"duplicate fact", func(t *testing.T, dir string) (string, int) {
			return facts, appendRow(t, dir, facts, `GNB,victims-declared,2012-09-14,bound,,another source,`)
		}, "", "already given"},
		{"second deposit of a State Party", func(t *testing.T, dir string) (string, int) {
			return later, appendRow(t, dir, later, `SWE,deposited,2013-01-07,exact,"{""instrument"":""ratification""}",a source,`)
		}, "state", "already deposited"},
		{"eif basis of a later deposit with another date", func(t *testing.T, dir string) (string, int) {
			return later, appendRow(t, dir, later, `IRQ,victims-declared,2013-10-01,eif,,a source,`)
		}, "date", "2013-11-01"},
		{"signature basis of a State that acceded", func(t *testing.T, dir string) (string, int) {
			return later, appendRow(t, dir, later, `AND,victims-declared,2013-04-09,signature,,a source,`)
		}, "date_basis", "no date for its signature"},
		{"meeting code already in meetings.csv", func(t *testing.T, dir string) (string, int) {
			return later, appendRow(t, dir, later, `,meeting-held,2013-09-12,exact,"{""code"":""4MSP"",""name"":""Fourth Meeting of States Parties"",""city"":""Lusaka"",""start"":""2013-09-10"",""end"":""2013-09-12""}",a source,`)
		}, "data.code", "already"},
		{"retraction of a fact the record does not hold", func(t *testing.T, dir string) (string, int) {
			return retractions, appendRow(t, dir, retractions, `SWE,victims-declared,2012-09-14,,a reason,a source,`)
		}, "date", "no victims-declared fact"},
		{"retraction without a reason", func(t *testing.T, dir string) (string, int) {
			return retractions, appendRow(t, dir, retractions, `GNB,victims-declared,2012-09-14,,,a source,`)
		}, "reason", "required"},
		{"retraction of a retraction", func(t *testing.T, dir string) (string, int) {
			return retractions, appendRow(t, dir, retractions, `GNB,retracted,2012-09-14,,a reason,a source,`)
		}, "type", "cannot be retracted"},
		{"fact retracted twice", func(t *testing.T, dir string) (string, int) {
			appendRow(t, dir, retractions, `GNB,victims-declared,2012-09-14,,a reason,a source,`)
			return retractions, appendRow(t, dir, retractions, `GNB,victims-declared,2012-09-14,,another reason,another source,`)
		}, "", "already retracted"},
		{"header changed", func(t *testing.T, dir string) (string, int) {
			replace(t, dir, build.StatesFile, "iso3,name_in_seed,region,", "iso,name_in_seed,region,")
			return build.StatesFile, 1
		}, "header", "iso3"},
		{"signatory without a signature", func(t *testing.T, dir string) (string, int) {
			replace(t, dir, build.SignaturesFile, "ISL,2008-12-03,", "XXISL,2008-12-03,")
			return build.SignaturesFile, lineOf(t, dir, build.SignaturesFile, "XXISL,")
		}, "iso3", "not a signatory"},
		{"signature disagrees with other_states.csv", func(t *testing.T, dir string) (string, int) {
			replace(t, dir, build.SignaturesFile, "BEN,2008-12-03,", "BEN,2008-12-04,")
			return build.SignaturesFile, lineOf(t, dir, build.SignaturesFile, "BEN,")
		}, "date", "disagrees"},
		{"meeting without dates", func(t *testing.T, dir string) (string, int) {
			replace(t, dir, build.MeetingsFoundFile, "IS2011,2011-06-27,2011-06-30,", "IS2010,2011-06-27,2011-06-30,")
			return build.MeetingsFile, lineOf(t, dir, build.MeetingsFile, "IS2011,")
		}, "start", "no dates"},
		{"a class of facts covered twice", func(t *testing.T, dir string) (string, int) {
			return build.CoverageFile, appendRow(t, dir, build.CoverageFile, `treaty,2008-05-30,2012-09-14,a source,`)
		}, "facts", "already covered"},
		{"an unknown class of facts", func(t *testing.T, dir string) (string, int) {
			return build.CoverageFile, appendRow(t, dir, build.CoverageFile, `article8,2008-05-30,2012-09-14,a source,`)
		}, "data.facts", "not a class"},
		{"a coverage ending before it starts", func(t *testing.T, dir string) (string, int) {
			replace(t, dir, build.CoverageFile, "article9,2008-05-30,2012-09-14,", "article9,2012-09-15,2012-09-14,")
			return build.CoverageFile, lineOf(t, dir, build.CoverageFile, "article9,")
		}, "data.through", "before"},
		{"a class of facts without coverage", func(t *testing.T, dir string) (string, int) {
			p := filepath.Join(dir, build.CoverageFile)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			var kept []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.HasPrefix(l, "extensions,") {
					kept = append(kept, l)
				}
			}
			require.NoError(t, os.WriteFile(p, []byte(strings.Join(kept, "\n")), 0o644))
			return build.CoverageFile, 0
		}, "facts", "no row for extensions"},
		{"deposit without date", func(t *testing.T, dir string) (string, int) {
			replace(t, dir, build.StatesFile, ",2012-04-23,ratification,", ",,ratification,")
			return build.StatesFile, lineOf(t, dir, build.StatesFile, "SWE,")
		}, "deposit_date", "required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Given sources with one bad row,
			dir := copySources(t)
			file, line := c.spoil(t, dir)
			// when the record is built,
			_, err := build.Record(dir)
			// then the error names the file, line, field and reason.
			require.Error(t, err, "build with a bad row in %s line %d", file, line)
			var se *build.SourceError
			require.Truef(t, errors.As(err, &se), "error %q is not a *build.SourceError", err)
			assert.True(t, errors.Is(err, build.ErrSource), "error %q does not wrap ErrSource", err)
			assert.Equalf(t, file, se.File, "file of error %q", err)
			assert.Equalf(t, line, se.Line, "line of error %q", err)
			assert.Equalf(t, c.field, se.Field, "field of error %q", err)
			assert.Containsf(t, err.Error(), c.inErr, "reason of error %q", err)
		})
	}
}
