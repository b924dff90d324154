package jslog_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// configured starts a test server whose options fn adjusts.
func configured(t *testing.T, fn func(*server.Options)) *natstest.Server {
	t.Helper()
	return natstest.RunServer(t, func(o *embedded.Options) { o.Configure = fn })
}

func dialCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip checks that a dialed connection really works: a request
// answered by a subscriber on the same connection.
func roundTrip(t *testing.T, nc *nats.Conn) {
	t.Helper()
	sub, err := nc.Subscribe("dial.test", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
	require.NoError(t, err)
	defer sub.Unsubscribe()
	m, err := nc.Request("dial.test", []byte("ping"), 2*time.Second)
	require.NoError(t, err, "request over the dialed connection")
	assert.Equal(t, "pong", string(m.Data))
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func nkeySeedFile(t *testing.T, kp nkeys.KeyPair) string {
	t.Helper()
	seed, err := kp.Seed()
	require.NoError(t, err)
	return writeFile(t, "user.nk", seed)
}

func TestDialAuthenticates(t *testing.T) {
	userKP, err := nkeys.CreateUser()
	require.NoError(t, err)
	userPub, err := userKP.PublicKey()
	require.NoError(t, err)
	otherKP, err := nkeys.CreateUser()
	require.NoError(t, err)

	tests := []struct {
		name   string
		server func(*server.Options)
		good   jslog.ConnectOptions
		bad    jslog.ConnectOptions
	}{
		{
			name: "user and password",
			server: func(o *server.Options) {
				o.Users = []*server.User{{Username: "recorder", Password: "right horse"}}
			},
			good: jslog.ConnectOptions{User: "recorder", Password: "right horse"},
			bad:  jslog.ConnectOptions{User: "recorder", Password: "wrong horse"},
		},
		{
			name:   "token",
			server: func(o *server.Options) { o.Authorization = "s3cret-token" },
			good:   jslog.ConnectOptions{Token: "s3cret-token"},
			bad:    jslog.ConnectOptions{Token: "guess"},
		},
		{
			name:   "nkey",
			server: func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: userPub}} },
			good:   jslog.ConnectOptions{NKeySeedFile: nkeySeedFile(t, userKP)},
			bad:    jslog.ConnectOptions{NKeySeedFile: nkeySeedFile(t, otherKP)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := configured(t, tt.server)
			tt.good.URL = srv.ClientURL()
			nc, err := jslog.Dial(dialCtx(t), tt.good)
			require.NoError(t, err, "given a server requiring %s, when dialing with the right credentials, then it connects", tt.name)
			defer nc.Close()
			roundTrip(t, nc)

			tt.bad.URL = srv.ClientURL()
			start := time.Now()
			_, err = jslog.Dial(dialCtx(t), tt.bad)
			require.Error(t, err, "wrong %s must be refused", tt.name)
			assert.ErrorIs(t, err, nats.ErrAuthorization, "got %v", err)
			var de *jslog.DialError
			require.ErrorAs(t, err, &de)
			assert.Contains(t, err.Error(), "refused these credentials", "the error says what to check")
			assert.Less(t, time.Since(start), 3*time.Second, "refused credentials are not retried")
		})
	}
}

// TestDialCredsFile connects with a decentralised-auth credentials file
// to a server in operator mode, trusting a generated operator and account.
func TestDialCredsFile(t *testing.T) {
	opKP, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opPub, err := opKP.PublicKey()
	require.NoError(t, err)
	opClaims := jwt.NewOperatorClaims(opPub)
	opClaims.Name = "test-operator"
	opJWT, err := opClaims.Encode(opKP)
	require.NoError(t, err)
	opDecoded, err := jwt.DecodeOperatorClaims(opJWT)
	require.NoError(t, err)

	account := func(name string) (nkeys.KeyPair, string, string) {
		kp, err := nkeys.CreateAccount()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		tok, err := ac.Encode(opKP)
		require.NoError(t, err)
		return kp, pub, tok
	}
	creds := func(accKP nkeys.KeyPair) string {
		ukp, err := nkeys.CreateUser()
		require.NoError(t, err)
		upub, err := ukp.PublicKey()
		require.NoError(t, err)
		uc := jwt.NewUserClaims(upub)
		uc.Name = "ledger"
		ujwt, err := uc.Encode(accKP)
		require.NoError(t, err)
		seed, err := ukp.Seed()
		require.NoError(t, err)
		b, err := jwt.FormatUserConfig(ujwt, seed)
		require.NoError(t, err)
		return writeFile(t, "user.creds", b)
	}
	accKP, accPub, accJWT := account("CCM")
	strangerKP, _, _ := account("STRANGER") // signed by the operator, unknown to the server

	srv := configured(t, func(o *server.Options) {
		o.JetStream = false
		o.TrustedOperators = []*jwt.OperatorClaims{opDecoded}
		r := &server.MemAccResolver{}
		require.NoError(t, r.Store(accPub, accJWT))
		o.AccountResolver = r
	})

	nc, err := jslog.Dial(dialCtx(t), jslog.ConnectOptions{URL: srv.ClientURL(), CredsFile: creds(accKP)})
	require.NoError(t, err, "creds of a user of a known account")
	defer nc.Close()
	roundTrip(t, nc)

	_, err = jslog.Dial(dialCtx(t), jslog.ConnectOptions{URL: srv.ClientURL(), CredsFile: creds(strangerKP)})
	require.ErrorIs(t, err, nats.ErrAuthorization, "creds of an account the server does not know; got %v", err)
}

