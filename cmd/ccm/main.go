// Command ccm is the one binary of ccm-ledger, the event-sourced compliance
// ledger of the Convention on Cluster Munitions.
//
//	ccm serve                   run the ledger: NATS JetStream (embedded or --nats-url), HTTP API, projector
//	ccm import FILE|-           validate a JSON Lines file whole, then record it (--bundled: the bundled record)
//	ccm export                  write the log as JSON Lines, with stream sequence and record time
//	ccm record                  record one event from flags
//	ccm status ISO3             one State's state of compliance
//	ccm report                  the Convention-wide tables
//	ccm diff FROM TO            what changed between two dates or meetings
//	ccm history ISO3            a State's timeline with derived dates
//	ccm replay                  the events in valid-date order with the change each caused
//	ccm meetings                the meetings of the Convention
//	ccm snapshots               the stored meeting snapshots
//	ccm watch [FILTER]          follow compliance events live (exactly once with --durable)
//	ccm bench                   the ledger against the raw JetStream baseline
//
// Client commands work against a running server (--nats-url, default
// nats://127.0.0.1:4222) or one-shot on a data directory (--data DIR) with an
// embedded server. Run `ccm help COMMAND` for a command's flags; exit codes
// are listed by `ccm help exit-codes`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	os.Exit(m.Run(ctx, os.Args[1:]))
}
