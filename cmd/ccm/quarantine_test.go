package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v1Store unpacks testdata/v1-store.tar.gz (see testdata/README.md) into a
// new directory and returns it.
func v1Store(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "v1-store.tar.gz"))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		require.True(t, strings.HasPrefix(target, dir), "entry %q outside the store", h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			require.NoError(t, os.MkdirAll(target, 0o750))
		case tar.TypeReg:
			require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o750))
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
			require.NoError(t, err)
			_, err = io.Copy(out, tr)
			require.NoError(t, err)
			require.NoError(t, out.Close())
		}
	}
	return dir
}

// A store written by the version before quarantine, holding raw messages,
// opens and reads; verify lists every one of them with its rule.
func TestStoreOfThePreviousVersionWithRawMessagesReads(t *testing.T) {
	dir := v1Store(t)

	code, out, errs := run(t, "", "verify", "--data", dir, "--format", "json")
	require.Equal(t, exitVerify, code, "stderr: %s", errs)
	var v Verification
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.Equal(t, uint64(458), v.Messages)
	assert.Equal(t, 451, v.Counted, "the record of the previous version")
	rules := map[uint64]string{}
	for _, q := range v.Quarantined {
		rules[q.Seq] = q.Rule
		assert.NotEmpty(t, q.Subject)
		assert.NotEmpty(t, q.Reason)
	}
	assert.Equal(t, map[uint64]string{
		452: "undecodable", 453: "wrong-subject", 454: "second-deposit", 455: "future-date",
		456: "undecodable", 457: "wrong-subject", 458: "undecodable",
	}, rules)

	code, out, errs = run(t, "", "verify", "--data", dir)
	require.Equal(t, exitVerify, code, errs)
	for _, want := range []string{"458 stored messages", "7 stored messages are quarantined", "ccm.events.NOR.signed", "wrong-subject"} {
		assert.Contains(t, out, want)
	}

	// The forged withdrawal is not counted: Sweden is a State Party.
	code, out, errs = run(t, "", "status", "SWE", "--as-of", "2013-06-30", "--data", dir, "--format", "json")
	require.Equal(t, exitOK, code, errs)
	var st struct {
		TreatyStatus string `json:"treaty_status"`
		KnownAt      struct {
			Seq         uint64 `json:"seq"`
			Quarantined int    `json:"quarantined"`
		} `json:"known_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	assert.Equal(t, "party", st.TreatyStatus, "not withdrawing")
	assert.Equal(t, uint64(458), st.KnownAt.Seq)
	assert.Equal(t, 2, st.KnownAt.Quarantined, "452 and 456: a status reads its State's subjects, and counts what it does not count of them")

	// Nor the second deposit or the report of 2099.
	code, out, errs = run(t, "", "history", "NOR", "--data", dir, "--format", "json")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, 1, strings.Count(out, `"summary": "instrument of ratification deposited"`), out)
	assert.NotContains(t, out, "2099")

	code, out, errs = run(t, "", "report", "--as-of", "3MSP", "--data", dir)
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "7 stored messages not counted (`ccm verify` lists them)")
	assert.Contains(t, out, "States Parties")

	code, out, errs = run(t, "", "export", "--data", dir)
	require.Equal(t, exitOK, code, errs)
	assert.Len(t, eventLines(out), 451, "the events every view counts")
	assert.Equal(t, 7, strings.Count(out, "\n# ccm-message "), "the other stored messages, as evidence")
	assert.Contains(t, errs, "7 stored messages no view counts are comment lines")
}

// ccm serve on that store answers, says how many messages it does not
// count on every view, and counts them in /metrics.
func TestServeOnAStoreWithRawMessages(t *testing.T) {
	dir := v1Store(t)
	s := startServe(t, dir, "--http", "127.0.0.1:0", "--projector=true")
	c := &http.Client{Timeout: 30 * time.Second}
	code, h, body := httpDo(t, c, "GET", "http://"+s.addr+"/v1/report?as_of=3MSP", "", "", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "7", h.Get("Ccm-Quarantined"))
	code, h, body = httpDo(t, c, "GET", "http://"+s.addr+"/v1/states/SWE?as_of=2013-06-30", "", "", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "7", h.Get("Ccm-Quarantined"))
	assert.Contains(t, body, `"treaty_status":"party"`)
	require.Eventually(t, func() bool {
		_, _, m := httpDo(t, c, "GET", "http://"+s.addr+"/metrics", "", "", "")
		return strings.Contains(m, "ccm_log_quarantined 7")
	}, 30*time.Second, 100*time.Millisecond, "the projector counts them")
}

// The events listed over HTTP skip what is not an event, and say how many.
func TestServeListsEventsPastRawMessages(t *testing.T) {
	dir := v1Store(t)
	s := startServe(t, dir, "--http", "127.0.0.1:0")
	c := &http.Client{Timeout: 30 * time.Second}
	code, h, body := httpDo(t, c, "GET", "http://"+s.addr+"/v1/events?from_seq=450&limit=100", "", "", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "5", h.Get("Ccm-Quarantined"), "452, 456 and 458 do not decode, 453 and 457 are on the wrong subject (454 and 455 are events, listed: the rules judge them in the views)")
	assert.Contains(t, body, `"last_seq":458`)
}
