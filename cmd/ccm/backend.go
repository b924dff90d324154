package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/logsource"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// backend is an open ledger: the connection, the log, the decision side
// (Ledger) and the query side (Engine).
type backend struct {
	m      *Main
	srv    *embedded.Server // nil when connected to a remote server
	unlock func()
	nc     *nats.Conn
	log    *jslog.Log
	ledger *aggregates.Ledger
	snaps  *jslog.SnapshotStore
	where  string
}

// openOptions adjust how a command opens the ledger.
type openOptions struct {
	// listen is the client address of an embedded server ("" = none).
	listen string
	// serving marks `ccm serve`: the embedded store defaults to the
	// per-user data directory.
	serving bool
	// connOnly connects and opens nothing: for a command that reads only
	// the views (`ccm watch` without --raw), as a user who may not look at
	// the log (the service role). The backend's log, ledger and snapshots
	// are then nil.
	connOnly bool
}

// open connects to the ledger the flags name, creating the stream if needed,
// and loads the bundled record into a new, empty ledger unless --no-record.
func (m *Main) open(ctx context.Context, c connFlags, o openOptions) (*backend, error) {
	b := &backend{m: m}
	embed := c.dataSet || (o.serving && !c.urlSet)
	var err error
	if embed {
		dir := c.data
		if dir == "" {
			dir = m.defaultDataDir()
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		unlock, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		b.unlock = unlock
		eo := embedded.Options{StoreDir: dir, DontListen: true}
		if o.listen != "" {
			host, port, err := splitHostPort(o.listen)
			if err != nil {
				b.close()
				return nil, usagef("--listen %q: %v", o.listen, err)
			}
			eo.DontListen, eo.Host, eo.Port = false, host, port
		}
		b.srv, err = embedded.Start(eo)
		if err != nil {
			b.close()
			return nil, err
		}
		b.nc, err = b.srv.Connect("ccm", false)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("connect to the embedded server: %w", err)
		}
		b.where = "data directory " + dir
	} else {
		b.nc, err = jslog.Dial(ctx, jslog.ConnectOptions{
			URL: c.url, Name: "ccm", User: c.user, Password: c.password, Token: c.token,
			NKeySeedFile: c.nkey, CredsFile: c.creds, TLSCAFile: c.tlsCA, TLSCertFile: c.tlsCert, TLSKeyFile: c.tlsKey,
			InboxPrefix: c.inboxPrefix,
		})
		if err != nil {
			return nil, fmt.Errorf("cannot reach the ledger at %s (start `ccm serve`, or work on a data directory with --data DIR): %w", c.url, err)
		}
		b.where = c.url
	}
	if o.connOnly {
		return b, nil
	}
	b.log, err = jslog.Open(ctx, b.nc, jslog.Config{Stream: c.stream, Replicas: c.replicas})
	if err != nil {
		b.close()
		return nil, err
	}
	b.ledger = aggregates.NewLedger(b.log, m.Now)
	b.snaps, err = jslog.OpenSnapshots(ctx, b.log)
	if err != nil {
		b.close()
		return nil, err
	}
	if !c.noRecord {
		head, err := b.log.Head(ctx)
		if err != nil {
			b.close()
			return nil, err
		}
		if head.Msgs == 0 {
			res, err := b.importBundled(ctx)
			if err != nil {
				b.close()
				return nil, fmt.Errorf("load the bundled record into the new ledger: %w", err)
			}
			fmt.Fprintf(m.Stderr, "ccm: new ledger (%s): loaded the bundled record, %d events\n", b.where, res.Appended)
		}
	}
	return b, nil
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

// importBundled records the bundled record (idempotently).
func (b *backend) importBundled(ctx context.Context) (aggregates.ImportResult, error) {
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	if err != nil {
		return aggregates.ImportResult{}, fmt.Errorf("the bundled record is invalid: %w", err)
	}
	return b.ledger.Import(ctx, evs, nil)
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
