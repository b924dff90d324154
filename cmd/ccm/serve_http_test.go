package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// serving is a `ccm serve` run in-process.
type serving struct {
	addr   string // the HTTP API's address
	data   string
	stderr *lockedBuffer
	stop   func() // stops it and waits; also at the test's end
}

// startServe runs `ccm serve --data data args...` in-process, without the
// projector, and waits until it accepts requests; the test's end stops it.
func startServe(t *testing.T, data string, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{data: data, stderr: &lockedBuffer{}}
	ready := make(chan string, 1)
	done := make(chan int, 1)
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: s.stderr,
		Getenv: func(string) string { return "" }, Now: time.Now,
		ServeReady: func(_, httpAddr string) { ready <- httpAddr }}
	go func() {
		done <- m.Run(ctx, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:-1", "--projector=false"}, args...))
	}()
	var stopped bool
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("ccm serve did not stop; stderr:\n%s", s.stderr)
		}
	}
	t.Cleanup(s.stop)
	select {
	case s.addr = <-ready:
	case code := <-done:
		done <- code
		t.Fatalf("ccm serve %v ended with exit %d:\n%s", args, code, s.stderr)
	case <-time.After(90 * time.Second):
		t.Fatalf("ccm serve %v not ready:\n%s", args, s.stderr)
	}
	return s
}

// token reads the token ccm serve made in its data directory.
func (s *serving) token(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.data, "auth", "http.token"))
	require.NoError(t, err, "the token file")
	return strings.TrimSpace(string(b))
}

const httpTestEvent = `{"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"test: ccm serve over HTTP"}`

// httpDo sends a request; token "" sends none, host "" the URL's.
func httpDo(t *testing.T, c *http.Client, method, url, token, host, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if host != "" {
		req.Host = host
	}
	res, err := c.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, string(b)
}

// TestServeHTTPNeedsTheToken: ccm serve makes a token at first start,
// names its file and never prints it; a write without it is refused, with
// it recorded; a rebound Host name is refused; reads on loopback are open;
// another data directory has another token.
func TestServeHTTPNeedsTheToken(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, data, "--http", "127.0.0.1:0")
	base := "http://" + s.addr
	c := http.DefaultClient

	tokenFile := filepath.Join(data, "auth", "http.token")
	fi, err := os.Stat(tokenFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the token file is the owner's only")
	di, err := os.Stat(filepath.Dir(tokenFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "so is its directory")
	token := s.token(t)
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err, "URL-safe base64: %q", token)
	assert.Len(t, raw, 32, "32 random bytes")
	assert.Contains(t, s.stderr.String(), tokenFile, "ccm serve names the token's file")
	assert.NotContains(t, s.stderr.String(), token, "and never prints the token")

	code, h, body := httpDo(t, c, "POST", base+"/v1/events", "", "", httpTestEvent)
	require.Equal(t, http.StatusUnauthorized, code, "a write without the token: %s", body)
	assert.Equal(t, `Bearer realm="ccm-ledger"`, h.Get("WWW-Authenticate"))
	assert.Contains(t, body, `"code":"unauthorized"`)
	code, _, body = httpDo(t, c, "POST", base+"/v1/events", "not-the-token", "", httpTestEvent)
	require.Equal(t, http.StatusUnauthorized, code, "a write with a wrong token: %s", body)
	code, _, body = httpDo(t, c, "POST", base+"/v1/events", token, "attacker.example", httpTestEvent)
	require.Equal(t, http.StatusMisdirectedRequest, code, "a write under a rebound name, even with the token: %s", body)
	code, _, body = httpDo(t, c, "GET", base+"/v1/report", "", "attacker.example", "")
	require.Equal(t, http.StatusMisdirectedRequest, code, "a read under a rebound name: %s", body)

	code, _, body = httpDo(t, c, "POST", base+"/v1/events", token, "", httpTestEvent)
	require.Equal(t, http.StatusCreated, code, "a write with the token: %s", body)
	code, _, body = httpDo(t, c, "GET", base+"/v1/events?state=SWE&type=victims-declared", "", "", "")
	require.Equal(t, http.StatusOK, code, "reads on loopback are open: %s", body)
	assert.Contains(t, body, "test: ccm serve over HTTP", "the event written")

	other := startServe(t, t.TempDir(), "--http", "127.0.0.1:0")
	assert.NotEqual(t, token, other.token(t), "each data directory has its own token")
	code, _, _ = httpDo(t, c, "POST", "http://"+other.addr+"/v1/events", token, "", httpTestEvent)
	assert.Equal(t, http.StatusUnauthorized, code, "another server's token is no credential")
}

