// Package infra creates and checks the ledger's JetStream resources: the
// log (stream CCM), its evidence (CCM_EVIDENCE), the compliance stream, and the buckets of the
// snapshots and of the projector's checkpoint. It is the operator's part
// (roles.Operator): no other role may create or change a stream, and no
// ordinary command tries to. `ccm init` runs it against a server or
// cluster; `ccm serve` and one-shot commands on a data directory run it on
// their embedded server, as the operator, before they work as the ledger.
package infra

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
)

// Resource is one stream or bucket as Ensure found or made it.
type Resource struct {
	// Name is the stream's name (a bucket's stream is KV_<bucket>).
	Name string `json:"name"`
	// What it holds.
	What     string `json:"what"`
	Replicas int    `json:"replicas"`
	Messages uint64 `json:"messages"`
	// Created is true when Ensure made it.
	Created bool `json:"created"`
	// Problem, when set, says what is wrong with it.
	Problem string `json:"problem,omitempty"`
}

// Ensure creates whatever of the ledger's resources is missing and reports
// on all of them. The log is created with log.Replicas; the others take the
// log's replica count, whatever it is, so that no view lives on fewer
// servers than the events. An existing resource is left as it is; one with
// fewer replicas than the log, or than log.Replicas, is reported.
func Ensure(ctx context.Context, nc *nats.Conn, logCfg jslog.Config, projCfg projector.Config) ([]Resource, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	existed := map[string]bool{}
	for _, r := range Names(logCfg, projCfg) {
		// A user who may not look is told at once, not left to wait for
		// an answer the server never sends.
		gctx, explain := jslog.Guard(ctx, nc, "$JS.API.>")
		_, err := js.Stream(gctx, r.Name)
		switch err = explain(err); {
		case err == nil:
			existed[r.Name] = true
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
	}
	l, err := jslog.Create(ctx, nc, logCfg)
	if err != nil {
		return nil, err
	}
	replicas := l.Config().Replicas
	want := max(replicas, logCfg.Replicas)
	if err := notary.Create(ctx, js, l.StreamName(), replicas); err != nil {
		return nil, err
	}
	if _, err := jslog.CreateSnapshots(ctx, l); err != nil {
		return nil, err
	}
	projCfg.Replicas = replicas
	if projCfg.Duplicates == 0 {
		projCfg.Duplicates = logCfg.Duplicates
	}
	if err := projector.Create(ctx, js, projCfg); err != nil {
		return nil, err
	}
	out := Names(logCfg, projCfg)
	for i := range out {
		r := &out[i]
		st, err := js.Stream(ctx, r.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		info := st.CachedInfo()
		r.Replicas, r.Messages, r.Created = info.Config.Replicas, info.State.Msgs, !existed[r.Name]
		switch {
		case r.Replicas < replicas:
			r.Problem = fmt.Sprintf("%d replicas, fewer than the log's %d: it would be lost with fewer servers than the events", r.Replicas, replicas)
		case r.Replicas < want:
			r.Problem = fmt.Sprintf("%d replicas, fewer than the %d asked for: an existing stream is left as it is", r.Replicas, want)
		}
	}
	return out, nil
}

func logName(c jslog.Config) string {
	if c.Stream == "" {
		return jslog.DefaultStream
	}
	return c.Stream
}

func projStream(c projector.Config) string {
	if c.Stream == "" {
		return projector.DefaultStream
	}
	return c.Stream
}

func projBucket(c projector.Config) string {
	if c.Bucket == "" {
		return projector.DefaultBucket
	}
	return c.Bucket
}
