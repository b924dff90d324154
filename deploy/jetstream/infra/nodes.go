package infra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NodeCopies asks every server of the cluster, as the system account's
// user, for its own copy of the account's streams (the server's JetStream
// report, $SYS.REQ.SERVER.PING.JSZ) and fills in each replica's messages
// and last sequence: what stream info, answered by the leader, does not
// say. It waits for want answers, or a few seconds for a server that is
// down.
func NodeCopies(ctx context.Context, sys *nats.Conn, account string, want int, sts []StreamStatus) error {
	inbox := sys.NewRespInbox()
	sub, err := sys.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(server.JSzOptions{Account: account, Accounts: true, Streams: true})
	if err := sys.PublishRequest("$SYS.REQ.SERVER.PING.JSZ", inbox, req); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for got := 0; got < want; got++ {
		m, err := sub.NextMsgWithContext(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil // a server down answers nothing
		}
		if err != nil {
			return err
		}
		var resp struct {
			Server *server.ServerInfo `json:"server"`
			Data   *server.JSInfo     `json:"data"`
		}
		if err := json.Unmarshal(m.Data, &resp); err != nil || resp.Server == nil || resp.Data == nil {
			return fmt.Errorf("the JetStream report of a server is not understood: %s", m.Data)
		}
		for _, ad := range resp.Data.AccountDetails {
			if ad.Name == account {
				fill(sts, resp.Server.Name, ad.Streams)
			}
		}
	}
	return nil
}

// fill sets the messages and last sequence of node's copies.
func fill(sts []StreamStatus, node string, copies []server.StreamDetail) {
	for _, sd := range copies {
		for i := range sts {
			if sts[i].Name != sd.Name {
				continue
			}
			for j := range sts[i].Nodes {
				if n := &sts[i].Nodes[j]; n.Node == node {
					n.Messages, n.LastSeq, n.Reported = sd.State.Msgs, sd.State.LastSeq, true
				}
			}
		}
	}
}
