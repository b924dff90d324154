package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// errCheckFailed marks a deployment that failed `ccm cluster check`.
var errCheckFailed = errors.New("the deployment differs from deploy/")

// clusterCmd dispatches the operator's cluster commands.
func (m *Main) clusterCmd(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(m.Stdout, clusterUsage)
			return flag.ErrHelp
		}
		fmt.Fprint(m.Stderr, clusterUsage)
		return usagef("cluster: missing subcommand")
	}
	switch args[0] {
	case "status":
		return m.clusterStatus(ctx, args[1:])
	case "check":
		return m.clusterCheck(ctx, args[1:])
	case "trial":
		return m.clusterTrial(ctx, args[1:])
	case "node":
		return m.clusterNode(ctx, args[1:])
	}
	fmt.Fprint(m.Stderr, clusterUsage)
	return usagef("cluster: unknown subcommand %q", args[0])
}

const clusterUsage = `Usage: ccm cluster SUBCOMMAND [flags]

The operator's commands for a NATS cluster (ccm cluster SUBCOMMAND -h lists each one's flags):

  status   each stream's leader and replicas: messages, last sequence, current, lag
  check    the running deployment against deploy/: streams, replicas, each role's permissions;
           exit 10 on a failure
  trial    start|stop|reset --dir DIR: the three nodes of deploy/nats on this host, on loopback
  node     one nats-server (the one ccm is built with), with nats-server's flags: -c FILE

Example:
  ccm cluster trial start --dir /tmp/ccm-trial
`

