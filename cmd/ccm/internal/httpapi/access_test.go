package httpapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/events"
)

const accessEvent = `{"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"test: access"}`

func port(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(ts.URL)
	require.NoError(t, err)
	return u.Port()
}

// hdr builds headers from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func bearer(kv ...string) http.Header {
	return hdr(append([]string{"Authorization", "Bearer " + testToken}, kv...)...)
}

// TestAccessRefusals tries the API as an attacker would: every request
// here is refused with a JSON error, and nothing is recorded.
func TestAccessRefusals(t *testing.T) {
	f := newFixture(t)
	loop := f.ts
	p := port(t, loop)
	readOnly := f.serve(t, httpapi.Access{Token: testToken, ReadOnly: true})
	// A server that believes it listens on a public address (the test
	// listener is on loopback, which it does not know).
	remote := f.serve(t, httpapi.Access{Addr: "192.0.2.10:" + p, Token: testToken})
	publicReads := f.serve(t, httpapi.Access{Addr: "192.0.2.10:" + p, Token: testToken, PublicReads: true})
	noToken := f.serve(t, httpapi.Access{})
	// On loopback, behind a proxy that forwards under a public name.
	named := f.serve(t, httpapi.Access{Token: testToken, Hosts: []string{"ccm.example.org"}})
	json := "application/json"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ccm:"+testToken))

	cases := []struct {
		name         string
		ts           *httptest.Server
		method, path string
		h            http.Header
		code         int
		errCode      string
	}{
		{"write without a credential", loop, "POST", "/v1/events", hdr("Content-Type", json), 401, httpapi.CodeUnauthorized},
		{"write with a wrong token", loop, "POST", "/v1/events", hdr("Content-Type", json, "Authorization", "Bearer wrong"), 401, httpapi.CodeUnauthorized},
		{"write with the token one character short", loop, "POST", "/v1/events", hdr("Content-Type", json, "Authorization", "Bearer "+testToken[1:]), 401, httpapi.CodeUnauthorized},
		{"write with an empty bearer token", loop, "POST", "/v1/events", hdr("Content-Type", json, "Authorization", "Bearer "), 401, httpapi.CodeUnauthorized},
		{"write with the token as a Basic password", loop, "POST", "/v1/events", hdr("Content-Type", json, "Authorization", basic), 401, httpapi.CodeUnauthorized},
		{"write with the token and no scheme", loop, "POST", "/v1/events", hdr("Content-Type", json, "Authorization", testToken), 401, httpapi.CodeUnauthorized},
		{"write with the token in another header", loop, "POST", "/v1/events", hdr("Content-Type", json, "X-Api-Key", testToken), 401, httpapi.CodeUnauthorized},
		{"write with the token in a cookie", loop, "POST", "/v1/events", hdr("Content-Type", json, "Cookie", "token="+testToken), 401, httpapi.CodeUnauthorized},
		{"write with the token in the query", loop, "POST", "/v1/events?access_token=" + testToken, hdr("Content-Type", json), 401, httpapi.CodeUnauthorized},
		{"write with a wrong token, then the right one", loop, "POST", "/v1/events", hdr("Content-Type", json, "Authorization", "Bearer wrong", "Authorization", "Bearer "+testToken), 401, httpapi.CodeUnauthorized},
		{"write to a server without a token, with a token", noToken, "POST", "/v1/events", bearer("Content-Type", json), 401, httpapi.CodeUnauthorized},
		{"another method without a credential", loop, "DELETE", "/v1/events", hdr(), 401, httpapi.CodeUnauthorized},
		{"write under a rebound name", loop, "POST", "/v1/events", bearer("Content-Type", json, "Host", "attacker.example:"+p), 421, httpapi.CodeUnknownHost},
		{"read under a rebound name on loopback", loop, "GET", "/v1/report", hdr("Host", "attacker.example:"+p), 421, httpapi.CodeUnknownHost},
		{"health under a rebound name", loop, "GET", "/healthz", hdr("Host", "attacker.example"), 421, httpapi.CodeUnknownHost},
		{"unknown path under a rebound name", loop, "GET", "/nothing", hdr("Host", "attacker.example"), 421, httpapi.CodeUnknownHost},
		{"a name that ends like an allowed one", loop, "GET", "/v1/report", hdr("Host", "evil-localhost:"+p), 421, httpapi.CodeUnknownHost},
		{"an allowed name as a subdomain", loop, "GET", "/v1/report", hdr("Host", "localhost.attacker.example"), 421, httpapi.CodeUnknownHost},
		{"the unspecified address", loop, "GET", "/v1/report", hdr("Host", "0.0.0.0:"+p), 421, httpapi.CodeUnknownHost},
		{"write from another origin", loop, "POST", "/v1/events", bearer("Content-Type", json, "Origin", "http://attacker.example"), 403, httpapi.CodeCrossOrigin},
		{"write from the null origin", loop, "POST", "/v1/events", bearer("Content-Type", json, "Origin", "null"), 403, httpapi.CodeCrossOrigin},
		{"write from an allowed name on another port", loop, "POST", "/v1/events", bearer("Content-Type", json, "Origin", "http://127.0.0.1:1"), 403, httpapi.CodeCrossOrigin},
		{"write from an allowed name on the default port", loop, "POST", "/v1/events", bearer("Content-Type", json, "Origin", "http://localhost"), 403, httpapi.CodeCrossOrigin},
		{"write from an allowed name with another scheme", loop, "POST", "/v1/events", bearer("Content-Type", json, "Origin", "https://127.0.0.1:"+p), 403, httpapi.CodeCrossOrigin},
		{"write to a read-only API", readOnly, "POST", "/v1/events", bearer("Content-Type", json), 403, httpapi.CodeReadOnly},
		{"write to a read-only API without a credential", readOnly, "POST", "/v1/events", hdr("Content-Type", json), 403, httpapi.CodeReadOnly},
		{"read off loopback without a credential", remote, "GET", "/v1/report", hdr(), 401, httpapi.CodeUnauthorized},
		{"events off loopback without a credential", remote, "GET", "/v1/events", hdr(), 401, httpapi.CodeUnauthorized},
		{"metrics off loopback without a credential", remote, "GET", "/metrics", hdr(), 401, httpapi.CodeUnauthorized},
		{"the document off loopback without a credential", remote, "GET", "/v1/openapi.json", hdr(), 401, httpapi.CodeUnauthorized},
		{"an unknown path off loopback without a credential", remote, "GET", "/v1/secret", hdr(), 401, httpapi.CodeUnauthorized},
		{"read off loopback with a wrong token", remote, "GET", "/v1/report", hdr("Authorization", "Bearer wrong"), 401, httpapi.CodeUnauthorized},
		{"read on loopback with a wrong token", loop, "GET", "/v1/report", hdr("Authorization", "Bearer wrong"), 401, httpapi.CodeUnauthorized},
		{"write with public reads, without a credential", publicReads, "POST", "/v1/events", hdr("Content-Type", json), 401, httpapi.CodeUnauthorized},
		{"read on loopback under a public name, without a credential", named, "GET", "/v1/report", hdr("Host", "ccm.example.org"), 401, httpapi.CodeUnauthorized},
	}
	before, err := f.log.Head(context.Background())
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, c.ts, c.method, c.path, c.h, []byte(accessEvent))
			require.Equal(t, c.code, r.code, "%s %s %v: %s", c.method, c.path, c.h, r.body)
			e := apiError(t, r)
			assert.Equal(t, c.errCode, e.Code, "%s", e.Message)
			assert.NotContains(t, string(r.body), testToken, "an answer never holds the token")
			if c.code == http.StatusUnauthorized {
				challenge := r.header.Get("WWW-Authenticate")
				assert.True(t, strings.HasPrefix(challenge, `Bearer realm="ccm-ledger"`), "WWW-Authenticate: %q", challenge)
				_, given := c.h["Authorization"]
				assert.Equal(t, given, strings.Contains(challenge, `error="invalid_token"`), "invalid_token when a credential was given: %q", challenge)
			}
		})
	}
	after, err := f.log.Head(context.Background())
	require.NoError(t, err)
	assert.Equal(t, before.LastSeq, after.LastSeq, "no refused request recorded anything")
}

