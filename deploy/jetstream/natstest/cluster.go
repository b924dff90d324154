package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
	natsconf "github.com/ccm-ledger/ccm-ledger/deploy/nats"
)

// DefaultNodes are the node configuration files of deploy/nats.
var DefaultNodes = []string{"nats-1.conf", "nats-2.conf", "nats-3.conf"}

// ClusterOptions configure RunCluster.
type ClusterOptions struct {
	// ConfigDir is the directory of the node configurations (deploy/nats).
	// Required.
	ConfigDir string
	// Nodes are the node configuration files in ConfigDir; default
	// DefaultNodes. Each includes node.conf, which the cluster renders for
	// it (natsconf.Render) with its loopback ports, its store and routes to
	// the others; every other file of ConfigDir is used as it is.
	Nodes []string
	// Env is the environment the configuration reads (passwords, TLS
	// files). It is set with tb.Setenv, so a test that runs a cluster
	// cannot be parallel.
	Env map[string]string
	// Account is the account of the ledger's streams; default "CCM".
	Account string
	// TLS switches on the configuration's TLS, as an operator does: the
	// clients' "# include tls.conf" of cluster.conf is uncommented, and
	// node.conf includes cluster-tls.conf. Env must then name the
	// certificate files.
	TLS bool
	// Configure, when set, adjusts the options of node i last, after its
	// configuration was parsed.
	Configure func(i int, o *server.Options)
	// Logging copies the servers' logs to stderr; they are kept in any
	// case (LogLines).
	Logging bool
}

// Cluster is a JetStream cluster of real nats-servers, run in-process from
// the deployment's configuration files for a test, as `ccm cluster trial`
// runs them: each node's node.conf puts its client and route listeners on
// free loopback ports and its store in the test's temporary directory, with
// no monitoring listener.
type Cluster struct {
	tb    testing.TB
	opts  ClusterOptions
	nodes []*clusterNode
	log   *serverLog
}

type clusterNode struct {
	conf        string
	storeDir    string
	clientPort  int
	clusterPort int
	srv         *server.Server // nil while killed
}

// RunCluster starts the cluster and waits until every node accepts clients,
// JetStream has a meta leader that every node follows, and that leader can
// place a stream on every node (WaitPlacement). A first meta
// leader election that splits is not waited out: the cluster is started
// again on new stores (see splitVoteAfter). It fails the test if the
// cluster does not form, and stops the servers at cleanup.
func RunCluster(tb testing.TB, o ClusterOptions) *Cluster {
	tb.Helper()
	require.NotEmpty(tb, o.ConfigDir, "cluster: a configuration directory is required")
	if len(o.Nodes) == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Account == "" {
		o.Account = "CCM"
	}
	for k, v := range o.Env {
		tb.Setenv(k, v)
	}
	c := &Cluster{tb: tb, opts: o, log: &serverLog{echo: o.Logging}}
	ports := freePorts(tb, 2*len(o.Nodes))
	for i := range o.Nodes {
		c.nodes = append(c.nodes, &clusterNode{clientPort: ports[2*i], clusterPort: ports[2*i+1]})
	}
	stores := tb.TempDir() // before the servers' cleanup, so removed after it
	tb.Cleanup(c.shutdown)
	for attempt := 1; ; attempt++ {
		dir := stores
		if attempt > 1 {
			dir = filepath.Join(stores, fmt.Sprintf("bootstrap-%d", attempt))
		}
		for i, n := range c.nodes {
			node := strings.TrimSuffix(o.Nodes[i], filepath.Ext(o.Nodes[i]))
			n.storeDir = filepath.Join(dir, node)
			n.conf = c.writeConf(filepath.Join(dir, "conf", node), i)
			c.start(i)
		}
		for i, n := range c.nodes {
			require.True(tb, n.srv.ReadyForConnections(10*time.Second), "cluster: node %d (%s) not ready for connections", i+1, n.conf)
		}
		if attempt == maxBootstraps {
			require.NoError(tb, c.WaitMetaLeader(20*time.Second))
			require.NoError(tb, c.WaitPlacement(20*time.Second))
			c.forgetLog()
			return c
		}
		if err := c.WaitMetaLeader(splitVoteAfter); err == nil {
			require.NoError(tb, c.WaitPlacement(20*time.Second))
			c.forgetLog()
			return c
		}
		// A split first vote: start a new cluster rather than wait for
		// the next election (see splitVoteAfter).
		tb.Logf("cluster: no JetStream meta leader %v after start (a split first vote); starting a new cluster", splitVoteAfter)
		c.shutdown()
	}
}