// clusterStatus prints each stream's state on its nodes.
func (m *Main) clusterStatus(ctx context.Context, args []string) error {
	fs := m.flagSet("cluster status", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	perNode := fs.Bool("per-node", false, "ask each server for its own copy's messages and last sequence, as the system user sys (password in $CCM_NATS_SYS_PASSWORD)")
	var format formatFlag
	if err := m.parseOperator(fs, args, &c, &format); err != nil {
		return err
	}
	b, err := m.openOperator(ctx, c)
	if err != nil {
		return err
	}
	defer b.close()
	sts, err := infra.Status(ctx, b.nc, jslog.Config{Stream: c.stream}, projector.Config{})
	if err != nil {
		return err
	}
	if *perNode {
		if err := m.nodeCopies(ctx, c, b, sts); err != nil {
			return err
		}
	}
	if format.value == "json" {
		return writeJSON(m.Stdout, sts)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Stream\tReplicas\tNode\tRole\tCurrent\tMessages\tLast seq\tLag\tSeen")
	for _, st := range sts {
		switch {
		case !st.Found:
			fmt.Fprintf(tw, "%s\t-\t-\tmissing\t\t\t\t\t\n", st.Name)
			continue
		case st.Problem != "":
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t\t\t\t\t\n", st.Name, st.Problem)
			continue
		}
		for _, n := range st.Nodes {
			role, msgs, last, seen := "replica", "", "", n.Active.Round(1e6).String()
			if n.Leader {
				role, seen = "leader", ""
			}
			if n.Reported {
				msgs, last = fmt.Sprint(n.Messages), fmt.Sprint(n.LastSeq)
			}
			if n.Offline {
				role = "replica, offline"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", st.Name, st.Replicas, n.Node, role, yesNo(n.Current), msgs, last, n.Lag, seen)
		}
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// parseOperator parses the flags of an operator's command without
// arguments, whose output is text or JSON, and fills the connection
// flags from the environment.
func (m *Main) parseOperator(fs *flag.FlagSet, args []string, c *connFlags, format *formatFlag) error {
	addFormatFlag(fs, format, "text", "json")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := format.check(); err != nil {
		return err
	}
	m.fromEnv(fs, c)
	return nil
}

// nodeCopies fills in each node's own messages and last sequence, asked
// as the system user.
func (m *Main) nodeCopies(ctx context.Context, c connFlags, b *backend, sts []infra.StreamStatus) error {
	c.user, c.password, c.nkey, c.creds, c.token = "sys", m.Getenv(roles.PasswordEnv("sys")), "", "", ""
	sys, err := m.open(ctx, c, openOptions{role: "sys", connOnly: true})
	if err != nil {
		return fmt.Errorf("--per-node: %w", err)
	}
	defer sys.close()
	return infra.NodeCopies(ctx, sys.nc, "CCM", len(b.nc.Servers()), sts)
}

// openOperator connects as the operator (by default) and opens nothing.
func (m *Main) openOperator(ctx context.Context, c connFlags) (*backend, error) {
	if c.dataSet {
		return nil, usagef("--data: the cluster commands work on a running server or cluster (--nats-url)")
	}
	return m.open(ctx, c, openOptions{role: roles.Operator, connOnly: true})
}

// clusterReplicas is the replica count the ledger's streams take on the
// server nc is connected to: three on a cluster (one node may fail, a
// majority remains), one on a single server. A client may not know every
// node (a server that does not advertise the others), so the count does
// not depend on the nodes it knows.
func clusterReplicas(nc *nats.Conn) int {
	if nc.ConnectedClusterName() == "" {
		return 1
	}
	return 3
}

// clusterCheck checks a running deployment against deploy/.
func (m *Main) clusterCheck(ctx context.Context, args []string) error {
	fs := m.flagSet("cluster check", "")
	var c connFlags
	m.addConnFlags(fs, &c)
	rolesEnv := fs.String("roles-env", "", "environment file of the roles' plain passwords (CCM_NATS_<ROLE>_PASSWORD='...'): each role given is checked against its permissions")
	var format formatFlag
	if err := m.parseOperator(fs, args, &c, &format); err != nil {
		return err
	}
	passwords := map[string]string{}
	if *rolesEnv != "" {
		f, err := os.Open(*rolesEnv)
		if err != nil {
			return usagef("--roles-env: %v", err)
		}
		passwords, err = roles.ReadEnvFile(bufio.NewReader(f))
		f.Close()
		if err != nil {
			return fmt.Errorf("--roles-env %s: %w", *rolesEnv, err)
		}
	}
	b, err := m.openOperator(ctx, c)
	if err != nil {
		return err
	}
	defer b.close()
	replicas := clusterReplicas(b.nc)
	if c.replicasSet {
		replicas = c.replicas
	}
	sts, err := settledStatus(ctx, b.nc, c.stream)
	if err != nil {
		return err
	}
	findings := infra.CheckStreams(sts, replicas)
	for _, r := range roles.All() {
		findings = append(findings, m.checkRole(ctx, c, r, passwords[roles.PasswordEnv(r.Name)])...)
	}
	return m.printFindings(findings, format.value)
}

// catchUp bounds how long a check waits for replicas that are catching
// up, before it reports them behind.
var catchUp = retry.Policy{Name: "wait for replicas to catch up", MaxElapsed: 10 * time.Second, First: 200 * time.Millisecond, Longest: time.Second}

// settledStatus is the streams' status once no online replica is catching
// up, or as it stands after catchUp.
func settledStatus(ctx context.Context, nc *nats.Conn, stream string) ([]infra.StreamStatus, error) {
	var sts []infra.StreamStatus
	errBehind := errors.New("a replica is catching up")
	err := retry.Do(ctx, catchUp, func(int) error {
		var err error
		if sts, err = infra.Status(ctx, nc, jslog.Config{Stream: stream}, projector.Config{}); err != nil {
			return retry.Permanent(err)
		}
		if infra.CatchingUp(sts) {
			return errBehind
		}
		return nil
	})
	if err != nil && !errors.Is(err, errBehind) {
		return nil, err
	}
	return sts, nil
}

// checkRole connects as role with its password and checks its permissions.
func (m *Main) checkRole(ctx context.Context, c connFlags, r roles.Role, password string) []infra.Finding {
	if password == "" {
		return []infra.Finding{{Check: r.Name + " permissions", OK: true, Detail: "skipped: no password in --roles-env"}}
	}
	c.user, c.password, c.token, c.nkey, c.creds, c.inboxPrefix = r.Name, password, "", "", "", r.Inbox
	b, err := m.open(ctx, c, openOptions{role: r.Name, connOnly: true})
	if err != nil {
		return []infra.Finding{{Check: r.Name + " connects", Detail: err.Error()}}
	}
	defer b.close()
	out := []infra.Finding{{Check: r.Name + " connects", OK: true}}
	if r.Name == roles.Recorder {
		// Before the probes: a refused subscription would end its wait.
		out = append(out, infra.CheckLedger(ctx, b.nc))
	}
	return append(out, infra.CheckRole(ctx, b.nc, r, c.stream)...)
}

func (m *Main) printFindings(findings []infra.Finding, format string) error {
	failed := 0
	for _, f := range findings {
		if !f.OK {
			failed++
		}
	}
	if format == "json" {
		if err := writeJSON(m.Stdout, findings); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
		for _, f := range findings {
			mark := "PASS"
			switch {
			case !f.OK:
				mark = "FAIL"
			case strings.HasPrefix(f.Detail, "skipped"):
				mark = "SKIP"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, f.Check, f.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("cluster check: %d of %d checks failed: %w", failed, len(findings), errCheckFailed)
	}
	fmt.Fprintf(m.Stderr, "ccm: cluster check: all %d checks passed (the servers log each refusal the checks provoked as a violation)\n", len(findings))
	return nil
}

// passwd prints the bcrypt hash of the password on standard input, for
// the server's environment file.
func (m *Main) passwd(ctx context.Context, args []string) error {
	fs := m.flagSet("passwd", "")
	role := fs.String("role", "", "print the line of the server's environment file for this role: CCM_NATS_<ROLE>_PASSWORD='<hash>'")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	line, err := bufio.NewReader(m.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return usagef("passwd: give the password on standard input")
	}
	hash, err := roles.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return usagef("passwd: %v", err)
	}
	if *role == "" {
		fmt.Fprintln(m.Stdout, hash)
		return nil
	}
	if _, ok := roles.ByName(*role); !ok && *role != "sys" {
		return usagef("passwd: --role %q: not a role of deploy/nats/accounts.conf", *role)
	}
	out, err := roles.EnvLine(roles.PasswordEnv(*role), hash)
	if err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, out)
	return nil
}
