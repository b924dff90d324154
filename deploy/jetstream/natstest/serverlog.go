package natstest

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// serverLog is the log of the cluster's servers as nats-server writes it
// ("[ERR] ...", "[WRN] ..."), kept for the tests that read it and copied to
// stderr when the cluster logs.
type serverLog struct {
	mu    sync.Mutex
	lines []string
	echo  bool
}

// nodeLogger is the server.Logger of one node.
type nodeLogger struct {
	log  *serverLog
	name string
}

func (l *nodeLogger) add(level, format string, v ...any) {
	line := fmt.Sprintf("%s [%s] %s", l.name, level, fmt.Sprintf(format, v...))
	l.log.mu.Lock()
	defer l.log.mu.Unlock()
	l.log.lines = append(l.log.lines, line)
	if l.log.echo {
		fmt.Fprintln(os.Stderr, line)
	}
}

func (l *nodeLogger) Noticef(format string, v ...any) { l.add("INF", format, v...) }
func (l *nodeLogger) Warnf(format string, v ...any)   { l.add("WRN", format, v...) }
func (l *nodeLogger) Fatalf(format string, v ...any)  { l.add("FTL", format, v...) }
func (l *nodeLogger) Errorf(format string, v ...any)  { l.add("ERR", format, v...) }
func (l *nodeLogger) Debugf(format string, v ...any)  {}
func (l *nodeLogger) Tracef(format string, v ...any)  {}

var _ server.Logger = (*nodeLogger)(nil)

// LogLines returns the lines the servers logged at level ("ERR", "WRN",
// "INF") since the cluster formed, each prefixed with its node's name.
// What the nodes log while they start one after the other (routes to
// nodes not yet listening) is left out: RunCluster forgets it once the
// cluster has formed.
func (c *Cluster) LogLines(level string) []string {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	var out []string
	for _, l := range c.log.lines {
		if strings.Contains(l, " ["+level+"] ") {
			out = append(out, l)
		}
	}
	return out
}

func (c *Cluster) forgetLog() {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	c.log.lines = nil
}
