package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/web"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// tokenFileName is the bearer token of the HTTP API in the data directory.
var tokenFileName = filepath.Join("auth", "http.token")

// checkModes says whether file modes say who may read: not on Windows,
// where access is by ACL and modes are always 0666 or 0777.
var checkModes = runtime.GOOS != "windows"

// minTokenLen bounds a token given with --http-token-file from below: 32
// characters of base64 carry about 190 bits.
const minTokenLen = 32

// httpFlags are the flags of the HTTP API of `ccm serve`.
type httpFlags struct {
	addr                      string
	hosts                     hostsFlag
	tlsCert, tlsKey, clientCA string
	tokenFile                 string
	readOnly, publicReads     bool
}

// hostsFlag is the repeatable --http-host, each name in canonical form.
type hostsFlag []string

func (h *hostsFlag) String() string { return strings.Join(*h, ",") }

func (h *hostsFlag) Set(v string) error {
	n, err := httpapi.HostName(v)
	if err != nil {
		return err
	}
	*h = append(*h, n)
	return nil
}

func addHTTPFlags(fs *flag.FlagSet) *httpFlags {
	f := &httpFlags{}
	fs.StringVar(&f.addr, "http", "127.0.0.1:8080", `address of the HTTP API ("off": none); beyond loopback it needs --http-tls-cert and --http-tls-key`)
	fs.Var(&f.hosts, "http-host", "a Host name the HTTP API answers besides localhost, 127.0.0.1, [::1] and the --http address (repeatable)")
	fs.StringVar(&f.tlsCert, "http-tls-cert", "", "certificate file (PEM, with its chain): serve the HTTP API over TLS 1.2 or later")
	fs.StringVar(&f.tlsKey, "http-tls-key", "", "key file (PEM) of --http-tls-cert")
	fs.StringVar(&f.clientCA, "http-client-ca", "", "CA certificates file (PEM): a client certificate one of them signs is a credential (mutual TLS)")
	fs.StringVar(&f.tokenFile, "http-token-file", "", "file holding the HTTP API's bearer token (default: made at first start in <data dir>/auth/http.token)")
	fs.BoolVar(&f.readOnly, "http-read-only", false, "refuse every write through the HTTP API")
	fs.BoolVar(&f.publicReads, "http-public-reads", false, "let reads through the HTTP API without a credential beyond loopback too")
	return f
}

// httpPlan is the HTTP API the flags ask for, checked before the ledger
// is opened.
type httpPlan struct {
	f                *httpFlags
	loopback         bool
	tls              *tls.Config // nil: plain HTTP
	token, tokenPath string
}

// plan checks the HTTP flags, loads the TLS files and reads (or makes, in
// dataDir) the token; nil means --http off. Beyond loopback it refuses (a
// usage error) to serve without TLS, where the token and the events would
// cross the network in clear, unless nothing needs a credential:
// --http-read-only --http-public-reads.
func (f *httpFlags) plan(dataDir string) (*httpPlan, error) {
	if f.addr == "" || f.addr == "off" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return nil, usagef("--http %q: want HOST:PORT, or off", f.addr)
	}
	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return nil, usagef("--http-tls-cert and --http-tls-key: give both, or neither")
	case f.clientCA != "" && f.tlsCert == "":
		return nil, usagef("--http-client-ca needs TLS: give --http-tls-cert and --http-tls-key too")
	}
	p := &httpPlan{f: f, loopback: loopbackHost(host)}
	if !p.loopback && f.tlsCert == "" && !(f.readOnly && f.publicReads) {
		return nil, usagef("--http %s is not a loopback address, and without TLS the token and the events would cross the network in clear: "+
			"give --http-tls-cert FILE and --http-tls-key FILE (and --http-host NAME for each name clients use), "+
			"or listen on loopback (--http 127.0.0.1:8080) behind a TLS proxy, "+
			"or serve an open read-only copy with --http-read-only --http-public-reads", f.addr)
	}
	if f.tlsCert != "" {
		if p.tls, err = serverTLS(f.tlsCert, f.tlsKey, f.clientCA); err != nil {
			return nil, err
		}
	}
	if p.token, p.tokenPath, err = httpToken(f, dataDir); err != nil {
		return nil, err
	}
	return p, nil
}

// loopbackHost reports whether a --http host is on loopback for certain:
// a loopback IP address or "localhost". Any other name is taken as
// public, whatever it resolves to now.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverTLS is the TLS configuration of the HTTP API: TLS 1.2 at least,
// and, with a client CA, a verified client certificate as a credential.
// Clients without a certificate may still connect and use the token.
func serverTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, usagef("--http-tls-cert %s, --http-tls-key %s: %v", certFile, keyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usagef("--http-client-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--http-client-ca %s: no PEM certificate in it", caFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// httpToken returns the bearer token and the file it is in: the file of
// --http-token-file (a usage error when unfit), or the data directory's,
// made at first start.
func httpToken(f *httpFlags, dataDir string) (token, path string, err error) {
	if f.tokenFile != "" {
		token, err = readToken(f.tokenFile)
		if err != nil {
			return "", "", usagef("--http-token-file: %v", err)
		}
		return token, f.tokenFile, nil
	}
	path = filepath.Join(dataDir, tokenFileName)
	token, err = makeToken(path)
	return token, path, err
}

// makeToken returns the token in path, first making it if there is none:
// 32 random bytes, URL-safe base64, in a file of mode 0600 in a directory
// of mode 0700. A directory open to other users is refused.
func makeToken(path string) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("token directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	switch {
	case err != nil:
		return "", fmt.Errorf("token directory: %w", err)
	case !fi.IsDir():
		return "", fmt.Errorf("token directory %s: not a directory", dir)
	case checkModes && fi.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("token directory %s: mode %04o lets other users in; refusing to keep the HTTP API's token there: chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if err := writeNewToken(path); err != nil {
			return "", err
		}
	}
	return readToken(path)
}

// writeNewToken writes a new token to path unless a file is there already
// (made meanwhile by another server): written aside, then linked, so that
// nobody reads a half-written token.
func writeNewToken(path string) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".http.token-*")
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.RawURLEncoding.EncodeToString(b) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("token: %w", err)
	}
	return nil
}

