package main

import (
	"context"
	"fmt"
	"time"
)

// serve runs the ledger until interrupted: an embedded NATS JetStream server
// on a per-user data directory (or --data), or a connection to --nats-url; the
// bundled record loaded into a new ledger; meeting snapshots kept current.
func (m *Main) serve(ctx context.Context, args []string) error {
	fs := m.flagSet("serve", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	listen := fs.String("listen", "127.0.0.1:4222", "client address of the embedded NATS server (loopback by default)")
	every := fs.Duration("snapshot-every", 10*time.Second, "how often to bring meeting snapshots up to date")
	if _, err := parse(fs, args, 0, 0); err != nil {
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
	fmt.Fprintf(m.Stderr, "ccm: serving the ledger (%s) on %s\n", b.where, natsURL)
	if m.ServeReady != nil {
		m.ServeReady(natsURL, "")
	}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(m.Stderr, "ccm: shutting down")
			return nil
		case <-tick.C:
			if _, err := eng.RefreshSnapshots(ctx); err != nil && ctx.Err() == nil {
				fmt.Fprintf(m.Stderr, "ccm: snapshots: %v\n", err)
			}
		}
	}
}