// TestAccessAllows is the other side: what each configuration lets
// through.
func TestAccessAllows(t *testing.T) {
	f := newFixture(t)
	loop := f.ts
	p := port(t, loop)
	readOnly := f.serve(t, httpapi.Access{Token: testToken, ReadOnly: true})
	remote := f.serve(t, httpapi.Access{Addr: "192.0.2.10:" + p, Token: testToken})
	publicReads := f.serve(t, httpapi.Access{Addr: "192.0.2.10:" + p, Token: testToken, PublicReads: true})
	named := f.serve(t, httpapi.Access{Token: testToken, Hosts: []string{"ccm.example.org"}})
	np := port(t, named)
	namedPublic := f.serve(t, httpapi.Access{Token: testToken, Hosts: []string{"ccm.example.org"}, PublicReads: true})
	json := "application/json"

	cases := []struct {
		name         string
		ts           *httptest.Server
		method, path string
		h            http.Header
	}{
		{"write with the token", loop, "POST", "/v1/events", bearer("Content-Type", json)},
		{"write with the scheme in lower case", loop, "POST", "/v1/events", hdr("Content-Type", json, "Authorization", "bearer "+testToken)},
		{"write from the server's own origin", loop, "POST", "/v1/events", bearer("Content-Type", json, "Origin", "http://localhost:"+p)},
		{"write from a configured name's origin", named, "POST", "/v1/events", bearer("Content-Type", json, "Host", "ccm.example.org:"+np, "Origin", "http://ccm.example.org:"+np)},
		{"read on loopback without a credential", loop, "GET", "/v1/report?as_of=3MSP", hdr()},
		{"read under [::1]", loop, "GET", "/v1/meetings", hdr("Host", "[::1]:"+p)},
		{"read under a name in capitals with a trailing dot", loop, "GET", "/v1/meetings", hdr("Host", "LOCALHOST.:"+p)},
		{"read under a configured name, with the token", named, "GET", "/v1/meetings", bearer("Host", "ccm.example.org")},
		{"read under a configured name with public reads", namedPublic, "GET", "/v1/meetings", hdr("Host", "ccm.example.org")},
		{"read under the loopback address of a server with names", named, "GET", "/v1/meetings", hdr()},
		{"read under the address listened on", remote, "GET", "/v1/meetings", bearer("Host", "192.0.2.10:"+p)},
		{"read from another origin on loopback", loop, "GET", "/v1/meetings", hdr("Origin", "http://attacker.example")},
		{"read of a read-only API", readOnly, "GET", "/v1/meetings", hdr()},
		{"read off loopback with the token", remote, "GET", "/v1/states/SWE", bearer()},
		{"metrics off loopback with the token", remote, "GET", "/metrics", bearer()},
		{"read with public reads", publicReads, "GET", "/v1/events?limit=1", hdr()},
		{"health off loopback without a credential", remote, "GET", "/healthz", hdr()},
		{"health with a wrong token", remote, "GET", "/healthz", hdr("Authorization", "Bearer wrong")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, c.ts, c.method, c.path, c.h, []byte(accessEvent))
			assert.Contains(t, []int{200, 201}, r.code, "%s %s %v: %s", c.method, c.path, c.h, r.body)
		})
	}
}