// readToken reads a token file: a regular file nobody but its owner may
// change and that other users may not read (group read is allowed, as
// Kubernetes gives a Secret's files with fsGroup), holding one bearer
// token of at least minTokenLen characters.
func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	switch mode := fi.Mode(); {
	case !mode.IsRegular():
		return "", fmt.Errorf("%s: not a regular file", path)
	case checkModes && mode.Perm()&0o026 != 0:
		return "", fmt.Errorf("%s: mode %04o lets other users read or change the HTTP API's token; refusing it: chmod 600 %s", path, mode.Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(b))
	if len(token) < minTokenLen {
		return "", fmt.Errorf("%s: the token has %d characters, fewer than %d: make one with `head -c 32 /dev/urandom | base64`", path, len(token), minTokenLen)
	}
	for _, c := range token {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/=", c)) {
			return "", fmt.Errorf("%s: the token holds a character a bearer token may not (letters, digits and -._~+/= only)", path)
		}
	}
	return token, nil
}

// serveDataDir is the data directory of `ccm serve`: --data, or the
// per-user default (backend.open chooses the same).
func (m *Main) serveDataDir(c connFlags) string {
	if c.data != "" {
		return c.data
	}
	return m.defaultDataDir()
}

// httpService is the HTTP API of a running `ccm serve`. With --http off
// srv is nil and errc never receives.
type httpService struct {
	srv   *http.Server
	errc  chan error
	bound string // the address listened on
	url   string
}

// startHTTP starts the HTTP API the plan describes (none when nil) on the
// open ledger, and says on stderr where its token is, never the token.
func (m *Main) startHTTP(p *httpPlan, b *backend, w *writer, n *notary.Notary, proj *projector.Projector) (*httpService, error) {
	hs := &httpService{errc: make(chan error, 1)}
	if p == nil {
		return hs, nil
	}
	cfg := httpapi.Config{
		Recorder: w.guarded,
		Evidence: servedEvidence{n: n, store: b.store, ledger: w.ledger},
		Querier:  func(o projections.Options) httpapi.Querier { return b.queries(o) },
		Log:      b.log,
		Store:    w.store,
		Now:      m.Now,
		Logger:   slog.NewLogLogger(m.logger().With("component", "http").Handler(), slog.LevelError),
	}
	if proj != nil {
		cfg.Projector = proj.Stats
	}
	if b.live != nil {
		cfg.ViewsSeq = b.live.Seq
	}
	cfg.Quarantined = func() int {
		if proj != nil {
			return proj.Stats().Quarantined
		}
		return len(w.ledger.Quarantined())
	}
	ln, err := net.Listen("tcp", p.f.addr)
	if err != nil {
		return nil, usagef("--http %q: %v", p.f.addr, err)
	}
	hs.bound = ln.Addr().String()
	if ip := ln.Addr().(*net.TCPAddr).IP; p.loopback && !ip.IsLoopback() {
		ln.Close()
		return nil, usagef("--http %q: bound to %s, which is not a loopback address", p.f.addr, hs.bound)
	}
	cfg.Access = httpapi.Access{
		Addr: hs.bound, Hosts: p.f.hosts, TLS: p.tls != nil, Token: p.token,
		ReadOnly: p.f.readOnly, PublicReads: p.f.publicReads,
	}
	// The web view answers under the same Access as the API, from the
	// same query side; /v1/, /healthz and /metrics stay the API's.
	pages := web.New(web.Config{
		Querier:  func(o projections.Options) web.Querier { return b.queries(o) },
		ViewsSeq: cfg.ViewsSeq, Access: cfg.Access, Now: m.Now, Logger: cfg.Logger,
	})
	hs.srv = &http.Server{
		Handler:           web.Mount(httpapi.New(cfg), pages),
		TLSConfig:         p.tls,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.logger().With("component", "http-server").Handler(), slog.LevelWarn),
	}
	// Live pages hold a stream open: ended at shutdown, not waited for.
	hs.srv.RegisterOnShutdown(pages.Close)
	hs.url = "http://" + hs.bound
	if p.tls != nil {
		hs.url = "https://" + hs.bound
		go func() { hs.errc <- hs.srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { hs.errc <- hs.srv.Serve(ln) }()
	}
	fmt.Fprintf(m.Stderr, "ccm: HTTP API: %s\n", p.describe())
	return hs, nil
}

// describe says who may do what, naming the token's file.
func (p *httpPlan) describe() string {
	cred := "the bearer token in " + absPath(p.tokenPath)
	if p.f.clientCA != "" {
		cred += " or a client certificate of " + p.f.clientCA
	}
	writes := "writes need " + cred
	if p.f.readOnly {
		writes = "read-only (every write is refused)"
	}
	switch {
	case p.f.publicReads:
		return writes + "; reads are open"
	case p.loopback:
		return writes + "; reads are open under localhost, 127.0.0.1 and [::1]"
	case p.f.readOnly:
		return writes + "; reads need " + cred
	}
	return writes + "; reads need it too"
}
