package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	"github.com/ccm-ledger/ccm-ledger/events"
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
	hf := addHTTPFlags(fs)
	runProjector := fs.Bool("projector", true, "run the projector that publishes derived compliance events to ccm.compliance.<ISO3>.<kind>")
	leadFlag := fs.String("lead", "180d", "how long before a deadline deadline-approaching is published (days: 180d)")
	tick := fs.Duration("projector-tick", time.Minute, "how often the projector reads the clock for dates that passed")
	partTimeout := fs.Duration("import-part-timeout", time.Minute, "how long an import sent to the ledger may pause between two parts before it is dropped whole")
	cpEvery := fs.Uint64("checkpoint-every", 1000, "sign a checkpoint once this many messages were stored since the last")
	cpInterval := fs.Duration("checkpoint-interval", 10*time.Minute, "sign a checkpoint this long after the last when messages were stored since")
	var lf logFlags
	addLogFlags(fs, &lf)
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := m.setLogger(lf); err != nil {
		return err
	}
	log := m.logger()
	lead, err := parseLead(*leadFlag)
	if err != nil {
		return err
	}
	m.fromEnv(fs, &c)
	httpPlan, err := hf.plan(m.serveDataDir(c))
	if err != nil {
		return err
	}
	b, err := m.open(ctx, c, openOptions{listen: *listen, serving: true, role: roles.Ledger})
	if err != nil {
		return err
	}
	defer b.close()
	natsURL := c.url
	if b.srv != nil {
		natsURL = b.srv.ClientURL()
	}
	// One read of the log at start: the writer's ledger is fed by the
	// live fold rather than reading the log again.
	wl := newWriterLedger(b, m.Now)
	stopLive, err := b.startLive(ctx, projections.LiveFeed(wl.ledger.Follower()))
	if err != nil {
		return err
	}
	defer stopLive()
	// Snapshots serve one-shot commands; the server answers from memory,
	// so it brings them up to date once it answers, not before.
	eng := b.engine(defaultOptions())

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
			Logf: m.logf("projector"),
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

	n, err := b.startNotary(ctx, notary.Options{Every: *cpEvery, Interval: *cpInterval, Now: m.Now, Meetings: meetingEnds(ctx, b.queries(defaultOptions()), m.Now)})
	if err != nil {
		return fmt.Errorf("notary: %w", err)
	}
	defer n.Stop()
	if n.Damaged() == nil {
		if _, err := n.Checkpoint(ctx, false); err != nil && !errors.Is(err, notary.ErrEmpty) {
			return fmt.Errorf("notary: %w", err)
		}
	} else {
		log.Error("the log is damaged: every write is refused, and nothing is signed, until it is recovered (docs/recovery.md)")
	}
	w, err := m.startWriter(ctx, b, wl, n, *partTimeout)
	if err != nil {
		return err
	}
	defer w.stop()
	hs, err := m.startHTTP(httpPlan, b, w, n, proj)
	if err != nil {
		return err
	}
	srv, httpErr, bound := hs.srv, hs.errc, hs.bound
	serving := fmt.Sprintf("serving the ledger (%s) on %s", b.where, natsURL)
	attrs := []any{"nats", natsURL}
	if bound != "" {
		serving += ", HTTP API on " + hs.url
		attrs = append(attrs, "http", hs.url)
	}
	serving += fmt.Sprintf(", commands on %s>, checkpoints on %s", roles.Commands, notary.CheckpointSubject(b.log.StreamName()))
	if proj != nil {
		serving += fmt.Sprintf(", projector publishing to %s>", compliance.SubjectPrefix)
	}
	log.Info(serving, attrs...)
	if b.creds != nil {
		log.Info(fmt.Sprintf("the NATS server takes only the credentials in %s (ccm commands on this machine use them; give --nats-auth-dir %s when it is not the default data directory's)", b.creds.Dir(), b.creds.Dir()), "auth_dir", b.creds.Dir())
	}
	if m.ServeReady != nil {
		m.ServeReady(natsURL, bound)
	}

	snaps := time.NewTicker(*every)
	defer snaps.Stop()
	refreshNow := make(chan struct{}, 1)
	refreshNow <- struct{}{}
	refresh := func() {
		if _, err := eng.RefreshSnapshots(ctx); err != nil && ctx.Err() == nil {
			log.Error("snapshots: "+err.Error(), "component", "snapshots")
		}
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			if srv != nil {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := srv.Shutdown(sctx)
				cancel()
				if err != nil {
					log.Error("http: "+err.Error(), "component", "http")
				}
			}
			return nil
		case err := <-httpErr:
			if !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		case <-refreshNow:
			refresh()
		case <-snaps.C:
			refresh()
		}
	}
}

// meetingEnds returns the ends of the meetings the log records (00:00 UTC
// of the day after the last day), read when the notary asks.
func meetingEnds(ctx context.Context, eng *projections.Engine, now func() time.Time) func() []time.Time {
	return func() []time.Time {
		b, err := eng.Resolve(ctx, "", "", events.DateOf(now()))
		if err != nil {
			return nil
		}
		ms, err := eng.Meetings(ctx, b)
		if err != nil {
			return nil
		}
		out := make([]time.Time, 0, len(ms))
		for _, mt := range ms {
			out = append(out, mt.End.Time().AddDate(0, 0, 1))
		}
		return out
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