// TestClientCertificateIsACredential: a certificate the TLS handshake
// verified lets a write through; one it did not verify does not.
func TestClientCertificateIsACredential(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name  string
		state *tls.ConnectionState
		code  int
	}{
		{"verified", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}, VerifiedChains: [][]*x509.Certificate{{{}}}}, http.StatusCreated},
		{"presented, not verified", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}, http.StatusUnauthorized},
		{"TLS without a certificate", &tls.ConnectionState{}, http.StatusUnauthorized},
	}
	api := httpapi.New(func() httpapi.Config {
		c := f.cfg
		c.Access = httpapi.Access{Addr: "192.0.2.10:8443", TLS: true}
		return c
	}())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "https://192.0.2.10:8443/v1/events", strings.NewReader(
				`{"type":"victims-declared","state":"LAO","date":"2012-06-01","source":"test: mutual TLS"}`))
			req.Header.Set("Content-Type", "application/json")
			req.TLS = c.state
			w := httptest.NewRecorder()
			api.ServeHTTP(w, req)
			assert.Equal(t, c.code, w.Code, "%s", w.Body)
		})
	}
}

// TestSecurityHeaders: every answer, success or error, carries the
// headers a reviewer expects, and nothing names the server's software.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	remote := f.serve(t, httpapi.Access{Addr: "192.0.2.10:8080", Token: testToken})
	for _, c := range []struct {
		name string
		r    response
	}{
		{"a view", f.get(t, "/v1/report")},
		{"the document", f.get(t, "/v1/openapi.json")},
		{"metrics", f.get(t, "/metrics")},
		{"health", f.get(t, "/healthz")},
		{"not found", f.get(t, "/v1/nothing")},
		{"unauthorized", call(t, remote, "GET", "/v1/report", hdr(), nil)},
		{"unknown host", call(t, f.ts, "GET", "/v1/report", hdr("Host", "attacker.example"), nil)},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.r.header
			assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
			assert.Equal(t, "no-store", h.Get("Cache-Control"), "answers depend on the log and on the credential")
			assert.True(t, strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'"), "CSP %q", h.Get("Content-Security-Policy"))
			assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
			assert.Equal(t, "same-origin", h.Get("Cross-Origin-Resource-Policy"))
			assert.Empty(t, h.Get("Server"), "no server software named")
			assert.Empty(t, h.Get("X-Powered-By"))
			assert.Empty(t, h.Get("Access-Control-Allow-Origin"), "no CORS: other origins cannot read answers")
		})
	}
}

