package jslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// Environment variables that ConnectOptions.FromEnv reads. Secrets are
// given to the process this way (or in files), never on a command line
// that other users of the machine can read.
const (
	EnvPassword = "CCM_NATS_PASSWORD"
	EnvToken    = "CCM_NATS_TOKEN"
)

// Reconnect settings of a connection made by Dial. A client of a cluster
// rides out the loss of a server, a rolling restart and a leader election
// by reconnecting to the next server of the cluster, without limit.
const (
	// DefaultConnectTimeout bounds one attempt to connect to one server.
	DefaultConnectTimeout = 5 * time.Second
	// ReconnectWait is the pause between two rounds over the servers.
	ReconnectWait = 500 * time.Millisecond
	// PingInterval and MaxPingsOut bound how long a silent, dead server
	// goes unnoticed: about 30 seconds. A server that stops or crashes
	// closes its sockets and is noticed at once.
	PingInterval = 10 * time.Second
	MaxPingsOut  = 3
	// ReconnectBuffer is how much a client buffers while it reconnects;
	// a publish beyond it fails at once instead of waiting.
	ReconnectBuffer = 8 << 20
)

// ConnectOptions say how to reach and authenticate to a NATS server or
// cluster. At most one authentication method may be given: User and
// Password, Token, NKeySeedFile or CredsFile. Secrets are given in files or
// in the environment (see FromEnv), never in the repository.
type ConnectOptions struct {
	// URL lists the servers, comma-separated, e.g.
	// "nats://n1:4222,nats://n2:4222,nats://n3:4222". The client learns the
	// other members of a cluster from the one it reaches. Required.
	URL string
	// Name identifies the connection in the server's monitoring.
	Name string
	// User and Password authenticate with a user of the server's
	// configuration (deploy/nats/accounts.conf).
	User     string
	Password string
	// Token authenticates with the server's authorization token.
	Token string
	// NKeySeedFile is a file holding the user's nkey seed (SU...).
	NKeySeedFile string
	// CredsFile is a decentralised-auth credentials file: the user's JWT
	// and nkey seed, as made by nsc.
	CredsFile string
	// TLSCAFile is the CA certificate (PEM) that signed the servers'
	// certificates; giving it turns TLS on.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client's certificate and key, for
	// servers that verify clients (mutual TLS). Both or neither.
	TLSCertFile string
	TLSKeyFile  string
	// InboxPrefix replaces "_INBOX" as the prefix of the subjects replies
	// come back on. A role whose permissions reserve it a prefix of its own
	// (the service role of deploy/nats/accounts.conf: _INBOX_service)
	// must set it.
	InboxPrefix string
	// ConnectTimeout bounds one attempt on one server; default
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// FromEnv returns o with Password and Token taken from the environment
// (EnvPassword, EnvToken) where they are empty, using getenv (os.Getenv).
func (o ConnectOptions) FromEnv(getenv func(string) string) ConnectOptions {
	if o.Password == "" && o.User != "" {
		o.Password = getenv(EnvPassword)
	}
	if o.Token == "" && o.User == "" && o.NKeySeedFile == "" && o.CredsFile == "" {
		o.Token = getenv(EnvToken)
	}
	return o
}

// Validate reports the first problem with o: a missing URL, several
// authentication methods at once, a password without a user, half of a
// client certificate, or a file that cannot be read.
func (o ConnectOptions) Validate() error {
	if strings.TrimSpace(o.URL) == "" {
		return errors.New("nats connection: no server URL")
	}
	var methods []string
	if o.User != "" {
		methods = append(methods, "user/password")
	}
	if o.Token != "" {
		methods = append(methods, "token")
	}
	if o.NKeySeedFile != "" {
		methods = append(methods, "nkey")
	}
	if o.CredsFile != "" {
		methods = append(methods, "creds file")
	}
	if len(methods) > 1 {
		return fmt.Errorf("nats connection: give one authentication method, not %s", strings.Join(methods, " and "))
	}
	if o.Password != "" && o.User == "" {
		return errors.New("nats connection: a password needs a user")
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return errors.New("nats connection: a client certificate needs both the certificate and the key file")
	}
	if strings.ContainsAny(o.InboxPrefix, "*> ") || strings.HasSuffix(o.InboxPrefix, ".") {
		return fmt.Errorf("nats connection: inbox prefix %q: no wildcards, spaces or trailing dot", o.InboxPrefix)
	}
	for _, f := range []struct{ what, path string }{
		{"nkey seed file", o.NKeySeedFile},
		{"creds file", o.CredsFile},
		{"TLS CA file", o.TLSCAFile},
		{"TLS certificate file", o.TLSCertFile},
		{"TLS key file", o.TLSKeyFile},
	} {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("nats connection: %s: %w", f.what, err)
		}
		fh.Close()
	}
	return nil
}

