package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run runs the whole program in-process, as `ccm args...`, with a fixed
// clock and no environment, and returns its exit code and output.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" },
		Now:    func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) },
	}
	code := m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestReportAsOfMeetingOnANewDataDirectory(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "", "report", "--as-of", "3MSP", "--data", dir, "--format", "json")
	require.Equal(t, exitOK, code, "stderr: %s", errs)
	assert.Contains(t, errs, "loaded the bundled record")
	var r struct {
		AsOf          string   `json:"as_of"`
		Meeting       string   `json:"meeting"`
		StatesParties []string `json:"states_parties"`
		NotInForce    []string `json:"not_in_force"`
		Signatories   []string `json:"signatories"`
		ByRegion      map[string]struct {
			StatesParties int `json:"states_parties"`
		} `json:"by_region"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	assert.Equal(t, "2012-09-14", r.AsOf)
	assert.Equal(t, "3MSP", r.Meeting)
	assert.Len(t, r.StatesParties, 75)
	assert.Equal(t, []string{"CHE", "CMR", "HUN", "SWE", "TGO"}, r.NotInForce, "para. 10 of the 3MSP report")
	assert.Len(t, r.Signatories, 36)
	assert.Equal(t, 22, r.ByRegion["Africa"].StatesParties)

	// The second run reuses the store: nothing is loaded again.
	code, out, errs = run(t, "", "report", "--as-of", "2012-09-14", "--data", dir)
	require.Equal(t, exitOK, code, errs)
	assert.NotContains(t, errs, "loaded the bundled record")
	assert.Contains(t, out, "States Parties")
	assert.Contains(t, out, "(3MSP)")
}

func TestImportRejectsTheWholeFileAndNamesEveryBadLine(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(in, []byte(strings.Join([]string{
		`{"type":"signed","state":"XKX","date":"2008-12-03","source":"s"}`,
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s"}`,
		`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratify"},"source":"s"}`,
		`not json`,
	}, "\n")), 0o644))
	code, _, errs := run(t, "", "import", in, "--data", filepath.Join(dir, "store"), "--no-record")
	require.Equal(t, exitInvalid, code, errs)
	for _, want := range []string{"line 1: state", "line 3: data.instrument", "line 4:"} {
		assert.Contains(t, errs, want)
	}
	assert.NotContains(t, errs, "line 2")
	// Nothing was recorded: the store does not even exist as a ledger.
	code, out, _ := run(t, "", "export", "--data", filepath.Join(dir, "store"), "--no-record")
	require.Equal(t, exitOK, code)
	assert.Empty(t, out)
}

func TestImportRejectedByTheRulesRecordsNothing(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	in := filepath.Join(dir, "in.jsonl")
	require.NoError(t, os.WriteFile(in, []byte(strings.Join([]string{
		`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s"}`,
		`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"accession"},"source":"s"}`,
		`{"type":"stockpile-destruction-completed","state":"NOR","date":"2010-07-16","source":"s"}`,
	}, "\n")), 0o644))
	code, _, errs := run(t, "", "import", in, "--data", store, "--no-record")
	require.Equal(t, exitRejected, code, errs)
	assert.Contains(t, errs, "line 2: deposited SWE 2012-04-23: accession-by-signatory")
	assert.Contains(t, errs, "line 3: stockpile-destruction-completed NOR 2010-07-16: completion-without-stockpile")
	code, out, _ := run(t, "", "export", "--data", store, "--no-record")
	require.Equal(t, exitOK, code)
	assert.Empty(t, out, "an import is validated whole before anything is appended")
}

