// Package embedded runs a nats-server with JetStream inside the ccm process:
// the default store of `ccm serve` and of one-shot commands on a data
// directory, and the server behind the tests (see package natstest).
//
// With Credentials, the server is closed by default: every connection,
// in-process ones included, authenticates with the NKey of a role
// (deploy/jetstream/roles) and gets that role's permissions; no client but
// the operator may change a stream, and only the ledger publishes events.
package embedded

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configures an embedded server.
type Options struct {
	// StoreDir holds the JetStream file store. Required.
	StoreDir string
	// Name is the server name; default "ccm".
	Name string
	// Host and Port of the client listener. Host defaults to 127.0.0.1
	// (loopback only); Port -1 picks a free port; DontListen opens no
	// listener at all (in-process connections only).
	Host       string
	Port       int
	DontListen bool
	// SyncAlways fsyncs every write before acknowledging it.
	SyncAlways bool
	// Credentials, when set, are the only users the server lets in, each
	// with its role's permissions (in the server's global account, where
	// earlier stores keep their streams).
	Credentials *Credentials
	// Logging sends the server's log to stderr.
	Logging bool
	// Configure, when set, may adjust the server options last.
	Configure func(*server.Options)
}

// Server is a running embedded nats-server.
type Server struct {
	*server.Server
	opts Options
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embedded server: a store directory is required")
	}
	if o.Name == "" {
		o.Name = "ccm"
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	so := &server.Options{
		ServerName: o.Name,
		Host:       o.Host,
		Port:       o.Port,
		DontListen: o.DontListen,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		SyncAlways: o.SyncAlways,
		NoLog:      !o.Logging,
		NoSigs:     true,
		// Bound the in-memory duplicate window map and allow the largest
		// batch the ledger sends.
		MaxPayload: 8 << 20,
	}
	if o.Credentials != nil {
		so.Nkeys = o.Credentials.Users()
	}
	if o.Configure != nil {
		o.Configure(so)
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	if o.Logging {
		s.ConfigureLogger()
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		if !o.DontListen {
			return nil, fmt.Errorf("embedded server: not ready for connections on %s:%d after 10s (is the port taken by another process?)", o.Host, o.Port)
		}
		return nil, errors.New("embedded server: not ready for connections after 10s")
	}
	return &Server{Server: s, opts: o}, nil
}

// Connect opens a client connection. It is in-process (no socket) unless
// the server listens and tcp is true.
func (s *Server) Connect(name string, tcp bool, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
	return s.connect(tcp, append(opts, extra...))
}

// ConnectAs opens a client connection authenticated as role (see Connect).
func (s *Server) ConnectAs(role string, tcp bool, extra ...nats.Option) (*nats.Conn, error) {
	if s.opts.Credentials == nil {
		return s.Connect("ccm "+role, tcp, extra...)
	}
	auth, err := s.opts.Credentials.Option(role)
	if err != nil {
		return nil, err
	}
	return s.Connect("ccm "+role, tcp, append([]nats.Option{auth}, extra...)...)
}

func (s *Server) connect(tcp bool, opts []nats.Option) (*nats.Conn, error) {
	url := s.ClientURL()
	if !tcp || s.opts.DontListen {
		opts = append(opts, nats.InProcessServer(s.Server))
	}
	return nats.Connect(url, opts...)
}

// Stop shuts the server down and waits until it has stopped.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

// Options returns the options the server was started with.
func (s *Server) Options() Options { return s.opts }
