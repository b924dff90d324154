package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// backend is an open ledger: the connection, the log, the decision side
// (Ledger) and the query side (Engine).
type backend struct {
	m     *Main
	srv   *embedded.Server // nil when connected to a remote server
	creds *embedded.Credentials
	role  string // who the connection works as
	// dataDir is the store of the embedded server, or "".
	dataDir string
	unlock  func()
	nc      *nats.Conn
	log     *jslog.Log
	ledger  *aggregates.Ledger
	snaps   *jslog.SnapshotStore
	where   string
	// The log's evidence: the store, the signing key when the process is
	// the ledger, the public key checks use ("" when unknown), and what
	// the check at open found.
	store  *notary.Store
	key    *notary.Key
	public string
	check  *notary.Result
	// live, in `ccm serve`, is the fold in memory its queries answer from.
	live *projections.Live
}

// openOptions adjust how a command opens the ledger.
type openOptions struct {
	// listen is the client address of an embedded server ("" = none).
	listen string
	// serving marks `ccm serve`: the embedded store defaults to the
	// per-user data directory.
	serving bool
	// role is who the command works as on a server it connects to
	// (deploy/jetstream/roles); default the auditor, who only reads. On a
	// data directory the process is the ledger itself.
	role string
	// connOnly connects and opens nothing: for a command that reads only
	// the views (`ccm watch` without --raw), as a user who may not look at
	// the log (the service role). The backend's log, ledger and snapshots
	// are then nil.
	connOnly bool
	// noCheck skips the check of the log against its checkpoints (verify
	// makes its own); an unfit stream still fails.
	noCheck bool
}