func TestDialTLS(t *testing.T) {
	ca := natstest.NewCA(t, "ccm-test")
	srvCert, srvKey := ca.Issue(t, "server", "127.0.0.1", "localhost")
	cliCert, cliKey := ca.Issue(t, "client")
	strangerCA := natstest.NewCA(t, "stranger")
	strangerCert, strangerKey := strangerCA.Issue(t, "intruder")

	tlsServer := func(verify bool) *natstest.Server {
		return configured(t, func(o *server.Options) {
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: srvCert, KeyFile: srvKey, CaFile: ca.CertFile, Verify: verify})
			require.NoError(t, err)
			o.TLSConfig, o.TLS, o.TLSVerify, o.TLSTimeout = tc, true, verify, 2
		})
	}
	tests := []struct {
		name    string
		verify  bool // the server requires client certificates
		opts    jslog.ConnectOptions
		wantErr string // part of the hint; empty: connects
	}{
		{"without the CA", false, jslog.ConnectOptions{}, "does not trust: give the CA certificate file"},
		{"with another CA", false, jslog.ConnectOptions{TLSCAFile: strangerCA.CertFile}, "not signed by the CA in"},
		{"with the CA", false, jslog.ConnectOptions{TLSCAFile: ca.CertFile}, ""},
		{"mutual TLS without a client certificate", true, jslog.ConnectOptions{TLSCAFile: ca.CertFile}, "requires a client certificate"},
		{"mutual TLS with a client certificate of another CA", true, jslog.ConnectOptions{TLSCAFile: ca.CertFile, TLSCertFile: strangerCert, TLSKeyFile: strangerKey}, "refused the client certificate"},
		{"mutual TLS with a client certificate", true, jslog.ConnectOptions{TLSCAFile: ca.CertFile, TLSCertFile: cliCert, TLSKeyFile: cliKey}, ""},
	}
	servers := map[bool]*natstest.Server{false: tlsServer(false), true: tlsServer(true)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.URL = "tls://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(servers[tt.verify].Addr().(*net.TCPAddr).Port))
			nc, err := jslog.Dial(dialCtx(t), o)
			if tt.wantErr == "" {
				require.NoError(t, err, "given %s, then it connects", tt.name)
				defer nc.Close()
				assert.True(t, nc.TLSRequired(), "the connection uses TLS")
				roundTrip(t, nc)
				return
			}
			require.Error(t, err, "given %s, then it must not connect", tt.name)
			assert.Contains(t, err.Error(), tt.wantErr, "the error says what to check")
		})
	}
}

func TestDialRetriesUntilAServerAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	url := "nats://127.0.0.1:" + strconv.Itoa(port)

	_, err = jslog.Dial(context.Background(), jslog.ConnectOptions{URL: url})
	require.ErrorIs(t, err, nats.ErrNoServers, "without a deadline Dial does not wait")
	assert.Contains(t, err.Error(), "no server answered")

	go func() {
		time.Sleep(700 * time.Millisecond)
		natstest.RunServer(t, func(o *embedded.Options) { o.Port = port })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := jslog.Dial(ctx, jslog.ConnectOptions{URL: url})
	require.NoError(t, err, "with a deadline Dial waits for the server to come up")
	nc.Close()
}

