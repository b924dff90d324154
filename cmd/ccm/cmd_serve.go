package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// serve runs the ledger until interrupted: an embedded NATS JetStream server
// on a per-user data directory (or --data), or a connection to --nats-url; the
// bundled record loaded into a new ledger; meeting snapshots kept current;
// the projector publishing derived compliance events; the HTTP API. On
// SIGINT or SIGTERM it stops accepting requests, lets those in flight
// finish, stops the projector, drains the connection and stops the
// embedded server.
func (m *Main) serve(ctx context.Context, args []string) error {
	fs := m.flagSet("serve", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	listen := fs.String("listen", "127.0.0.1:4222", "client address of the embedded NATS server (loopback by default)")
	every := fs.Duration("snapshot-every", 10*time.Second, "how often to bring meeting snapshots up to date")
	httpAddr := fs.String("http", "127.0.0.1:8080", `address of the HTTP API ("off": none)`)
	runProjector := fs.Bool("projector", true, "run the projector that publishes derived compliance events to ccm.compliance.<ISO3>.<kind>")
	leadFlag := fs.String("lead", "180d", "how long before a deadline deadline-approaching is published (days: 180d)")
	tick := fs.Duration("projector-tick", time.Minute, "how often the projector reads the clock for dates that passed")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	lead, err := parseLead(*leadFlag)
	if err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	b, err := m.open(ctx, c, openOptions{listen: *listen, serving: true})
	if err != nil {
		return err
	}
	defer b.close()
	natsURL := c.url
	if b.srv != nil {
		natsURL = b.srv.ClientURL()
	}
	eng := b.engine(defaultOptions())
	if _, err := eng.RefreshSnapshots(ctx); err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}

	// The projector runs until serve stops (stopProjector), not until
	// the signal: in-flight requests finish first.
	var proj *projector.Projector
	projDone := make(chan struct{})
	pctx, stopProjector := context.WithCancel(context.Background())
	defer func() {
		stopProjector()
		<-projDone
	}()
	if *runProjector {
		proj, err = projector.Open(ctx, b.log, projector.Config{
			Replicas: c.replicas, Lead: lead, Now: m.Now, Tick: *tick,
			Logf: func(format string, args ...any) { fmt.Fprintf(m.Stderr, "ccm: "+format+"\n", args...) },
		})
		if err != nil {
			close(projDone)
			return fmt.Errorf("projector: %w", err)
		}
		go func() {
			defer close(projDone)
			_ = proj.Run(pctx)
		}()
	} else {
		close(projDone)
	}

	var (
		srv     *http.Server
		httpErr = make(chan error, 1)
		bound   string
	)
	if *httpAddr != "" && *httpAddr != "off" {
		store := httpapi.CountStore(b.log)
		recorder := aggregates.NewLedger(store, m.Now)
		// Read the log once now, so that the first requests decide on what
		// is recorded rather than learning it from a conflict.
		if _, err := recorder.Sync(ctx); err != nil {
			return err
		}
		cfg := httpapi.Config{
			Recorder: recorder,
			Querier:  func(o projections.Options) httpapi.Querier { return b.engine(o) },
			Log:      b.log,
			Store:    store,
			Now:      m.Now,
			Logger:   log.New(m.Stderr, "ccm: ", 0),
		}
		if proj != nil {
			cfg.Projector = proj.Stats
		}
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return usagef("--http %q: %v", *httpAddr, err)
		}
		bound = ln.Addr().String()
		srv = &http.Server{
			Handler:           httpapi.New(cfg),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			WriteTimeout:      2 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          log.New(m.Stderr, "ccm: http: ", 0),
		}
		go func() { httpErr <- srv.Serve(ln) }()
	}
	fmt.Fprintf(m.Stderr, "ccm: serving the ledger (%s) on %s", b.where, natsURL)
	if bound != "" {
		fmt.Fprintf(m.Stderr, ", HTTP API on http://%s", bound)
	}
	if proj != nil {
		fmt.Fprintf(m.Stderr, ", projector publishing to %s>", compliance.SubjectPrefix)
	}
	fmt.Fprintln(m.Stderr)
	if m.ServeReady != nil {
		m.ServeReady(natsURL, bound)
	}

	snaps := time.NewTicker(*every)
	defer snaps.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(m.Stderr, "ccm: shutting down")
			if srv != nil {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := srv.Shutdown(sctx)
				cancel()
				if err != nil {
					fmt.Fprintf(m.Stderr, "ccm: http: %v\n", err)
				}
			}
			return nil
		case err := <-httpErr:
			if !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		case <-snaps.C:
			if _, err := eng.RefreshSnapshots(ctx); err != nil && ctx.Err() == nil {
				fmt.Fprintf(m.Stderr, "ccm: snapshots: %v\n", err)
			}
		}
	}
}

// parseLead reads --lead: a number of days ("180d" or "180"), or a
// duration in whole days ("4320h").
func parseLead(s string) (int, error) {
	v := strings.TrimSpace(s)
	n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
	if err != nil {
		d, derr := time.ParseDuration(v)
		if derr != nil || d%(24*time.Hour) != 0 {
			return 0, usagef("--lead %q: a number of days, such as 180d", s)
		}
		n = int(d / (24 * time.Hour))
	}
	if n < 1 || n > 3650 {
		return 0, usagef("--lead %q: between 1 and 3650 days", s)
	}
	return n, nil
}