// A new cluster's first JetStream meta leader election needs every node's
// vote: the meta group starts with empty logs, and nats-server counts the
// vote of a node with an empty log only when all nodes grant theirs. Each
// node of a new cluster campaigns 100 to 800 ms after it starts; when two
// campaign at about the same time (more likely on a loaded machine), each
// votes for itself, neither wins, and the next election comes only after
// the election timeout, 4 to 9 seconds later. RunCluster therefore starts
// a new cluster, on new stores, when no meta leader is elected within
// splitVoteAfter (a first vote that does not split takes well under a
// second), up to maxBootstraps times, the last one waiting as long as it
// takes.
const (
	splitVoteAfter = 1500 * time.Millisecond
	maxBootstraps  = 4
)

// writeConf writes node i's configuration into dir and returns its file.
func (c *Cluster) writeConf(dir string, i int) string {
	c.tb.Helper()
	n := natsconf.Node{Host: "127.0.0.1", ClientPort: c.nodes[i].clientPort, ClusterPort: c.nodes[i].clusterPort,
		StoreDir: c.nodes[i].storeDir, RouteTLS: c.opts.TLS}
	for _, m := range c.nodes {
		n.Routes = append(n.Routes, "nats-route://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(m.clusterPort)))
	}
	require.NoError(c.tb, natsconf.WriteNodeDir(dir, os.DirFS(c.opts.ConfigDir), n, c.opts.TLS), "cluster: configuration of node %d", i+1)
	return filepath.Join(dir, c.opts.Nodes[i])
}

func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(tb, err, "cluster: find a free loopback port")
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Options returns the server options of node i as the cluster runs it:
// its configuration file processed by the server's own parser.
func (c *Cluster) Options(i int) (*server.Options, error) {
	n := c.nodes[i]
	o, err := server.ProcessConfigFile(n.conf)
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", i+1, err)
	}
	if len(o.Routes) != len(c.nodes) {
		return nil, fmt.Errorf("node %d: %d routes in %s, want one per node (%d)", i+1, len(o.Routes), n.conf, len(c.nodes))
	}
	o.NoSigs = true
	o.NoLog = true // the cluster's own logger takes the log (LogLines)
	if c.opts.Configure != nil {
		c.opts.Configure(i, o)
	}
	return o, nil
}

func (c *Cluster) start(i int) {
	c.tb.Helper()
	o, err := c.Options(i)
	require.NoError(c.tb, err, "cluster: configuration of node %d", i+1)
	s, err := server.NewServer(o)
	require.NoError(c.tb, err, "cluster: node %d", i+1)
	s.SetLogger(&nodeLogger{log: c.log, name: o.ServerName}, false, false)
	s.Start()
	c.nodes[i].srv = s
}

func (c *Cluster) shutdown() {
	for _, n := range c.nodes {
		if n.srv != nil {
			n.srv.Shutdown()
			n.srv.WaitForShutdown()
			n.srv = nil
		}
	}
}

// Servers returns the servers, by node index; a killed node's is nil.
func (c *Cluster) Servers() []*server.Server {
	out := make([]*server.Server, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.srv
	}
	return out
}

// Name returns the server name of node i.
func (c *Cluster) Name(i int) string {
	if s := c.nodes[i].srv; s != nil {
		return s.Name()
	}
	return strings.TrimSuffix(filepath.Base(c.nodes[i].conf), ".conf")
}

// URLs returns the client URL of every node, killed ones included (a
// client reconnects to them once they are back).
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	scheme := "nats"
	if c.opts.TLS {
		scheme = "tls"
	}
	for i, n := range c.nodes {
		out[i] = scheme + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.clientPort))
	}
	return out
}

// URL returns the comma-separated client URLs of every node.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// Kill stops node i at once, without lame-duck mode: its clients are
// disconnected and the others see it vanish.
func (c *Cluster) Kill(i int) {
	c.tb.Helper()
	n := c.nodes[i]
	require.NotNil(c.tb, n.srv, "cluster: node %d is not running", i+1)
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// Restart starts node i again on its store and ports, and waits until it
// accepts clients.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	require.Nil(c.tb, c.nodes[i].srv, "cluster: node %d is running", i+1)
	c.start(i)
	require.True(c.tb, c.nodes[i].srv.ReadyForConnections(10*time.Second), "cluster: node %d not ready after restart", i+1)
}