// TestServeHTTPKeepsItsToken: a restart on the same data directory reads
// the token made at first start; --http-token-file gives one instead, and
// then none is made.
func TestServeHTTPKeepsItsToken(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, data, "--http", "127.0.0.1:0")
	first := s.token(t)
	assert.Contains(t, s.stderr.String(), "reads are open under localhost", "ccm serve says who may read")
	s.stop()

	s = startServe(t, data, "--http", "127.0.0.1:0")
	assert.Equal(t, first, s.token(t), "the token of the first start")
	code, _, body := httpDo(t, http.DefaultClient, "POST", "http://"+s.addr+"/v1/events", first, "", httpTestEvent)
	assert.Equal(t, http.StatusCreated, code, "%s", body)
	s.stop()

	given := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(given, []byte("Zm9yLXRlc3RzLW9ubHktMDEyMzQ1Njc4OWFiY2RlZg==\n"), 0o640))
	data = t.TempDir()
	s = startServe(t, data, "--http", "127.0.0.1:0", "--http-token-file", given)
	code, _, body = httpDo(t, http.DefaultClient, "POST", "http://"+s.addr+"/v1/events", "Zm9yLXRlc3RzLW9ubHktMDEyMzQ1Njc4OWFiY2RlZg==", "", httpTestEvent)
	assert.Equal(t, http.StatusCreated, code, "the token of --http-token-file (group-readable, as a Kubernetes Secret with fsGroup): %s", body)
	assert.Contains(t, s.stderr.String(), given, "ccm serve names the file")
	assert.NoFileExists(t, filepath.Join(data, "auth", "http.token"), "no token made")
}

// TestServeHTTPRefusesExposure: ccm serve refuses, as a usage error and
// before it opens the ledger, to serve the HTTP API beyond loopback
// without TLS, and every inconsistent HTTP flag.
func TestServeHTTPRefusesExposure(t *testing.T) {
	dir := t.TempDir()
	cert, key := natstest.NewCA(t, "http").Issue(t, "ccm-serve", "127.0.0.1")
	loose := filepath.Join(dir, "loose.token")
	require.NoError(t, os.WriteFile(loose, []byte(strings.Repeat("x", 43)), 0o644))
	short := filepath.Join(dir, "short.token")
	require.NoError(t, os.WriteFile(short, []byte("change-me"), 0o600))
	spaced := filepath.Join(dir, "spaced.token")
	require.NoError(t, os.WriteFile(spaced, []byte(strings.Repeat("x", 20)+" "+strings.Repeat("y", 20)), 0o600))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"all IPv4 interfaces", []string{"--http", "0.0.0.0:0"}, "--http-tls-cert FILE and --http-tls-key FILE"},
		{"all IPv6 interfaces", []string{"--http", "[::]:0"}, "is not a loopback address"},
		{"all interfaces, no host", []string{"--http", ":0"}, "is not a loopback address"},
		{"a name", []string{"--http", "ccm.example.org:0"}, "is not a loopback address"},
		{"a public address", []string{"--http", "192.0.2.10:0"}, "is not a loopback address"},
		{"read-only but the token in clear", []string{"--http", "0.0.0.0:0", "--http-read-only"}, "--http-read-only --http-public-reads"},
		{"public reads but writes in clear", []string{"--http", "0.0.0.0:0", "--http-public-reads"}, "in clear"},
		{"a certificate without its key", []string{"--http-tls-cert", cert}, "give both"},
		{"a key without its certificate", []string{"--http-tls-key", key}, "give both"},
		{"a client CA without TLS", []string{"--http-client-ca", cert}, "needs TLS"},
		{"a certificate that is not one", []string{"--http-tls-cert", loose, "--http-tls-key", key}, "--http-tls-cert"},
		{"a client CA that is not one", []string{"--http-tls-cert", cert, "--http-tls-key", key, "--http-client-ca", loose}, "no PEM certificate"},
		{"a host with a port", []string{"--http-host", "ccm.example.org:8443"}, "http-host"},
		{"a host with a scheme", []string{"--http-host", "https://ccm.example.org"}, "http-host"},
		{"no address", []string{"--http", "8080"}, "want HOST:PORT"},
		{"a world-readable token file", []string{"--http-token-file", loose}, "chmod 600"},
		{"a short token", []string{"--http-token-file", short}, "fewer than 32"},
		{"a token with a space", []string{"--http-token-file", spaced}, "may not"},
		{"a missing token file", []string{"--http-token-file", filepath.Join(dir, "none")}, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			code, _, errs := run(t, "", append([]string{"serve", "--data", data, "--listen", "127.0.0.1:-1"}, c.args...)...)
			assert.Equal(t, exitUsage, code, "ccm serve %v: %s", c.args, errs)
			assert.Contains(t, errs, c.want, "the message says what to give")
			assert.NotContains(t, errs, "loaded the bundled record", "refused before the ledger is opened")
		})
	}
}

