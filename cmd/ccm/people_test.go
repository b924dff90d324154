package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/projections"
)

// assertFits checks that every line of a text output fits textWidth
// columns.
func assertFits(t *testing.T, what, out string) {
	t.Helper()
	for i, l := range strings.Split(out, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), textWidth, "%s: line %d is too wide: %q", what, i+1, l)
	}
}

func TestStatesCommandAndTextWidths(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "", "states", "--as-of", "3MSP", "--data", dir)
	require.Equal(t, exitOK, code, errs)
	assertFits(t, "states", out)
	assert.Contains(t, out, "States as of 2012-09-14 (3MSP)")
	assert.Regexp(t, `(?m)^SWE\s+Sweden\s+deposited\s+2012-10-01`, out, "Sweden, in force from 1 October 2012")

	code, out, errs = run(t, "", "states", "--as-of", "3MSP", "--data", dir, "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var tbl projections.StatesTable
	require.NoError(t, json.Unmarshal([]byte(out), &tbl), out)
	assert.Equal(t, "3MSP", tbl.Meeting)
	require.NotEmpty(t, tbl.States)

	code, out, errs = run(t, "", "states", "--as-of", "3MSP", "--data", dir, "--format", "csv")
	require.Equal(t, exitOK, code, errs)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err, out)
	assert.Equal(t, projections.RowsHeader(), recs[0])
	require.Len(t, recs, len(tbl.States)+1, "the same rows as JSON")
	for i, r := range tbl.States {
		assert.Equal(t, r.Record(), recs[i+1], "row %d", i+1)
	}

	for _, args := range [][]string{{"history", "LAO"}, {"replay"}, {"states"}, {"report", "--as-of", "13MSP", "--names"},
		{"report", "--as-of", "3MSP"}, {"status", "LTU"}, {"status", "SWE", "--as-of", "3MSP"}, {"diff", "3MSP", "13MSP"},
		{"diff", "2MSP", "3MSP", "--events"}, {"meetings"}, {"verify"}} {
		code, out, errs := run(t, "", append(args, "--data", dir)...)
		require.Equal(t, exitOK, code, "%v: %s", args, errs)
		assertFits(t, strings.Join(args, " "), out)
	}
}

// Every bad flag value is a usage error (exit 2); an unknown meeting is
// not found (exit 6).
func TestBadFlagValuesExit2(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report", "--as-of", "2012-13-01"}, exitUsage, `--as-of "2012-13-01" is not a valid date`},
		{[]string{"states", "--as-of", "yesterday!"}, exitUsage, "--as-of"},
		{[]string{"status", "SWE", "--known-at", "soon"}, exitUsage, `--known-at "soon"`},
		{[]string{"diff", "3MSP", "2012-02-30"}, exitUsage, `--as-of "2012-02-30"`},
		{[]string{"states", "--format", "xml"}, exitUsage, "--format"},
		{[]string{"report", "--as-of", "99MSP"}, exitNotFound, "unknown meeting"},
	} {
		code, _, errs := run(t, "", append(tc.args, "--data", dir)...)
		assert.Equal(t, tc.code, code, "ccm %v: %s", tc.args, errs)
		assert.Contains(t, errs, tc.want, "ccm %v", tc.args)
	}
	code, _, errs := run(t, "", "serve", "--log-format", "xml", "--data", dir)
	assert.Equal(t, exitUsage, code, errs)
	assert.Contains(t, errs, "--log-format")
}

