package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// initCmd creates, as the operator, the ledger's streams and buckets that a
// server lacks, and reports on all of them.
func (m *Main) initCmd(ctx context.Context, args []string) error {
	fs := m.flagSet("init", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	var format formatFlag
	if err := m.parseOperator(fs, args, &c, &format); err != nil {
		return err
	}
	c.noRecord = true
	b, err := m.open(ctx, c, openOptions{role: roles.Operator, connOnly: true})
	if err != nil {
		return err
	}
	defer b.close()
	nc := b.nc
	if b.srv == nil {
		want := clusterReplicas(nc)
		switch {
		case !c.replicasSet:
			c.replicas = want
		case c.replicas < want:
			return usagef("init: --replicas %d on cluster %s: the streams take %d, so that one node may fail", c.replicas, nc.ConnectedClusterName(), want)
		}
	}
	if b.srv != nil {
		// On a data directory the process opened the resources already;
		// report on them as the operator.
		if nc, err = b.srv.ConnectAs(roles.Operator, false); err != nil {
			return err
		}
		defer nc.Close()
	}
	res, err := infra.Ensure(ctx, nc, jslog.Config{Stream: c.stream, Replicas: c.replicas}, projector.Config{})
	if err != nil {
		return err
	}
	if format.value == "json" {
		return writeJSON(m.Stdout, res)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Stream\tReplicas\tMessages\tState\tHolds")
	var problems int
	for _, r := range res {
		state := "present"
		if r.Created {
			state = "created"
		}
		if r.Problem != "" {
			state, problems = "PROBLEM: "+r.Problem, problems+1
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", r.Name, r.Replicas, r.Messages, state, r.What)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if problems > 0 {
		return fmt.Errorf("init: %d resources need the operator's attention", problems)
	}
	return nil
}