// TestServeHTTPRefusesAnOpenTokenFile: a token file, or its directory,
// that other users may open is refused at start.
func TestServeHTTPRefusesAnOpenTokenFile(t *testing.T) {
	cases := []struct {
		name        string
		dir, file   os.FileMode
		want        string
		makeFileToo bool
	}{
		{"a directory open to the group", 0o750, 0, "chmod 700", false},
		{"a directory open to all", 0o755, 0, "chmod 700", false},
		{"a world-readable token", 0o700, 0o644, "chmod 600", true},
		{"a world-writable token", 0o700, 0o602, "chmod 600", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			auth := filepath.Join(data, "auth")
			require.NoError(t, os.Mkdir(auth, 0o700))
			if c.makeFileToo {
				f := filepath.Join(auth, "http.token")
				require.NoError(t, os.WriteFile(f, []byte(strings.Repeat("x", 43)), 0o600))
				require.NoError(t, os.Chmod(f, c.file))
			}
			require.NoError(t, os.Chmod(auth, c.dir))
			code, _, errs := run(t, "", "serve", "--data", data, "--listen", "127.0.0.1:-1", "--http", "127.0.0.1:0")
			assert.Equal(t, exitFailure, code, "%s", errs)
			assert.Contains(t, errs, c.want, "the message says what to do")
		})
	}
}