// auth describes the authentication method, for error messages.
func (o ConnectOptions) auth() string {
	switch {
	case o.User != "":
		return "user " + o.User
	case o.Token != "":
		return "a token"
	case o.NKeySeedFile != "":
		return "the nkey in " + o.NKeySeedFile
	case o.CredsFile != "":
		return "the credentials in " + o.CredsFile
	}
	return "no credentials"
}

func (o ConnectOptions) natsOptions(d *denials) ([]nats.Option, error) {
	timeout := o.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.PingInterval(PingInterval),
		nats.MaxPingsOutstanding(MaxPingsOut),
		nats.ReconnectBufSize(ReconnectBuffer),
		nats.ErrorHandler(d.handle),
	}
	switch {
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	case o.Token != "":
		opts = append(opts, nats.Token(o.Token))
	case o.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats connection: nkey seed file %s: %w", o.NKeySeedFile, err)
		}
		opts = append(opts, opt)
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(o.TLSCAFile))
	}
	if o.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(o.TLSCertFile, o.TLSKeyFile))
	}
	if o.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(o.InboxPrefix))
	}
	return opts, nil
}

// DialError is a failed connection: which servers, as whom, and why.
type DialError struct {
	URL  string
	Auth string // "user recorder", "a token", "the nkey in FILE", ...
	Err  error
	Hint string // what to check, when the cause is recognised
}

func (e *DialError) Error() string {
	s := fmt.Sprintf("connect to %s with %s: %v", e.URL, e.Auth, e.Err)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *DialError) Unwrap() error { return e.Err }

// hint recognises the usual causes of a failed connection.
func hint(err error, o ConnectOptions) string {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, nats.ErrAuthorization):
		return "the server refused these credentials: check the user and password, token, nkey or creds file"
	case errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAccountAuthExpired):
		return "the credentials have expired"
	case errors.Is(err, nats.ErrAuthRevoked):
		return "the credentials have been revoked"
	case errors.As(err, &unknownCA) || (errors.As(err, &certErr) && strings.Contains(err.Error(), "unknown authority")):
		if o.TLSCAFile == "" {
			return "the server's certificate is signed by a CA this client does not trust: give the CA certificate file"
		}
		return "the server's certificate is not signed by the CA in " + o.TLSCAFile
	case errors.As(err, &hostErr):
		return "the server's certificate is not valid for the host in the URL"
	case strings.Contains(err.Error(), "certificate required") || strings.Contains(err.Error(), "bad certificate") ||
		strings.Contains(err.Error(), "closed by remote after TLS handshake"):
		if o.TLSCertFile == "" {
			return "the server requires a client certificate signed by its CA: give the certificate and key files"
		}
		return "the server refused the client certificate in " + o.TLSCertFile + ": it requires one signed by its CA"
	case errors.Is(err, nats.ErrSecureConnWanted):
		return "the server does not offer TLS, but this client requires it"
	case errors.Is(err, nats.ErrNoServers):
		return "no server answered at these addresses"
	}
	return ""
}

// permanent tells errors that retrying cannot fix: anything but finding
// no server to talk to.
func permanent(err error) bool {
	var opErr *net.OpError
	return !errors.Is(err, nats.ErrNoServers) && !(errors.As(err, &opErr) && opErr.Op == "dial")
}

// Dial connects to a NATS server or cluster, with reconnection to any server
// of the cluster without limit (see ReconnectWait, PingInterval). While no
// server can be reached, Dial retries until ctx ends (at once if ctx has no
// deadline); refused credentials and TLS failures return at once. The error
// is a *DialError saying what to check.
//
// Permission violations that the server reports on the connection are
// recorded, so that the log's operations fail at once with a
// *PermissionError (errors.Is ErrPermissionDenied) instead of waiting for a
// reply that the server will never send.
func Dial(ctx context.Context, o ConnectOptions) (*nats.Conn, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	d := &denials{user: o.User, watches: map[*denialWatch]struct{}{}}
	opts, err := o.natsOptions(d)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.ClosedHandler(func(nc *nats.Conn) { dialed.Delete(nc) }))
	var (
		nc   *nats.Conn
		last error
	)
	_, hasDeadline := ctx.Deadline()
	err = retry.Do(ctx, retry.Connect, func(int) error {
		nc, last = nats.Connect(o.URL, opts...)
		if last != nil && (!hasDeadline || permanent(last)) {
			return retry.Permanent(last)
		}
		return last
	})
	if err == nil {
		dialed.Store(nc, d)
		return nc, nil
	}
	derr := &DialError{URL: o.URL, Auth: o.auth(), Err: last, Hint: hint(last, o)}
	if ctx.Err() != nil && last != nil {
		derr.Err = fmt.Errorf("%w (gave up: %v)", last, ctx.Err())
	}
	return nil, derr
}