// WaitMetaLeader waits until a JetStream meta leader is elected and every
// running node is current with it.
func (c *Cluster) WaitMetaLeader(timeout time.Duration) error {
	return WaitFor(timeout, func() error {
		leader := false
		for i, n := range c.nodes {
			if n.srv == nil {
				continue
			}
			if n.srv.JetStreamIsLeader() {
				leader = true
			}
			if !n.srv.JetStreamIsCurrent() {
				return fmt.Errorf("node %d is not current with the JetStream meta leader", i+1)
			}
		}
		if !leader {
			return errors.New("no JetStream meta leader")
		}
		return nil
	})
}

// WaitPlacement waits until the JetStream meta leader counts every running
// node as an online peer whose statistics it has received. Until then it
// refuses to place a stream on all of them ("no suitable peers for
// placement, peer offline"), which on a loaded machine can last beyond the
// election.
func (c *Cluster) WaitPlacement(timeout time.Duration) error {
	return WaitFor(timeout, func() error {
		running := 0
		var peers []string
		for _, n := range c.nodes {
			if n.srv == nil {
				continue
			}
			running++
			if n.srv.JetStreamIsLeader() {
				peers = n.srv.JetStreamClusterPeers()
			}
		}
		if len(peers) < running {
			return fmt.Errorf("the JetStream meta leader can place streams on %v, not yet on all %d running nodes", peers, running)
		}
		return nil
	})
}

// StreamLeader returns the index of the node leading the stream, or -1.
func (c *Cluster) StreamLeader(stream string) int {
	for i, n := range c.nodes {
		if n.srv != nil && n.srv.JetStreamIsStreamLeader(c.opts.Account, stream) {
			return i
		}
	}
	return -1
}

// WaitStreamLeader waits until a running node leads the stream and returns
// its index.
func (c *Cluster) WaitStreamLeader(stream string, timeout time.Duration) (int, error) {
	leader := -1
	err := WaitFor(timeout, func() error {
		if leader = c.StreamLeader(stream); leader < 0 {
			return fmt.Errorf("no leader for stream %s", stream)
		}
		return nil
	})
	return leader, err
}

// NodeStream is one node's view of a stream.
type NodeStream struct {
	Node    int // index
	Name    string
	Running bool
	Leader  bool
	// Found is false when the node does not hold the stream.
	Found bool
	State server.StreamState
	// Replicas is the stream's replicas as the node sees them (peers other
	// than the leader), from the leader's point of view on the leader.
	Replicas []*server.PeerInfo
}

// StreamStates returns every node's view of the stream: its local state
// (messages, first and last sequence) and, on the leader, its replicas.
func (c *Cluster) StreamStates(stream string) ([]NodeStream, error) {
	out := make([]NodeStream, len(c.nodes))
	for i, n := range c.nodes {
		ns := NodeStream{Node: i, Name: c.Name(i), Running: n.srv != nil}
		out[i] = ns
		if n.srv == nil {
			continue
		}
		jsz, err := n.srv.Jsz(&server.JSzOptions{Account: c.opts.Account, Accounts: true, Streams: true})
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		for _, ad := range jsz.AccountDetails {
			if ad.Name != c.opts.Account {
				continue
			}
			for _, sd := range ad.Streams {
				if sd.Name != stream {
					continue
				}
				ns.Found, ns.State = true, sd.State
				if sd.Cluster != nil {
					ns.Leader = sd.Cluster.Leader == ns.Name
					ns.Replicas = sd.Cluster.Replicas
				}
			}
		}
		out[i] = ns
	}
	return out, nil
}