func tlsClient(t *testing.T, caFile string, cert ...string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	cfg := &tls.Config{RootCAs: pool}
	if len(cert) == 2 {
		c, err := tls.LoadX509KeyPair(cert[0], cert[1])
		require.NoError(t, err)
		// Presented whatever CAs the server names, as an intruder would.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
}

// TestServeHTTPTLS: with a certificate, ccm serve answers HTTPS only, TLS
// 1.2 at least, and still wants the token.
func TestServeHTTPTLS(t *testing.T) {
	ca := natstest.NewCA(t, "http")
	cert, key := ca.Issue(t, "ccm-serve", "127.0.0.1", "localhost")
	s := startServe(t, t.TempDir(), "--http", "127.0.0.1:0", "--http-tls-cert", cert, "--http-tls-key", key)
	assert.Contains(t, s.stderr.String(), "HTTP API on https://"+s.addr)
	c := tlsClient(t, ca.CertFile)
	base := "https://" + s.addr

	code, _, body := httpDo(t, c, "GET", base+"/healthz", "", "", "")
	require.Equal(t, http.StatusOK, code, "%s", body)
	code, _, body = httpDo(t, c, "POST", base+"/v1/events", "", "", httpTestEvent)
	assert.Equal(t, http.StatusUnauthorized, code, "TLS is no credential by itself: %s", body)
	code, _, body = httpDo(t, c, "POST", base+"/v1/events", s.token(t), "", httpTestEvent)
	assert.Equal(t, http.StatusCreated, code, "%s", body)
	code, _, body = httpDo(t, c, "POST", base+"/v1/events", s.token(t), "", httpTestEvent)
	assert.Equal(t, http.StatusOK, code, "the same event again: nothing recorded: %s", body)

	code, _, _ = httpDo(t, http.DefaultClient, "GET", "http://"+s.addr+"/healthz", "", "", "")
	assert.Equal(t, http.StatusBadRequest, code, "plain HTTP to the TLS port is refused")
	old := tlsClient(t, ca.CertFile)
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
	_, err := old.Get(base + "/healthz")
	assert.Error(t, err, "TLS 1.1 is refused")
}

// TestServeHTTPMutualTLS: on all interfaces with TLS and a client CA, a
// client certificate the CA signed is a credential, for writes and reads;
// without one (and without the token) both are refused; a certificate of
// another CA fails the handshake.
func TestServeHTTPMutualTLS(t *testing.T) {
	ca := natstest.NewCA(t, "http")
	cert, key := ca.Issue(t, "ccm-serve", "127.0.0.1", "localhost")
	clientCert, clientKey := ca.Issue(t, "auditor")
	other := natstest.NewCA(t, "other")
	otherCert, otherKey := other.Issue(t, "intruder")
	s := startServe(t, t.TempDir(), "--http", "0.0.0.0:0", "--http-tls-cert", cert, "--http-tls-key", key, "--http-client-ca", ca.CertFile)
	assert.Contains(t, s.stderr.String(), "reads need it too", "beyond loopback, reads need a credential")
	base := "https://127.0.0.1:" + s.addr[strings.LastIndex(s.addr, ":")+1:]

	withCert := tlsClient(t, ca.CertFile, clientCert, clientKey)
	code, _, body := httpDo(t, withCert, "POST", base+"/v1/events", "", "", httpTestEvent)
	assert.Equal(t, http.StatusCreated, code, "a write with a client certificate: %s", body)
	code, _, body = httpDo(t, withCert, "GET", base+"/v1/report?as_of=3MSP", "", "", "")
	assert.Equal(t, http.StatusOK, code, "a read with a client certificate: %s", body)

	noCert := tlsClient(t, ca.CertFile)
	code, h, body := httpDo(t, noCert, "POST", base+"/v1/events", "", "", httpTestEvent)
	assert.Equal(t, http.StatusUnauthorized, code, "a write without a certificate: %s", body)
	assert.Equal(t, `Bearer realm="ccm-ledger"`, h.Get("WWW-Authenticate"))
	code, _, body = httpDo(t, noCert, "GET", base+"/v1/report", "", "", "")
	assert.Equal(t, http.StatusUnauthorized, code, "a read without a certificate, beyond loopback: %s", body)
	code, _, body = httpDo(t, noCert, "GET", base+"/healthz", "", "", "")
	assert.Equal(t, http.StatusOK, code, "the health check needs nothing: %s", body)
	code, _, body = httpDo(t, noCert, "POST", base+"/v1/events", s.token(t), "", httpTestEvent)
	assert.Equal(t, http.StatusOK, code, "the token still works without a certificate: %s", body)

	intruder := tlsClient(t, ca.CertFile, otherCert, otherKey)
	req, err := http.NewRequest("POST", base+"/v1/events", strings.NewReader(httpTestEvent))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := intruder.Do(req)
	if err == nil {
		res.Body.Close()
	}
	assert.Error(t, err, "a certificate of another CA fails the handshake")
}

// stubLog is a log that is empty and answers: enough for /healthz.
type stubLog struct{}

func (stubLog) Read(context.Context, jslog.ReadOptions, func(events.Envelope) error) (uint64, error) {
	return 0, nil
}
func (stubLog) Head(context.Context) (jslog.Head, error) { return jslog.Head{}, nil }

// servePlan parses `ccm serve` arguments as ccm serve does, each path
// under a key of mounts moved to the local directory it maps to, and
// returns the HTTP API they configure after its checks.
func servePlan(t *testing.T, args []string, mounts map[string]string) *httpPlan {
	t.Helper()
	require.NotEmpty(t, args)
	require.Equal(t, "serve", args[0])
	var local []string
	for _, a := range args[1:] {
		for in, out := range mounts {
			a = strings.ReplaceAll(a, in, out)
		}
		local = append(local, a)
	}
	m := &Main{Stderr: io.Discard, Getenv: func(string) string { return "" }}
	fs := m.flagSet("serve", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	hf := addHTTPFlags(fs)
	var lf logFlags
	addLogFlags(fs, &lf)
	_, err := parse(fs, local, 0, 0)
	require.NoError(t, err, "ccm serve %v", args)
	require.NoError(t, (&Main{Stderr: io.Discard}).setLogger(lf), "ccm serve %v: the log flags", args)
	p, err := hf.plan(t.TempDir())
	require.NoError(t, err, "ccm serve %v passes its HTTP checks", args)
	require.NotNil(t, p, "an HTTP API")
	// A ledger on a cluster signs its checkpoints with a key it is given,
	// kept forever, not one made in a container's passing file system.
	require.NotEmpty(t, c.checkpointKey, "ccm serve %v: --checkpoint-key", args)
	_, err = notary.LoadKey(c.checkpointKey, evidence.Origin(c.stream))
	require.NoError(t, err, "ccm serve %v: the checkpoint key loads", args)
	return p
}

// newCheckpointKey makes a checkpoint key file, as `ccm checkpoint
// --new-key` does.
func newCheckpointKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checkpoint.key")
	_, err := notary.NewKeyFile(path, evidence.Origin(jslog.DefaultStream))
	require.NoError(t, err)
	return path
}

// probe sends a request without a credential to an API configured as p,
// listening on addr, as a probe or client from another pod would.
func probe(p *httpPlan, addr, path string, header map[string]string) int {
	api := httpapi.New(httpapi.Config{Log: stubLog{}, Access: httpapi.Access{
		Addr: addr, Hosts: p.f.hosts, TLS: p.tls != nil, Token: p.token, ReadOnly: p.f.readOnly, PublicReads: p.f.publicReads,
	}})
	req := httptest.NewRequest("GET", "https://10.0.0.7:8443"+path, nil)
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	api.ServeHTTP(w, req)
	return w.Code
}

// secretFiles writes the files of a Secret, as Kubernetes mounts them.
func secretFiles(t *testing.T, files map[string]string, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	for name, from := range files {
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, mode))
		require.NoError(t, os.Chmod(filepath.Join(dir, name), mode))
	}
	return dir
}