// eventLines returns the event lines of an export, without its evidence
// (comment lines).
func eventLines(export string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(export), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func TestRecordStatusExportAndKnownAt(t *testing.T) {
	store := t.TempDir()
	code, out, errs := run(t, "", "status", "SWE", "--as-of", "3MSP", "--data", store, "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var st struct {
		TreatyStatus    string `json:"treaty_status"`
		TreatyLastKnown string `json:"treaty_last_known"`
		EntryIntoForce  string `json:"entry_into_force"`
		KnownAt         struct {
			Seq uint64 `json:"seq"`
		} `json:"known_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, "deposited", st.TreatyStatus)
	assert.Equal(t, "2012-10-01", st.EntryIntoForce)
	before := st.KnownAt.Seq

	// A withdrawal recorded today, dated in 2026: a new fact, not an edit.
	code, out, errs = run(t, "", "record", "--data", store, "--type", "withdrawal-notified", "--state", "swe",
		"--date", "2026-11-01", "--source", "test: a fictitious notification")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "recorded withdrawal-notified SWE 2026-11-01")
	// Recording it again records nothing new.
	code, out, _ = run(t, "", "record", "--data", store, "--type", "withdrawal-notified", "--state", "SWE",
		"--date", "2026-11-01", "--source", "test: a fictitious notification")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "already recorded")
	// An impossible event is refused with its rule and exit code 4.
	code, _, errs = run(t, "", "record", "--data", store, "--type", "signed", "--state", "SWE",
		"--date", "2011-01-01", "--source", "test")
	require.Equal(t, exitRejected, code)
	assert.Contains(t, errs, "signature-closed")

	// The bundled record is complete for treaty actions through 23 Jan
	// 2026: as of today, what it holds is the last known status.
	code, out, _ = run(t, "", "status", "SWE", "--data", store, "--format", "json")
	require.Equal(t, exitOK, code)
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, "unknown", st.TreatyStatus)
	assert.Equal(t, "withdrawing", st.TreatyLastKnown)
	// Its keeper says the record is complete through today: known again.
	today := "2026-11-28" // the clock of run
	code, _, errs = run(t, "", "record", "--data", store, "--type", "coverage-declared", "--date", "2008-05-30",
		"--payload", `{"facts":"treaty","through":"`+today+`"}`, "--source", "test: every treaty action to today is recorded")
	require.Equal(t, exitOK, code, errs)
	code, out, _ = run(t, "", "status", "SWE", "--data", store, "--format", "json")
	require.Equal(t, exitOK, code)
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, "withdrawing", st.TreatyStatus)
	// As the ledger knew it before the withdrawal was recorded.
	code, out, _ = run(t, "", "status", "SWE", "--data", store, "--format", "json", "--known-at", strconv.FormatUint(before, 10))
	require.Equal(t, exitOK, code)
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, "unknown", st.TreatyStatus)
	assert.Equal(t, "party", st.TreatyLastKnown)

	code, out, _ = run(t, "", "export", "--data", store, "--state", "SWE")
	require.Equal(t, exitOK, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	assert.Contains(t, last, `"type":"withdrawal-notified"`)
	assert.Contains(t, last, `"seq":`)
	assert.Contains(t, last, `"recorded":`)
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "Usage: ccm"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"status"}, exitUsage, "missing argument"},
		{[]string{"status", "Atlantis", "--data", "x"}, exitNotFound, "is not a State"},
		{[]string{"report", "--format", "xml", "--data", "x"}, exitUsage, "--format"},
		{[]string{"report", "--annual-rule", "nope", "--data", "x"}, exitUsage, "--annual-rule"},
	} {
		code, _, errs := run(t, "", tc.args...)
		assert.Equal(t, tc.code, code, "ccm %v: %s", tc.args, errs)
		assert.Contains(t, errs, tc.want, "ccm %v", tc.args)
	}
}

func TestUnknownMeetingAndUnreachableServer(t *testing.T) {
	store := t.TempDir()
	code, _, errs := run(t, "", "report", "--as-of", "9MSPX", "--data", store)
	assert.Equal(t, exitNotFound, code, errs)
	code, _, errs = run(t, "", "report", "--nats-url", "nats://127.0.0.1:1")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errs, "cannot reach the ledger")
}

// TestBinary builds the real binary and runs it as a user would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "ccm")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	store := t.TempDir()
	cmd := exec.Command(bin, "history", "LAO", "--as-of", "3MSP", "--data", store)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), errb.String())
	assert.Contains(t, out.String(), "Lao People's Democratic Republic")
	assert.Contains(t, out.String(), "2010-08-01")
	cmd = exec.Command(bin, "import", "-", "--data", store)
	cmd.Stdin = strings.NewReader(`{"type":"signed","state":"SWE","date":"2008-12-03"}` + "\n")
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitInvalid, ee.ExitCode())
}
