package infra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/notary"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
)

// Names returns the ledger's streams (a bucket's is KV_<bucket>) and what
// each holds, in the order Ensure reports them.
func Names(logCfg jslog.Config, projCfg projector.Config) []Resource {
	log := logName(logCfg)
	return []Resource{
		{Name: log, What: "the log: every event, never deleted"},
		{Name: notary.StreamName(log), What: "the log's evidence: signed checkpoints and leaf hashes, never deleted"},
		{Name: projStream(projCfg), What: "derived compliance events"},
		{Name: "KV_" + jslog.SnapshotBucketName(log), What: "meeting snapshots (a cache of the log)"},
		{Name: "KV_" + projBucket(projCfg), What: "the projector's checkpoint"},
	}
}

// infoTimeout bounds the wait for a stream's leader to answer: a request
// sent while there is none is never answered.
const infoTimeout = 5 * time.Second

// StreamStatus is one stream as its leader reports it (the JetStream API's
// stream info, with its cluster section).
type StreamStatus struct {
	Name  string `json:"name"`
	What  string `json:"what"`
	Found bool   `json:"found"`
	// Config is the stream's configuration, when found.
	Config *jetstream.StreamConfig `json:"-"`
	// Replicas is the configured replica count.
	Replicas int `json:"replicas"`
	// Cluster is the name of the cluster ("" on a single server).
	Cluster string `json:"cluster,omitempty"`
	// Nodes are the leader first, then the other replicas.
	Nodes []NodeStatus `json:"nodes"`
	// Problem says why the stream's state is not known: no leader
	// answered, or the user may not look.
	Problem string `json:"problem,omitempty"`
}

// NodeStatus is one node's replica of a stream, as its leader sees it: how
// far behind the leader it is (Lag, in operations not yet applied) and
// when the leader last heard from it. Messages and LastSeq are the
// leader's, and another node's once it reported its own copy (Reported,
// NodeCopies).
type NodeStatus struct {
	Node     string        `json:"node"`
	Leader   bool          `json:"leader"`
	Current  bool          `json:"current"`
	Offline  bool          `json:"offline,omitempty"`
	Messages uint64        `json:"messages,omitempty"`
	LastSeq  uint64        `json:"last_seq,omitempty"`
	Lag      uint64        `json:"lag"`
	Active   time.Duration `json:"active_ns,omitempty"`
	Reported bool          `json:"reported,omitempty"`
}

// Status asks the leader of each of the ledger's streams for its state. A
// stream that is missing is reported as not found; one whose leader does
// not answer within infoTimeout (an election under way, a quorum lost)
// with its Problem.
func Status(ctx context.Context, nc *nats.Conn, logCfg jslog.Config, projCfg projector.Config) ([]StreamStatus, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	var out []StreamStatus
	for _, r := range Names(logCfg, projCfg) {
		st := StreamStatus{Name: r.Name, What: r.What}
		tctx, cancel := context.WithTimeout(ctx, infoTimeout)
		gctx, explain := jslog.Guard(tctx, nc, "$JS.API.>")
		s, err := js.Stream(gctx, r.Name)
		err = explain(err)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			out = append(out, st)
			continue
		case errors.Is(err, jslog.ErrPermissionDenied):
			st.Found, st.Problem = true, err.Error()
			out = append(out, st)
			continue
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			st.Found, st.Problem = true, fmt.Sprintf("no answer in %v: no leader (an election under way, or fewer than a majority of its nodes up)", infoTimeout)
			out = append(out, st)
			continue
		case err != nil:
			return nil, fmt.Errorf("stream info %s: %w", r.Name, err)
		}
		info := s.CachedInfo()
		st.Found, st.Config, st.Replicas = true, &info.Config, info.Config.Replicas
		leader := NodeStatus{Leader: true, Current: true, Messages: info.State.Msgs, LastSeq: info.State.LastSeq, Reported: true}
		if c := info.Cluster; c != nil {
			st.Cluster, leader.Node = c.Name, c.Leader
			st.Nodes = append(st.Nodes, leader)
			for _, p := range c.Replicas {
				st.Nodes = append(st.Nodes, NodeStatus{Node: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag, Active: p.Active})
			}
		} else {
			st.Nodes = append(st.Nodes, leader)
		}
		out = append(out, st)
	}
	return out, nil
}