func TestHelpSaysWhatACommandDoes(t *testing.T) {
	code, out, errs := run(t, "", "help", "states")
	require.Equal(t, exitOK, code, errs)
	assert.Empty(t, errs, "asked-for help goes to standard output")
	assert.Contains(t, out, "One row per State")
	assert.Contains(t, out, "Example:\n  ccm states --as-of 3MSP")
	own, conn, found := strings.Cut(out, "Connection flags")
	require.True(t, found, "the connection flags are a group of their own:\n%s", out)
	assert.Contains(t, own, "--as-of")
	assert.NotContains(t, own, "--nats-url")
	for _, f := range []string{"--nats-url", "--nats-creds", "--tls-ca", "--data"} {
		assert.Contains(t, conn, f)
	}
	assertFits(t, "help states", out)

	for _, c := range commands {
		code, out, errs := run(t, "", "help", c.name)
		assert.Equal(t, exitOK, code, "help %s: %s", c.name, errs)
		assert.Contains(t, out, "Example:\n  ", "help %s gives an example", c.name)
		assertFits(t, "help "+c.name, out)
	}
	_, out, _ = run(t, "", "help")
	assertFits(t, "help", out)
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct{ typed, want string }{
		{"stauts", `did you mean "status"?`},
		{"reprot", `did you mean "report"?`},
		{"state", `did you mean "states"?`},
		{"serv", `did you mean "serve"?`},
	} {
		code, _, errs := run(t, "", tc.typed, "--data", "x")
		assert.Equal(t, exitUsage, code, tc.typed)
		assert.Contains(t, errs, tc.want, tc.typed)
		code, _, errs = run(t, "", "help", tc.typed)
		assert.Equal(t, exitUsage, code, "help "+tc.typed)
		assert.Contains(t, errs, tc.want, "help "+tc.typed)
	}
	code, _, errs := run(t, "", "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.NotContains(t, errs, "did you mean")
}

func TestVersion(t *testing.T) {
	code, out, errs := run(t, "", "version")
	require.Equal(t, exitOK, code, errs)
	assert.True(t, strings.HasPrefix(out, "ccm "), out)
	code, out2, errs := run(t, "", "--version")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, out, out2, "--version is ccm version")

	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	assert.Equal(t, "v1.4.0 (revision 0123abcd, 2026-11-30T10:00:00Z, dirty, go1.26.0)", versionText(bi, true))
	bi.Main.Version, bi.Settings[2].Value = "(devel)", "false"
	assert.Equal(t, "devel (revision 0123abcd, 2026-11-30T10:00:00Z, go1.26.0)", versionText(bi, true))
	assert.Equal(t, "devel (no build information)", versionText(nil, false))
	// Go's own pseudo-version of a changed tree says it already.
	bi.Main.Version, bi.Settings[2].Value = "v0.0.0-20261130100000-0123abcd0000+dirty", "true"
	assert.Equal(t, "v0.0.0-20261130100000-0123abcd0000+dirty (revision 0123abcd, 2026-11-30T10:00:00Z, go1.26.0)", versionText(bi, true))
}

