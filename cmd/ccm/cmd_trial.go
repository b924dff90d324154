package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/infra"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	natsconf "github.com/ccm-ledger/ccm-ledger/deploy/nats"
)

// A trial is the deployment of deploy/nats on one host: three nats-server
// processes on loopback, each with a directory of its own holding the
// deployment's files as they are and node.conf rendered with its ports and
// store. Its state is files in the trial's directory:
//
//	trial.json     the ports, chosen free at the first start and kept
//	nats.env       the servers' environment: the bcrypt hash of each role's password
//	clients.env    the clients' environment: the URL and each role's plain password
//	nats-N/        node N: its configuration, store/, nats.log and pid
const (
	trialLayout  = "trial.json"
	trialServers = "nats.env"
	trialClients = "clients.env"
)

// trialUsers are the users of accounts.conf: the roles and the system user.
func trialUsers() []string {
	var out []string
	for _, r := range roles.All() {
		out = append(out, r.Name)
	}
	return append(out, "sys")
}

// trialPorts are the loopback ports of the trial's nodes.
type trialPorts struct {
	Client  []int `json:"client"`
	Cluster []int `json:"cluster"`
	HTTP    []int `json:"http"`
}

// clusterTrial runs `ccm cluster trial start|stop|reset`.
func (m *Main) clusterTrial(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("cluster trial: want start, stop or reset (ccm cluster trial start -h)")
	}
	action := args[0]
	fs := m.flagSet("cluster trial "+action, "")
	dir := fs.String("dir", "", "the trial's directory: configuration, stores, logs and passwords (required)")
	node := fs.Int("node", 0, "start or stop this node only (1 to 3), e.g. to restart one after a failure")
	natsServer := fs.String("nats-server", "", "a nats-server binary to run the nodes with (default: this ccm, which is built with nats-server "+server.VERSION+")")
	if _, err := parse(fs, args[1:], 0, 0); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("cluster trial %s: --dir is required", action)
	}
	if *node < 0 || *node > natsconf.Nodes {
		return usagef("cluster trial: --node %d: want 1 to %d", *node, natsconf.Nodes)
	}
	nodes := []int{0, 1, 2}
	if *node > 0 {
		nodes = []int{*node - 1}
	}
	switch action {
	case "start":
		return m.trialStart(ctx, *dir, nodes, *natsServer, *node == 0)
	case "stop":
		return m.trialStop(ctx, *dir, nodes)
	case "reset":
		if *node > 0 {
			return usagef("cluster trial reset: resets the whole trial; --node is for start and stop")
		}
		return m.trialReset(ctx, *dir)
	}
	return usagef("cluster trial: unknown action %q: want start, stop or reset", action)
}

// trialStart prepares the trial's directory if it is new, starts the nodes
// not running, and with all of them creates the streams and buckets.
func (m *Main) trialStart(ctx context.Context, dir string, nodes []int, natsServer string, all bool) error {
	ports, err := trialPrepare(dir)
	if err != nil {
		return err
	}
	env, err := readEnvFile(filepath.Join(dir, trialServers))
	if err != nil {
		return err
	}
	for _, i := range nodes {
		if err := trialWriteNode(dir, ports, i); err != nil {
			return err
		}
		pid, err := trialSpawn(dir, i, natsServer, env)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "%s  pid %d  client nats://127.0.0.1:%d  monitoring http://127.0.0.1:%d  log %s\n",
			natsconf.ServerName(i), pid, ports.Client[i], ports.HTTP[i], filepath.Join(trialNodeDir(dir, i), "nats.log"))
	}
	if !all {
		return nil
	}
	clients, err := readEnvFile(filepath.Join(dir, trialClients))
	if err != nil {
		return err
	}
	if err := m.trialInit(ctx, clients); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "\nThe trial cluster runs. As any role, in a shell:\n  set -a; . %s; set +a\n"+
		"  CCM_NATS_USER=operator CCM_NATS_PASSWORD=$CCM_NATS_OPERATOR_PASSWORD ccm cluster check --roles-env %s\n"+
		"Stop it with `ccm cluster trial stop --dir %s`; reset it (no events, no streams) with `... reset`.\n",
		filepath.Join(dir, trialClients), filepath.Join(dir, trialClients), dir)
	return nil
}