func TestConnectOptionsValidate(t *testing.T) {
	seed := writeFile(t, "seed.nk", []byte("SU..."))
	tests := []struct {
		name string
		opts jslog.ConnectOptions
		want string
	}{
		{"no URL", jslog.ConnectOptions{}, "no server URL"},
		{"two methods", jslog.ConnectOptions{URL: "nats://x", User: "a", Token: "t"}, "not user/password and token"},
		{"password without user", jslog.ConnectOptions{URL: "nats://x", Password: "p"}, "a password needs a user"},
		{"half a client certificate", jslog.ConnectOptions{URL: "nats://x", TLSCertFile: seed}, "both the certificate and the key file"},
		{"missing creds file", jslog.ConnectOptions{URL: "nats://x", CredsFile: "/nonexistent/user.creds"}, "creds file: open /nonexistent/user.creds"},
		{"missing CA file", jslog.ConnectOptions{URL: "nats://x", TLSCAFile: "/nonexistent/ca.pem"}, "TLS CA file: open /nonexistent/ca.pem"},
		{"inbox prefix with wildcard", jslog.ConnectOptions{URL: "nats://x", InboxPrefix: "_INBOX.>"}, "no wildcards"},
		{"fine", jslog.ConnectOptions{URL: "nats://x", NKeySeedFile: seed, TLSCAFile: seed}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.want == "" {
				assert.NoError(t, err, "given %+v", tt.opts)
				return
			}
			require.Error(t, err, "given %+v", tt.opts)
			assert.Contains(t, err.Error(), tt.want)
			_, derr := jslog.Dial(context.Background(), tt.opts)
			assert.Equal(t, err, derr, "Dial refuses the same options")
		})
	}
}

func TestConnectOptionsFromEnv(t *testing.T) {
	env := map[string]string{jslog.EnvPassword: "pw", jslog.EnvToken: "tok"}
	getenv := func(k string) string { return env[k] }
	o := jslog.ConnectOptions{User: "auditor"}.FromEnv(getenv)
	assert.Equal(t, "pw", o.Password, "a user's password comes from %s", jslog.EnvPassword)
	assert.Empty(t, o.Token, "no token besides a user")
	o = jslog.ConnectOptions{}.FromEnv(getenv)
	assert.Equal(t, "tok", o.Token, "without other credentials the token comes from %s", jslog.EnvToken)
	o = jslog.ConnectOptions{User: "auditor", Password: "given"}.FromEnv(getenv)
	assert.Equal(t, "given", o.Password, "a given password wins")
}

// TestPermissionDeniedFailsAtOnce: the server drops a publish the user may
// not make and never replies; the log reports the refusal at once instead
// of waiting for the request to time out.
func TestPermissionDeniedFailsAtOnce(t *testing.T) {
	srv := configured(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "admin", Password: "a"},
			{Username: "reader", Password: "r", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: []string{"$JS.API.>"}},
			}},
		}
	})
	ctx := dialCtx(t)
	admin, err := jslog.Dial(ctx, jslog.ConnectOptions{URL: srv.ClientURL(), User: "admin", Password: "a"})
	require.NoError(t, err)
	defer admin.Close()
	_, err = jslog.Create(ctx, admin, jslog.Config{})
	require.NoError(t, err)

	reader, err := jslog.Dial(ctx, jslog.ConnectOptions{URL: srv.ClientURL(), User: "reader", Password: "r"})
	require.NoError(t, err)
	defer reader.Close()
	l, err := jslog.Open(ctx, reader, jslog.Config{})
	require.NoError(t, err)

	e, err := events.New(uuid.Nil, events.Signed, "SWE", events.MustDate("2008-12-03"), nil, "test source")
	require.NoError(t, err)
	dep, err := events.New(uuid.Nil, events.Deposited, "SWE", events.MustDate("2012-04-23"), &events.Deposit{Instrument: events.Ratification}, "test source")
	require.NoError(t, err)
	for _, tt := range []struct {
		name   string
		append func() error
	}{
		{"one event", func() error { _, err := l.Append(ctx, "SWE", 0, e); return err }},
		{"a command of two events", func() error { _, err := l.Append(ctx, "SWE", 0, e, dep); return err }},
		{"a chain", func() error { _, _, err := l.AppendChain(ctx, 0, []events.Envelope{e}, nil); return err }},
	} {
		start := time.Now()
		err = tt.append()
		took := time.Since(start)
		require.ErrorIs(t, err, jslog.ErrPermissionDenied, "append of %s by a reader; got %v", tt.name, err)
		var pe *jslog.PermissionError
		require.True(t, errors.As(err, &pe))
		assert.Equal(t, jslog.PermissionError{User: "reader", Op: "publish", Subject: "ccm.events.SWE.signed"}, *pe)
		assert.Contains(t, err.Error(), "user reader may not publish to ccm.events.SWE.signed")
		assert.Less(t, took, 2*time.Second, "refused at once, not after the request timeout")
	}
	head, err := l.Head(ctx)
	require.NoError(t, err)
	assert.Zero(t, head.Msgs, "nothing appended")
}
