package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// e2eBinary builds the ccm binary into a temporary directory.
func e2eBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ccm")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// e2eFreeAddr returns a loopback address with a port free at the time of
// the call.
func e2eFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeEndToEnd runs the real binary: `ccm serve` on a new data
// directory, events posted over HTTP with the token it made, the derived
// compliance events received as the service user, through a consumer and
// through `ccm watch`, then SIGTERM and a clean exit.
func TestServeEndToEnd(t *testing.T) {
	bin := e2eBinary(t)
	natsAddr, httpAddr := e2eFreeAddr(t), e2eFreeAddr(t)
	data := t.TempDir()
	var stderr lockedBuffer
	serve := exec.Command(bin, "serve", "--data", data, "--listen", natsAddr, "--http", httpAddr, "--projector-tick", "100ms")
	serve.Env = append(os.Environ(), "CCM_NATS_URL=", "CCM_DATA=")
	serve.Stderr = &stderr
	serve.Stdout = io.Discard
	require.NoError(t, serve.Start())
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		if serve.ProcessState == nil {
			_ = serve.Process.Kill()
		}
	})
	base := "http://" + httpAddr

	// Ready once the projector has caught up.
	require.Eventually(t, func() bool {
		res, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var h struct {
			Status    string `json:"status"`
			Projector struct {
				Running   bool   `json:"running"`
				LagEvents uint64 `json:"lag_events"`
			} `json:"projector"`
		}
		return res.StatusCode == 200 && json.NewDecoder(res.Body).Decode(&h) == nil && h.Projector.Running && h.Projector.LagEvents == 0
	}, 90*time.Second, 100*time.Millisecond, "ccm serve becomes healthy; stderr:\n%s", &stderr)

	// A service follows the compliance events as the embedded server's
	// service user, through a consumer: no user may subscribe to ccm.>.
	seed := filepath.Join(data, "auth", "service.nk")
	asService := []string{"--nats-nkey", seed, "--nats-inbox-prefix", roles.ServiceInbox}
	nkey, err := nats.NkeyOptionFromSeed(seed)
	require.NoError(t, err, "the service's NKey")
	nc, err := nats.Connect("nats://"+natsAddr, nats.Name("e2e service"), nkey, nats.CustomInboxPrefix(roles.ServiceInbox))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cons, err := js.OrderedConsumer(context.Background(), "CCM_COMPLIANCE", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"ccm.compliance.KEN.>"}})
	require.NoError(t, err)
	got := make(chan jetstream.Msg, 4096)
	cc, err := cons.Consume(func(m jetstream.Msg) { got <- m })
	require.NoError(t, err)
	defer cc.Stop()

	// A ratification by Kenya (a signatory that, in the record, has not
	// ratified), a test's own fact dated 8 October 2012, recorded with the
	// token ccm serve made in its data directory.
	body := `{"type":"deposited","state":"KEN","date":"2012-10-08","data":{"instrument":"ratification"},"source":"e2e test: UN depositary notification"}`
	token, err := os.ReadFile(filepath.Join(data, "auth", "http.token"))
	require.NoError(t, err, "the token file")
	req, err := http.NewRequest("POST", base+"/v1/events", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode, "POST /v1/events: %s", answer)

	var eif *compliance.Event
	deadline := time.After(30 * time.Second)
	for eif == nil {
		select {
		case m := <-got:
			var e compliance.Event
			require.NoError(t, json.Unmarshal(m.Data(), &e), "payload of %s", m.Subject())
			assert.Equal(t, e.ID.String(), m.Headers().Get("Nats-Msg-Id"), "the id is the Nats-Msg-Id")
			if e.Kind == compliance.EnteredIntoForce {
				eif = &e
				assert.Equal(t, "ccm.compliance.KEN.entered-into-force", m.Subject())
			}
		case <-deadline:
			t.Fatalf("no entered-into-force for KEN over NATS; stderr:\n%s", &stderr)
		}
	}
	assert.Equal(t, "2013-04-01", eif.Date.String(), "first day of the sixth month after the deposit month")
	assert.True(t, eif.Correction, "learned in %d for 2013: a correction", time.Now().Year())
	require.Len(t, eif.Causes, 1)
	assert.Equal(t, "deposited", string(eif.Causes[0].Type))

	// `ccm watch` with a durable consumer sees the same, from the start.
	var out bytes.Buffer
	watch := exec.Command(bin, append([]string{"watch", "--nats-url", "nats://" + natsAddr, "--durable", "e2e", "--from-start", "--format", "json", "--count", "1", "KEN.entered-into-force"}, asService...)...)
	watch.Env = append(os.Environ(), "CCM_NATS_URL=", "CCM_DATA=")
	watch.Stdout = &out
	var werr bytes.Buffer
	watch.Stderr = &werr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, runWithContext(ctx, watch), "ccm watch: %s", &werr)
	var seen compliance.Event
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(out.Bytes()), &seen), "watch prints one JSON event: %q", out.String())
	assert.Equal(t, eif.ID, seen.ID, "ccm watch sees the event published")

	// The human form.
	out.Reset()
	watch = exec.Command(bin, append([]string{"watch", "--nats-url", "nats://" + natsAddr, "--from-start", "--count", "1", "KEN.entered-into-force"}, asService...)...)
	watch.Env = append(os.Environ(), "CCM_NATS_URL=", "CCM_DATA=")
	watch.Stdout = &out
	require.NoError(t, runWithContext(ctx, watch))
	assert.Contains(t, out.String(), "KEN entered into force on 2013-04-01 [art17-entry-into-force]", "text line")

	// Metrics count what was published.
	res, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Contains(t, string(metrics), `ccm_compliance_published_total{kind="entered-into-force"}`)
	assert.Contains(t, string(metrics), "ccm_appends_total 1", "one event appended over HTTP")

	// SIGTERM: a clean shutdown.
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "ccm serve exits 0 on SIGTERM; stderr:\n%s", &stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("ccm serve did not stop on SIGTERM; stderr:\n%s", &stderr)
	}
	assert.Contains(t, stderr.String(), "shutting down")
	t.Logf("ccm serve said:\n%s", firstLines(stderr.String(), 6))
}

func runWithContext(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), ctx.Err())
	}
}

func firstLines(s string, n int) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for i := 0; i < n && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}