// trialInit creates the streams and buckets as the operator, once the
// cluster has formed and its meta leader can place them.
func (m *Main) trialInit(ctx context.Context, clients map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	nc, err := jslog.Dial(ctx, jslog.ConnectOptions{URL: clients["CCM_NATS_URL"], Name: "ccm cluster trial",
		User: roles.Operator, Password: clients[roles.PasswordEnv(roles.Operator)]})
	if err != nil {
		return fmt.Errorf("cluster trial: connect as the operator: %w", err)
	}
	defer nc.Close()
	var res []infra.Resource
	// A new cluster elects its meta leader, then learns its peers: until
	// then it refuses to place a stream on three of them. A restarted one
	// answers nothing until its streams have leaders again: each attempt
	// is bounded, or its first request would wait out the minute.
	err = retry.Do(ctx, retry.Connect, func(int) error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		res, err = infra.Ensure(actx, nc, jslog.Config{Replicas: natsconf.Nodes}, projector.Config{})
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster trial: create the streams: %w", err)
	}
	for _, r := range res {
		state := "present"
		if r.Created {
			state = "created"
		}
		fmt.Fprintf(m.Stdout, "%-18s %d replicas, %s\n", r.Name, r.Replicas, state)
	}
	return nil
}

func trialNodeDir(dir string, i int) string {
	return filepath.Join(dir, strings.TrimSuffix(natsconf.NodeFile(i), ".conf"))
}

// trialPrepare returns the trial's ports, choosing them and the passwords
// on the first start.
func trialPrepare(dir string) (trialPorts, error) {
	var ports trialPorts
	b, err := os.ReadFile(filepath.Join(dir, trialLayout))
	if err == nil {
		if err := json.Unmarshal(b, &ports); err != nil || len(ports.Client) != natsconf.Nodes {
			return ports, fmt.Errorf("cluster trial: %s: not a trial's layout", filepath.Join(dir, trialLayout))
		}
		return ports, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return ports, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ports, err
	}
	free, err := freeLoopbackPorts(3 * natsconf.Nodes)
	if err != nil {
		return ports, err
	}
	ports = trialPorts{Client: free[:3], Cluster: free[3:6], HTTP: free[6:]}
	if err := trialPasswords(dir, ports); err != nil {
		return ports, err
	}
	b, _ = json.MarshalIndent(ports, "", "  ")
	return ports, os.WriteFile(filepath.Join(dir, trialLayout), append(b, '\n'), 0o600)
}