// k8sPort is a container's or a Service's port.
type k8sPort struct {
	Name          string `yaml:"name"`
	Port          int    `yaml:"port"`
	ContainerPort int    `yaml:"containerPort"`
	TargetPort    string `yaml:"targetPort"`
}

// k8sDoc is what TestServeHTTPDeployManifest reads of a Kubernetes object.
type k8sDoc struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Ports    []k8sPort `yaml:"ports"` // a Service's
		Template struct {
			Spec struct {
				SecurityContext struct {
					FSGroup int `yaml:"fsGroup"`
				} `yaml:"securityContext"`
				Containers []struct {
					Args           []string  `yaml:"args"`
					Ports          []k8sPort `yaml:"ports"`
					ReadinessProbe struct {
						HTTPGet *struct {
							Path        string `yaml:"path"`
							Port        string `yaml:"port"`
							Scheme      string `yaml:"scheme"`
							HTTPHeaders []struct {
								Name  string `yaml:"name"`
								Value string `yaml:"value"`
							} `yaml:"httpHeaders"`
						} `yaml:"httpGet"`
					} `yaml:"readinessProbe"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName  string `yaml:"secretName"`
						DefaultMode int    `yaml:"defaultMode"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestServeHTTPDeployManifest reads deploy/k8s/ccm-serve.yaml, which
// cannot run here, and checks it against ccm serve itself: its arguments
// pass the flag parser and the HTTP checks with the Secrets' files at the
// mounted paths; the API serves TLS beyond loopback with the token of a
// Secret; the readiness probe is an HTTPS GET of /healthz that passes the
// Host check without a credential.
func TestServeHTTPDeployManifest(t *testing.T) {
	ca := natstest.NewCA(t, "k8s")
	cert, key := ca.Issue(t, "ccm-serve", "ccm-serve.ccm.svc")
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("Zm9yLXRlc3RzLW9ubHktMDEyMzQ1Njc4OWFiY2RlZg=="), 0o600))
	secrets := map[string]map[string]string{
		"ccm-serve-tls":        {"tls.crt": cert, "tls.key": key, "ca.crt": ca.CertFile},
		"ccm-serve-http":       {"token": token},
		"ccm-serve-checkpoint": {"checkpoint.key": newCheckpointKey(t)},
	}

	f, err := os.Open(filepath.Join("..", "..", "deploy", "k8s", "ccm-serve.yaml"))
	require.NoError(t, err)
	defer f.Close()
	docs := map[string]k8sDoc{}
	for dec := yaml.NewDecoder(f); ; {
		var d k8sDoc
		err := dec.Decode(&d)
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "ccm-serve.yaml is YAML")
		docs[d.Kind] = d
	}
	dep, svc := docs["Deployment"].Spec.Template.Spec, docs["Service"].Spec
	require.Len(t, dep.Containers, 1)
	ctr := dep.Containers[0]

	mounts := map[string]string{}
	for _, v := range dep.Volumes {
		require.NotNil(t, v.Secret, "volume %s is a Secret", v.Name)
		files, ok := secrets[v.Secret.SecretName]
		require.True(t, ok, "Secret %s is one this test knows", v.Secret.SecretName)
		mode := os.FileMode(v.Secret.DefaultMode)
		assert.Zero(t, mode&0o007, "Secret %s: defaultMode %04o gives other users nothing", v.Secret.SecretName, mode)
		for _, vm := range ctr.VolumeMounts {
			if vm.Name == v.Name {
				assert.True(t, vm.ReadOnly, "%s is mounted read-only", vm.MountPath)
				mounts[vm.MountPath] = secretFiles(t, files, mode)
			}
		}
	}
	assert.Positive(t, dep.SecurityContext.FSGroup, "an fsGroup, so that ccm serve may read the Secrets' group-readable files")
	p := servePlan(t, ctr.Args, mounts)
	assert.False(t, p.loopback, "the API listens beyond loopback")
	require.NotNil(t, p.tls, "so it serves TLS")
	assert.NotEmpty(t, p.f.tokenFile, "with the token of a Secret, made nowhere")
	_, listenPort, _ := strings.Cut(p.f.addr, ":")

	pr := ctr.ReadinessProbe.HTTPGet
	require.NotNil(t, pr, "an httpGet readiness probe")
	assert.Equal(t, "/healthz", pr.Path)
	assert.Equal(t, "HTTPS", pr.Scheme)
	require.Len(t, ctr.Ports, 1)
	assert.Equal(t, pr.Port, ctr.Ports[0].Name, "the probe's port is the container's")
	assert.Equal(t, listenPort, fmt.Sprint(ctr.Ports[0].ContainerPort), "the container's port is --http's")
	require.Len(t, svc.Ports, 1)
	assert.Equal(t, ctr.Ports[0].Name, svc.Ports[0].TargetPort, "the Service targets it")
	assert.Equal(t, ctr.Ports[0].ContainerPort, svc.Ports[0].Port, "on the same port, which browsers' origins name")
	headers := map[string]string{}
	for _, h := range pr.HTTPHeaders {
		headers[h.Name] = h.Value
	}
	assert.Equal(t, http.StatusOK, probe(p, p.f.addr, pr.Path, headers), "the probe passes, with its Host and no credential")
	assert.Equal(t, http.StatusMisdirectedRequest, probe(p, p.f.addr, pr.Path, nil), "without its Host header it would not")
	assert.Equal(t, http.StatusUnauthorized, probe(p, p.f.addr, "/v1/report", headers), "reads need the token")
}

