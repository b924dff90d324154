// Package natstest runs real embedded nats-servers with JetStream and file
// storage for tests, in the manner of net/http/httptest: each server lives
// in the test's temporary directory, listens on a free loopback port and is
// shut down when the test ends.
package natstest

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
)

// Server is an embedded server started for a test.
type Server struct {
	*embedded.Server
	tb testing.TB
}

// Option adjusts the embedded server options.
type Option func(*embedded.Options)

// SyncAlways makes the server fsync every write before acknowledging it.
func SyncAlways() Option { return func(o *embedded.Options) { o.SyncAlways = true } }

// StoreDir places the file store in dir instead of a fresh temporary
// directory, so that a test can restart a server on the same store.
func StoreDir(dir string) Option { return func(o *embedded.Options) { o.StoreDir = dir } }

// RunServer starts a server with JetStream on a free loopback port, with
// its file store in a new temporary directory (unless StoreDir is given).
// It fails the test if the server does not start, and stops it at cleanup.
func RunServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	o := embedded.Options{StoreDir: tb.TempDir(), Name: "natstest", Port: -1}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := embedded.Start(o)
	require.NoError(tb, err, "start embedded nats-server in %s", o.StoreDir)
	srv := &Server{Server: s, tb: tb}
	tb.Cleanup(s.Stop)
	return srv
}

// Restart stops the server and starts a new one on the same store
// directory, as after a crash or a deploy. Connections must be reopened.
func (s *Server) Restart(tb testing.TB) *Server {
	tb.Helper()
	s.Stop()
	o := s.Options()
	o.Port = -1
	return RunServer(tb, func(opt *embedded.Options) { *opt = o })
}

// Conn opens an in-process client connection, closed at cleanup.
func (s *Server) Conn(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := s.Connect(tb.Name(), false)
	require.NoError(tb, err, "connect to %s", s.ClientURL())
	tb.Cleanup(nc.Close)
	return nc
}

// TCPConn opens a client connection over loopback TCP, closed at cleanup.
func (s *Server) TCPConn(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := s.Connect(tb.Name(), true)
	require.NoError(tb, err, "connect to %s", s.ClientURL())
	tb.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on a new in-process connection.
func (s *Server) JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(s.Conn(tb))
	require.NoError(tb, err)
	return js
}