func TestCompletion(t *testing.T) {
	code, script, errs := run(t, "", "completion", "bash")
	require.Equal(t, exitOK, code, errs)
	file := filepath.Join(t.TempDir(), "ccm.bash")
	require.NoError(t, os.WriteFile(file, []byte(script), 0o644))
	check := exec.Command("bash", "-n", file)
	outb, err := check.CombinedOutput()
	require.NoError(t, err, "bash -n: %s", outb)
	complete := func(words ...string) []string {
		t.Helper()
		arr := make([]string, len(words))
		for i, w := range words {
			arr[i] = strconv.Quote(w)
		}
		prog := "source " + file + "; COMP_WORDS=(" + strings.Join(arr, " ") + "); COMP_CWORD=" +
			strconv.Itoa(len(words)-1) + `; _ccm; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command("bash", "-c", prog).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.Fields(string(out))
	}
	assert.Equal(t, []string{"status", "states"}, complete("ccm", "sta"), "commands")
	assert.Equal(t, []string{"--as-of"}, complete("ccm", "states", "--as"), "a command's flags")
	assert.Contains(t, complete("ccm", "serve", "--log"), "--log-format")
	assert.Equal(t, []string{"fish"}, complete("ccm", "completion", "f"))
	assert.Equal(t, []string{"--version"}, complete("ccm", "--ver"))

	for shell, want := range map[string][]string{
		"zsh":  {"#compdef ccm", "compdef _ccm ccm", "'states:one row per State", "states) compadd -- "},
		"fish": {"complete -c ccm -f -n __fish_use_subcommand -a states", "__fish_seen_subcommand_from states' -l as-of"},
	} {
		code, script, errs := run(t, "", "completion", shell)
		require.Equal(t, exitOK, code, errs)
		for _, w := range want {
			assert.Contains(t, script, w, shell)
		}
	}
	code, _, _ = run(t, "", "completion", "tcsh")
	assert.Equal(t, exitUsage, code)
}

func TestWatchChecksItsFilter(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "SWE", want: "ccm.compliance.SWE.>"},
		{in: "swe.>", want: "ccm.compliance.SWE.>"},
		{in: "*.deadline-missed", want: "ccm.compliance.*.deadline-missed"},
		{in: "ccm.compliance.NOR.*", want: "ccm.compliance.NOR.*"},
		{in: ">", want: "ccm.compliance.>"},
		{in: "*", want: "ccm.compliance.*.>"},
		{in: "*.deadline-misssed", err: `did you mean deadline-missed?`},
		{in: "XYZ", err: `"XYZ" is not the ISO 3166-1 alpha-3 code of a State`},
		{in: "SWE.overdue", err: `"overdue" is not a kind of compliance event`},
		{in: "SWE.>.x", err: "'>' must be the last token"},
	} {
		got, err := watchFilter(tc.in)
		if tc.err != "" {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), tc.err, tc.in)
			assert.Equal(t, exitUsage, exitCode(err), tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	// Refused before any connection: exit 2, not a watch that waits.
	code, _, errs := run(t, "", "watch", "XYZ", "--nats-url", "nats://127.0.0.1:1")
	assert.Equal(t, exitUsage, code, errs)
}

func TestBusyNATSPortIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	code, _, errs := run(t, "", "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:"+port, "--http", "off", "--projector=false")
	assert.Equal(t, exitFailure, code, errs)
	assert.Contains(t, errs, "NATS port "+port)
	assert.Contains(t, errs, "--listen")
}

// runTerminal runs ccm with standard error taken for a terminal or not.
func runTerminal(t *testing.T, terminal bool, args ...string) (int, string) {
	t.Helper()
	var errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errb,
		Getenv: func(string) string { return "" }, Now: time.Now,
		isTerminal: func(io.Writer) bool { return terminal }}
	return m.Run(context.Background(), args), errb.String()
}

func TestImportProgressOnlyOnATerminal(t *testing.T) {
	code, errs := runTerminal(t, true, "import", "--bundled", "--data", t.TempDir())
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, errs, "\rccm: recording [", "a bar on a terminal")
	assert.Contains(t, errs, "] 100% ")
	code, errs = runTerminal(t, false, "import", "--bundled", "--data", t.TempDir())
	require.Equal(t, exitOK, code, errs)
	assert.NotContains(t, errs, "\r", "nothing drawn on a file or pipe")
	assert.NotContains(t, errs, "recording [")
}

func TestServeLogsJSON(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	ready := make(chan struct{})
	done := make(chan int, 1)
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
		Getenv: func(string) string { return "" }, Now: time.Now,
		ServeReady: func(string, string) { close(ready) }}
	go func() {
		done <- m.Run(ctx, []string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:-1", "--projector=false", "--http", "off", "--log-format", "json"})
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("ccm serve ended with exit %d:\n%s", code, stderr.String())
	}
	cancel()
	require.Equal(t, exitOK, <-done, stderr.String())
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // not a log: the new ledger's first load says so plainly
		}
		var rec struct {
			Time, Level, Msg string
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a JSON log line: %s", line)
		assert.NotEmpty(t, rec.Time, line)
		assert.Equal(t, "INFO", rec.Level, line)
		msgs = append(msgs, rec.Msg)
	}
	require.NotEmpty(t, msgs, "serve logs in JSON:\n%s", stderr.String())
	assert.Contains(t, msgs[0], "serving the ledger")
	assert.Contains(t, msgs, "shutting down")
}