// TestServeHTTPDeployCompose does the same for deploy/compose/compose.yaml:
// ccm serve's command passes its checks with the secrets' files at
// /run/secrets, it publishes on the host's loopback only, and the files
// are kept out of git.
func TestServeHTTPDeployCompose(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "compose")
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	require.NoError(t, err)
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			User    string   `yaml:"user"`
			Ports   []string `yaml:"ports"`
			Secrets []string `yaml:"secrets"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	require.NoError(t, yaml.Unmarshal(b, &compose), "compose.yaml is YAML")
	serve, ok := compose.Services["ccm-serve"]
	require.True(t, ok, "a ccm-serve service")

	ca := natstest.NewCA(t, "compose")
	cert, key := ca.Issue(t, "ccm-serve", "localhost", "127.0.0.1")
	local := map[string]string{"cert.pem": cert, "key.pem": key, "checkpoint.key": newCheckpointKey(t)}
	run := t.TempDir()
	for _, name := range serve.Secrets {
		s, ok := compose.Secrets[name]
		require.True(t, ok, "secret %s is declared", name)
		rel, found := strings.CutPrefix(s.File, "http/")
		require.True(t, found, "secret %s is a file of http/, which git ignores", name)
		to := filepath.Join(run, name)
		if from, ok := local[rel]; ok {
			b, err := os.ReadFile(from)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(to, b, 0o600))
		} else {
			require.Equal(t, "token", rel, "secret %s: cert.pem, key.pem, checkpoint.key or token", name)
			require.NoError(t, os.WriteFile(to, []byte("Zm9yLXRlc3RzLW9ubHktMDEyMzQ1Njc4OWFiY2RlZg==\n"), 0o600))
		}
	}
	p := servePlan(t, serve.Command, map[string]string{"/run/secrets/": run + "/"})
	require.NotNil(t, p.tls, "TLS")
	assert.NotEmpty(t, p.f.tokenFile, "the token of a file")
	assert.NotEmpty(t, serve.User, "runs as the owner of the files")
	for _, pt := range serve.Ports {
		assert.True(t, strings.HasPrefix(pt, "127.0.0.1:"), "published on the host's loopback only: %s", pt)
	}
	ignore, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	require.NoError(t, err)
	assert.Contains(t, strings.Fields(string(ignore)), "/http/")
}