// ErrPermissionDenied is the sentinel of a *PermissionError: the server
// refused an operation that the connection's user is not permitted.
var ErrPermissionDenied = errors.New("permission denied")

// PermissionError says which operation the server refused to which user.
type PermissionError struct {
	// User is the connection's user name, when it authenticated with one.
	User string
	// Op is "publish" or "subscribe".
	Op string
	// Subject is the subject refused: an event subject for an append, a
	// JetStream API subject ($JS.API...) for other operations.
	Subject string
}

func (e *PermissionError) Error() string {
	who := "this connection's user"
	if e.User != "" {
		who = "user " + e.User
	}
	return fmt.Sprintf("permission denied: %s may not %s to %s", who, e.Op, e.Subject)
}

// Unwrap returns ErrPermissionDenied.
func (e *PermissionError) Unwrap() error { return ErrPermissionDenied }

// dialed maps the connections made by Dial to their recorded denials.
var dialed sync.Map // *nats.Conn -> *denials

// denials hands the permission violations a server reports on one
// connection to the operations waiting on it.
type denials struct {
	user    string
	mu      sync.Mutex
	watches map[*denialWatch]struct{}
}

type denialWatch struct {
	patterns []string
	cancel   context.CancelCauseFunc
}

var violationRe = regexp.MustCompile(`(?i)permissions violation for (publish|subscription) to "([^"]+)"`)

func (d *denials) handle(_ *nats.Conn, _ *nats.Subscription, err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	m := violationRe.FindStringSubmatch(err.Error())
	if m == nil {
		return
	}
	pe := &PermissionError{User: d.user, Op: "publish", Subject: m[2]}
	if strings.EqualFold(m[1], "subscription") {
		pe.Op = "subscribe"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for w := range d.watches {
		// An operation that cannot subscribe to its reply inbox fails
		// whatever it publishes to.
		if pe.Op == "subscribe" || matchAny(w.patterns, pe.Subject) {
			w.cancel(pe)
		}
	}
}

// guard returns a context that ends with a *PermissionError as its cause
// as soon as the server reports that it refused one of nc's publishes to a
// subject matching patterns (NATS wildcards), or one of its subscriptions,
// and a function that ends the watch and gives the error to return: the
// *PermissionError if there was one, else err. On a connection not made by
// Dial it changes nothing (a refused operation then waits for its timeout).
//
// Operations that run at the same time on one connection and publish to
// subjects matching the same patterns cannot be told apart: a refusal
// ends them all, each with the refused subject in its error.
func guard(ctx context.Context, nc *nats.Conn, patterns ...string) (context.Context, func(error) error) {
	v, ok := dialed.Load(nc)
	if !ok {
		return ctx, func(err error) error { return err }
	}
	d := v.(*denials)
	ctx, cancel := context.WithCancelCause(ctx)
	w := &denialWatch{patterns: patterns, cancel: cancel}
	d.mu.Lock()
	d.watches[w] = struct{}{}
	d.mu.Unlock()
	return ctx, func(err error) error {
		d.mu.Lock()
		delete(d.watches, w)
		d.mu.Unlock()
		var pe *PermissionError
		if errors.As(context.Cause(ctx), &pe) && err != nil {
			cancel(nil)
			return pe
		}
		cancel(nil)
		return err
	}
}

// Guard is guard for the adapters that send their own requests on a
// connection Dial made (the command service's client): a refused publish
// fails the request at once with a *PermissionError instead of waiting
// for its timeout.
func Guard(ctx context.Context, nc *nats.Conn, patterns ...string) (context.Context, func(error) error) {
	return guard(ctx, nc, patterns...)
}

// jsAPI is the pattern of every JetStream API subject.
const jsAPI = "$JS.API.>"

func matchAny(patterns []string, subject string) bool {
	for _, p := range patterns {
		if roles.Match(p, subject) {
			return true
		}
	}
	return false
}
