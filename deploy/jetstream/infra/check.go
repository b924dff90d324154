package infra

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// Finding is one check of a running deployment against deploy/.
type Finding struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// CheckStreams checks the streams' status: each present, with replicas
// replicas (at least), a leader and every other replica current; the log
// and its evidence refusing deletion and purge.
func CheckStreams(sts []StreamStatus, replicas int) []Finding {
	var out []Finding
	for _, st := range sts {
		if !st.Found {
			out = append(out, Finding{Check: st.Name + " exists", Detail: "missing: the operator creates it with `ccm init`"})
			continue
		}
		if st.Problem != "" {
			out = append(out, Finding{Check: st.Name + " answers", Detail: st.Problem})
			continue
		}
		out = append(out, Finding{Check: st.Name + " exists", OK: true, Detail: st.What})
		out = append(out, Finding{Check: fmt.Sprintf("%s has %d replicas", st.Name, replicas), OK: st.Replicas >= replicas,
			Detail: fmt.Sprintf("%d configured, %d reported", st.Replicas, len(st.Nodes))})
		var behind []string
		for _, n := range st.Nodes {
			if !n.Current || n.Offline {
				behind = append(behind, fmt.Sprintf("%s (current %v, offline %v, lag %d)", n.Node, n.Current, n.Offline, n.Lag))
			}
		}
		out = append(out, Finding{Check: st.Name + " replicas current", OK: len(behind) == 0 && len(st.Nodes) >= st.Replicas,
			Detail: fmt.Sprintf("leader %s; behind: %v", st.Nodes[0].Node, behind)})
		if st.Name == sts[0].Name || st.Name == sts[1].Name {
			c := st.Config
			out = append(out, Finding{Check: st.Name + " denies delete and purge", OK: c.DenyDelete && c.DenyPurge,
				Detail: fmt.Sprintf("deny_delete %v, deny_purge %v", c.DenyDelete, c.DenyPurge)})
		}
	}
	return out
}

// CatchingUp reports whether a replica of a stream found is behind its
// leader while online: right after a write, a follower is briefly not
// current, which a check should wait out rather than report.
func CatchingUp(sts []StreamStatus) bool {
	for _, st := range sts {
		for _, n := range st.Nodes {
			if st.Found && !n.Current && !n.Offline {
				return true
			}
		}
	}
	return false
}

// A probe is an operation whose outcome shows a permission and that
// changes nothing whether the server allows it or not: a JetStream API
// request with a body the API refuses, a publish that the stream refuses
// by its expected-sequence header, a command the ledger refuses, a
// subscription dropped at once.
type probe struct {
	subscribe bool
	subject   string
	body      string
	header    nats.Header
}

// impossibleSeq is an expected last sequence no stream reaches: a publish
// that carries it stores nothing, whoever may publish.
var impossibleSeq = nats.Header{"Nats-Expected-Last-Sequence": []string{strconv.FormatUint(1<<63, 10)}}

func probes(log string) []probe {
	return []probe{
		{subject: "$JS.API.STREAM.INFO." + log},
		{subject: "$JS.API.STREAM.INFO.CCM_COMPLIANCE"},
		{subject: "$JS.API.STREAM.UPDATE." + log, body: "not json"},
		{subject: "$JS.API.STREAM.CREATE.KV_CCM_SNAPSHOTS", body: "not json"},
		{subject: "$JS.API.STREAM.PURGE." + log, body: "not json"},
		{subject: "ccm.events.XXX.signed", body: "{}", header: impossibleSeq},
		{subject: "$KV.CCM_SNAPSHOTS.probe", body: "{}", header: impossibleSeq},
		{subject: "ccm.cmd.record", body: "not json"},
		{subscribe: true, subject: "ccm.events.>"},
		{subscribe: true, subject: "$KV.>"},
		{subscribe: true, subject: "ccm.cmd.probe"},
	}
}

// CheckRole checks what nc, connected as role, may do against the role's
// permissions (deploy/jetstream/roles, from which deploy/nats/accounts.conf
// is generated): each probe must be allowed or refused as the table says.
// Every refusal is logged by the server as a violation.
func CheckRole(ctx context.Context, nc *nats.Conn, role roles.Role, log string) []Finding {
	var out []Finding
	for _, p := range probes(log) {
		want := role.MayPublish(p.subject)
		op := "publish to"
		if p.subscribe {
			want, op = role.MaySubscribe(p.subject), "subscribe to"
		}
		allowed, err := try(ctx, nc, p)
		f := Finding{Check: fmt.Sprintf("%s %s %s", role.Name, map[bool]string{true: "may", false: "may not"}[want], op+" "+p.subject)}
		switch {
		case err != nil:
			f.Detail = err.Error()
		case allowed == want:
			f.OK = true
		case allowed:
			f.Detail = "the server allowed it"
		default:
			f.Detail = "the server refused it"
		}
		out = append(out, f)
	}
	return out
}

// CheckLedger checks, on a connection of a user who may send commands,
// that a ledger (ccm serve) answers them: a command it refuses as invalid
// records nothing.
func CheckLedger(ctx context.Context, nc *nats.Conn) Finding {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	f := Finding{Check: "a ledger (ccm serve) answers commands"}
	gctx, explain := jslog.Guard(ctx, nc, "ccm.cmd.>")
	_, err := nc.RequestMsgWithContext(gctx, &nats.Msg{Subject: "ccm.cmd.record", Data: []byte("not json")})
	switch err = explain(err); {
	case err == nil:
		f.OK = true
	case errors.Is(err, nats.ErrNoResponders):
		f.Detail = "nobody answers ccm.cmd.record: start ccm serve as the ledger"
	default:
		f.Detail = err.Error()
	}
	return f
}

// try runs a probe and reports whether the server let it through.
func try(ctx context.Context, nc *nats.Conn, p probe) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if p.subscribe {
		// Not guarded: a guard ends with any refused subscription, the
		// probe's before it included. The server answers the flush's ping
		// after its refusal, which the client has then read (its handler
		// may run later).
		sub, err := nc.SubscribeSync(p.subject)
		if err != nil {
			return false, err
		}
		defer sub.Unsubscribe()
		if err := nc.FlushWithContext(ctx); err != nil {
			return false, err
		}
		last := nc.LastError()
		denied := errors.Is(last, nats.ErrPermissionViolation) && strings.Contains(last.Error(), `"`+p.subject+`"`)
		return !denied, nil
	}
	gctx, explain := jslog.Guard(ctx, nc, p.subject)
	m := &nats.Msg{Subject: p.subject, Data: []byte(p.body), Header: p.header}
	_, err := nc.RequestMsgWithContext(gctx, m)
	switch err = explain(err); {
	case err == nil, errors.Is(err, nats.ErrNoResponders):
		return true, nil
	case errors.Is(err, context.DeadlineExceeded):
		// Published, and nobody answered in time.
		return true, nil
	}
	return false, refused(err)
}

// refused turns a permission error into a refusal, and keeps any other.
func refused(err error) error {
	if errors.Is(err, jslog.ErrPermissionDenied) {
		return nil
	}
	return err
}