// WaitCaughtUp waits until every node runs and holds the stream with the
// same messages and sequences as its leader, and the leader sees every
// replica current with no lag.
func (c *Cluster) WaitCaughtUp(stream string, timeout time.Duration) error {
	return WaitFor(timeout, func() error {
		states, err := c.StreamStates(stream)
		if err != nil {
			return err
		}
		var leader *NodeStream
		for i := range states {
			if !states[i].Running {
				return fmt.Errorf("node %d is down", i+1)
			}
			if !states[i].Found {
				return fmt.Errorf("node %d does not hold stream %s", i+1, stream)
			}
			if states[i].Leader {
				leader = &states[i]
			}
		}
		if leader == nil {
			return fmt.Errorf("stream %s has no leader", stream)
		}
		for _, r := range leader.Replicas {
			if !r.Current || r.Offline || r.Lag > 0 {
				return fmt.Errorf("replica %s of %s: current %v, offline %v, lag %d", r.Name, stream, r.Current, r.Offline, r.Lag)
			}
		}
		if len(leader.Replicas) != len(states)-1 {
			return fmt.Errorf("stream %s has %d replicas besides the leader, want %d", stream, len(leader.Replicas), len(states)-1)
		}
		for _, s := range states {
			if s.State.Msgs != leader.State.Msgs || s.State.FirstSeq != leader.State.FirstSeq || s.State.LastSeq != leader.State.LastSeq {
				return fmt.Errorf("node %d holds %d messages (%d..%d), the leader %d (%d..%d)", s.Node+1,
					s.State.Msgs, s.State.FirstSeq, s.State.LastSeq, leader.State.Msgs, leader.State.FirstSeq, leader.State.LastSeq)
			}
		}
		return nil
	})
}

// WaitFor polls check until it returns nil or timeout passes, and then
// returns check's last error.
func WaitFor(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// SysUser is the system account's user in deploy/nats/accounts.conf, for
// server administration; it is no role of the ledger's.
const SysUser = "sys"

// DeployRoles are the users of deploy/nats/accounts.conf: every role of
// the permission table (roles.All), then SysUser.
var DeployRoles = deployRoles()

func deployRoles() []string {
	var out []string
	for _, r := range roles.All() {
		out = append(out, r.Name)
	}
	return append(out, SysUser)
}

// DeployPasswordEnv returns the environment variable that gives role's
// password to deploy/nats/accounts.conf.
func DeployPasswordEnv(role string) string { return roles.PasswordEnv(role) }

// DeployPassword returns the made-up password of role in DeployEnv.
func DeployPassword(role string) string { return "test-" + role + "-password" }

// DeployEnv returns an environment for the configuration in deploy/nats:
// a made-up password for every role.
func DeployEnv() map[string]string {
	env := map[string]string{}
	for _, r := range DeployRoles {
		env[DeployPasswordEnv(r)] = DeployPassword(r)
	}
	return env
}

// DeployDir returns the directory of the deployment's nats-server
// configuration, deploy/nats at the root of the module, found from the
// test's working directory.
func DeployDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	require.NoError(tb, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "deploy", "nats")
		}
		parent := filepath.Dir(dir)
		require.NotEqual(tb, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}

// ServiceInbox is the reply-inbox prefix of the deployment's service role
// (roles.ServiceInbox): a service sees no other user's replies.
const ServiceInbox = roles.ServiceInbox

// RunDeployCluster starts the deployment's three nodes (deploy/nats) with
// the test passwords of DeployEnv; $CCM_TEST_NATS_LOG turns their logs on.
func RunDeployCluster(tb testing.TB) *Cluster {
	tb.Helper()
	start := time.Now()
	c := RunCluster(tb, ClusterOptions{ConfigDir: DeployDir(tb), Env: DeployEnv(), Logging: os.Getenv("CCM_TEST_NATS_LOG") != ""})
	tb.Logf("cluster of %s, %s, %s up in %v", c.Name(0), c.Name(1), c.Name(2), time.Since(start).Round(time.Millisecond))
	return c
}

// DialRole connects to the cluster as a user of deploy/nats/accounts.conf,
// with the role's own inbox prefix where it has one (the service role:
// roles.ServiceInbox); the connection is closed at cleanup.
func (c *Cluster) DialRole(tb testing.TB, role string) *nats.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := jslog.ConnectOptions{URL: c.URL(), Name: role, User: role, Password: DeployPassword(role)}
	if r, ok := roles.ByName(role); ok {
		o.InboxPrefix = r.Inbox
	}
	nc, err := jslog.Dial(ctx, o)
	require.NoError(tb, err, "dial the cluster as %s", role)
	tb.Cleanup(nc.Close)
	return nc
}