// open connects to the ledger the flags name. On a data directory (or for
// `ccm serve` without --nats-url) it starts the embedded server with the
// directory's credentials, creates the streams and buckets as the operator,
// works as the ledger, and loads the bundled record into a new, empty
// ledger unless --no-record. On a server it works as o.role and creates
// nothing.
func (m *Main) open(ctx context.Context, c connFlags, o openOptions) (*backend, error) {
	b := &backend{m: m, role: o.role}
	if b.role == "" {
		b.role = roles.Auditor
	}
	embed := c.dataSet || (o.serving && !c.urlSet)
	var err error
	if embed {
		err = b.startEmbedded(ctx, m, c, o)
	} else {
		err = b.dial(ctx, m, c)
	}
	if err != nil {
		b.close()
		return nil, err
	}
	if o.connOnly {
		return b, nil
	}
	b.log, err = jslog.Open(ctx, b.nc, jslog.Config{Stream: c.stream, Replicas: c.replicas, Inspect: true})
	if err != nil {
		b.close()
		return nil, err
	}
	dataDir := ""
	if embed {
		dataDir = b.dataDir
	}
	if err := b.openEvidence(ctx, c, dataDir, o); err != nil {
		b.close()
		return nil, err
	}
	b.ledger = aggregates.NewLedger(b.log, m.Now)
	b.snaps, err = jslog.OpenSnapshots(ctx, b.log)
	if err != nil {
		b.close()
		return nil, err
	}
	if embed && !c.noRecord && b.writable() == nil {
		if err := b.loadBundledIfEmpty(ctx); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

// startEmbedded starts the embedded server on the data directory, closed to
// anyone without its credentials, and connects as the ledger.
func (b *backend) startEmbedded(ctx context.Context, m *Main, c connFlags, o openOptions) error {
	dir := c.data
	if dir == "" {
		dir = m.defaultDataDir()
	}
	b.dataDir = dir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	b.unlock = unlock
	creds, err := embedded.EnsureCredentials(filepath.Join(dir, embedded.AuthDir))
	if err != nil {
		return err
	}
	eo := embedded.Options{StoreDir: dir, DontListen: true, Credentials: creds, SyncAlways: c.syncAlways}
	if o.listen != "" {
		host, port, err := splitHostPort(o.listen)
		if err != nil {
			return usagef("--listen %q: %v", o.listen, err)
		}
		if !isLoopback(host) {
			return usagef("--listen %q: the embedded server listens on loopback only (its connections are not encrypted); run a NATS cluster with TLS for a network (deploy/README.md)", o.listen)
		}
		if err := portFree(host, port); err != nil {
			return err
		}
		eo.DontListen, eo.Host, eo.Port = false, host, port
	}
	if b.srv, err = embedded.Start(eo); err != nil {
		return err
	}
	b.creds = creds
	// The operator's part first: the streams and buckets.
	op, err := b.srv.ConnectAs(roles.Operator, false)
	if err != nil {
		return fmt.Errorf("connect to the embedded server as the operator: %w", err)
	}
	_, err = infra.Ensure(ctx, op, jslog.Config{Stream: c.stream, Replicas: c.replicas, Duplicates: m.duplicates}, projector.Config{})
	op.Close()
	if err != nil {
		return err
	}
	if b.nc, err = b.srv.ConnectAs(roles.Ledger, false); err != nil {
		return fmt.Errorf("connect to the embedded server as the ledger: %w", err)
	}
	b.role = roles.Ledger
	b.where = "data directory " + dir
	return nil
}

// dial connects to a server as the flags say; given no credentials, to a
// server on loopback, with those of the local ccm serve for b.role.
func (b *backend) dial(ctx context.Context, m *Main, c connFlags) error {
	o := jslog.ConnectOptions{
		URL: c.url, Name: "ccm " + b.role, User: c.user, Password: c.password, Token: c.token,
		NKeySeedFile: c.nkey, CredsFile: c.creds, TLSCAFile: c.tlsCA, TLSCertFile: c.tlsCert, TLSKeyFile: c.tlsKey,
		InboxPrefix: c.inboxPrefix,
	}
	if o.User == "" && o.Token == "" && o.NKeySeedFile == "" && o.CredsFile == "" && loopbackURL(c.url) {
		dir := c.authDir
		if dir == "" {
			dir = filepath.Join(m.defaultDataDir(), embedded.AuthDir)
		}
		if creds, err := embedded.OpenCredentials(dir); err == nil {
			o.NKeySeedFile = creds.SeedFile(b.role)
			if r, ok := roles.ByName(b.role); ok && r.Inbox != "" && o.InboxPrefix == "" {
				o.InboxPrefix = r.Inbox
			}
		} else if errors.Is(err, embedded.ErrLooseCredentials) {
			return err
		}
	}
	nc, err := jslog.Dial(ctx, o)
	if err != nil {
		return fmt.Errorf("cannot reach the ledger at %s (start `ccm serve`, or work on a data directory with --data DIR): %w", c.url, err)
	}
	b.nc, b.where = nc, c.url
	return nil
}

// loadBundledIfEmpty records the bundled record into a new, empty ledger.
func (b *backend) loadBundledIfEmpty(ctx context.Context) error {
	head, err := b.log.Head(ctx)
	if err != nil || head.Msgs > 0 {
		return err
	}
	res, err := b.importBundled(ctx)
	if err != nil {
		return fmt.Errorf("load the bundled record into the new ledger: %w", err)
	}
	fmt.Fprintf(b.m.Stderr, "ccm: new ledger (%s): loaded the bundled record, %d events\n", b.where, res.Appended)
	_, err = b.signHead(ctx)
	return err
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// loopbackURL reports whether every server of a URL list is on loopback.
func loopbackURL(urls string) bool {
	for _, u := range strings.Split(urls, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || !isLoopback(pu.Hostname()) {
			return false
		}
	}
	return true
}

func (b *backend) close() {
	if b.nc != nil {
		b.nc.Drain()
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Stop()
	}
	if b.unlock != nil {
		b.unlock()
	}
}

// engine returns the query side over the log, with snapshots.
func (b *backend) engine(opt projections.Options) *projections.Engine {
	return projections.NewEngine(logsource.New(b.log), b.snaps, opt)
}

// queries returns the query side of a server: from the live fold when it
// runs, else as engine.
func (b *backend) queries(opt projections.Options) *projections.Engine {
	if b.live == nil {
		return b.engine(opt)
	}
	return projections.NewEngine(logsource.New(b.log), b.snaps, opt, projections.WithLive(b.live))
}

// startLive reads the log into a live fold and keeps it following the log
// until stop; it returns once the fold has read the log.
func (b *backend) startLive(ctx context.Context, opts ...projections.LiveOption) (stop func(), err error) {
	l := projections.NewLive(logsource.New(b.log), opts...)
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(lctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	if err := l.Sync(ctx); err != nil {
		stop()
		return nil, fmt.Errorf("read the log into memory: %w", err)
	}
	b.live = l
	return stop, nil
}

// importBundled records the bundled record (idempotently).
func (b *backend) importBundled(ctx context.Context) (aggregates.ImportResult, error) {
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	if err != nil {
		return aggregates.ImportResult{}, fmt.Errorf("the bundled record is invalid: %w", err)
	}
	return b.ledger.Import(ctx, evs, nil)
}

// portFree tells at once that the embedded server's port is taken, which
// the server would only show by never becoming ready; port 0 or -1 (any
// free port) always is.
func portFree(host string, port int) error {
	if port <= 0 {
		return nil
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("embedded server: cannot listen on %s (NATS port %d): %w; is another ccm serve or NATS server running? Choose another port with --listen", addr, port, err)
	}
	return ln.Close()
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, errors.New("want HOST:PORT")
	}
	var port int
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil || port < -1 || port > 65535 {
		return "", 0, errors.New("bad port")
	}
	host := addr[:i]
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// absPath is for messages.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