// idTaken is a Recorder whose log refuses every event: its id is held by
// an event of another State.
type idTaken struct{ httpapi.Recorder }

func (idTaken) RecordCommand(ctx context.Context, evs ...events.Envelope) ([]aggregates.Outcome, error) {
	return nil, fmt.Errorf("append %s: %w", evs[0].ID, events.ErrIDConflict)
}

// TestIDConflictIs409: an id the log holds for another event, in any
// State, is a 409 of its own code, not a retryable conflict.
func TestIDConflictIs409(t *testing.T) {
	f := newFixture(t)
	id := uuid.NewString() // a client's random id: a derived one names its content
	r := f.post(t, fmt.Sprintf(`{"id":%q,"type":"victims-declared","state":"SWE","date":"2012-06-01","source":"test: access"}`, id))
	require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
	before, err := f.log.Head(context.Background())
	require.NoError(t, err)
	r = f.post(t, fmt.Sprintf(`{"id":%q,"type":"victims-declared","state":"LAO","date":"2012-06-01","source":"test: access"}`, id))
	require.Equal(t, http.StatusConflict, r.code, "the id of an event about Sweden, for one about Lao PDR: %s", r.body)
	e := apiError(t, r)
	assert.Equal(t, httpapi.CodeIDConflict, e.Code)
	require.Len(t, e.Fields, 1)
	assert.Equal(t, "id", e.Fields[0].Field)
	after, err := f.log.Head(context.Background())
	require.NoError(t, err)
	assert.Equal(t, before.LastSeq, after.LastSeq, "nothing recorded")

	// As the log says it (events.ErrIDConflict), however long ago the id
	// was recorded.
	ts := f.serve(t, httpapi.Access{Token: testToken}, func(c *httpapi.Config) { c.Recorder = idTaken{c.Recorder} })
	r = call(t, ts, "POST", "/v1/events", bearer("Content-Type", "application/json"),
		[]byte(`{"type":"victims-declared","state":"LAO","date":"2012-06-02","source":"test: an id taken"}`))
	require.Equal(t, http.StatusConflict, r.code, "%s", r.body)
	e = apiError(t, r)
	assert.Equal(t, httpapi.CodeIDConflict, e.Code)
	assert.Contains(t, e.Message, "nothing was recorded")
}

// TestHostName: the names --http-host takes, in the form Host headers are
// compared in.
func TestHostName(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"ccm.example.org", "ccm.example.org", true},
		{"CCM.Example.ORG.", "ccm.example.org", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"[::1]", "::1", true},
		{"::1", "::1", true},
		{"[2001:DB8::1]", "2001:db8::1", true},
		{"", "", false},
		{"ccm.example.org:8443", "", false},
		{"https://ccm.example.org", "", false},
		{"ccm.example.org/v1", "", false},
		{"user@ccm.example.org", "", false},
		{"[127.0.0.1]", "", false},
		{"*.example.org", "", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := httpapi.HostName(c.in)
			if !c.ok {
				require.ErrorIs(t, err, httpapi.ErrBadHostName, "%q", c.in)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}