// trialPasswords makes a password per user: its hash for the servers, the
// password itself for the clients.
func trialPasswords(dir string, ports trialPorts) error {
	var urls []string
	for _, p := range ports.Client {
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	servers := []string{"# The servers' environment: bcrypt hashes of the passwords (ccm passwd)."}
	url, _ := roles.EnvLine("CCM_NATS_URL", strings.Join(urls, ","))
	clients := []string{"# The clients' environment: the trial's URL and each user's password.", url}
	for _, u := range trialUsers() {
		raw := make([]byte, 24)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		pw := base64.RawURLEncoding.EncodeToString(raw)
		hash, err := roles.HashPassword(pw)
		if err != nil {
			return err
		}
		s, err := roles.EnvLine(roles.PasswordEnv(u), hash)
		if err != nil {
			return err
		}
		c, err := roles.EnvLine(roles.PasswordEnv(u), pw)
		if err != nil {
			return err
		}
		servers, clients = append(servers, s), append(clients, c)
	}
	if err := os.WriteFile(filepath.Join(dir, trialServers), []byte(strings.Join(servers, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, trialClients), []byte(strings.Join(clients, "\n")+"\n"), 0o600)
}

// trialWriteNode writes node i's configuration: the deployment's files,
// node.conf rendered for loopback.
func trialWriteNode(dir string, ports trialPorts, i int) error {
	n := natsconf.Node{Host: "127.0.0.1", ClientPort: ports.Client[i], HTTPPort: ports.HTTP[i], ClusterPort: ports.Cluster[i],
		StoreDir: filepath.Join(absPath(trialNodeDir(dir, i)), "store")}
	for _, p := range ports.Cluster {
		n.Routes = append(n.Routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	return natsconf.WriteNodeDir(trialNodeDir(dir, i), natsconf.Files(), n, false)
}

// trialSpawn starts node i in a process of its own, unless it runs.
func trialSpawn(dir string, i int, natsServer string, env map[string]string) (int, error) {
	nd := trialNodeDir(dir, i)
	if pid, ok := trialRunning(nd); ok {
		return pid, nil
	}
	conf := filepath.Join(absPath(nd), natsconf.NodeFile(i))
	bin, args := natsServer, []string{"-c", conf}
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return 0, err
		}
		bin, args = self, append([]string{"cluster", "node"}, args...)
	}
	logf, err := os.OpenFile(filepath.Join(nd, "nats.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("cluster trial: start %s: %w", natsconf.ServerName(i), err)
	}
	pid := cmd.Process.Pid
	// The node outlives this command: it is stopped by `trial stop`.
	go cmd.Wait()
	return pid, os.WriteFile(filepath.Join(nd, "pid"), []byte(strconv.Itoa(pid)+"\n"), 0o600)
}

// trialRunning returns the pid of the node whose directory is nd, if its
// process runs.
func trialRunning(nd string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(nd, "pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !alive(pid) {
		return 0, false
	}
	return pid, true
}

// errStillRunning marks a node that has not stopped yet.
var errStillRunning = errors.New("still running")

// trialStop stops the nodes as a service manager would (SIGTERM), and
// kills those still running after half a minute.
func (m *Main) trialStop(ctx context.Context, dir string, nodes []int) error {
	for _, i := range nodes {
		nd := trialNodeDir(dir, i)
		pid, ok := trialRunning(nd)
		if !ok {
			continue
		}
		terminate(pid)
		wait := retry.Policy{Name: "wait for the node to stop", MaxElapsed: 30 * time.Second, First: 20 * time.Millisecond, Longest: 500 * time.Millisecond}
		err := retry.Do(ctx, wait, func(int) error {
			if alive(pid) {
				return errStillRunning
			}
			return nil
		})
		if err != nil {
			kill(pid)
		}
		os.Remove(filepath.Join(nd, "pid"))
		fmt.Fprintf(m.Stdout, "%s (pid %d) stopped\n", natsconf.ServerName(i), pid)
	}
	return nil
}

// trialReset stops the trial and removes its stores: nobody may delete or
// purge the log, so a trial starts over on empty stores. The configuration,
// the ports and the passwords stay.
func (m *Main) trialReset(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, trialLayout)); err != nil {
		return usagef("cluster trial reset: %s is not a trial's directory", dir)
	}
	if err := m.trialStop(ctx, dir, []int{0, 1, 2}); err != nil {
		return err
	}
	for i := range natsconf.Nodes {
		if err := os.RemoveAll(filepath.Join(trialNodeDir(dir, i), "store")); err != nil {
			return err
		}
	}
	fmt.Fprintf(m.Stdout, "trial %s reset: the stores are removed; `ccm cluster trial start --dir %s` starts an empty cluster\n", dir, dir)
	return nil
}

// readEnvFile reads an environment file of the trial.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env, err := roles.ReadEnvFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, nil
}

// freeLoopbackPorts returns n loopback ports free at the time of the call.
func freeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// clusterNode runs one nats-server, the one ccm is built with, taking
// nats-server's own flags (-c FILE ...): what the trial runs each node as.
func (m *Main) clusterNode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cluster node", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	opts, err := server.ConfigureOptions(fs, args, server.PrintServerAndExit, fs.Usage, server.PrintTLSHelpAndDie)
	if err != nil {
		return usagef("cluster node: %v", err)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("cluster node: %w", err)
	}
	s.ConfigureLogger()
	// Run handles the signals as nats-server does: SIGTERM and SIGINT
	// stop, SIGUSR2 enters lame-duck mode, SIGHUP reloads.
	if err := server.Run(s); err != nil {
		return fmt.Errorf("cluster node: %w", err)
	}
	s.WaitForShutdown()
	return nil
}
