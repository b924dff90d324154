package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
)

// TestGateCookie: under TLS the read cookie is Secure and __Host-
// prefixed; it expires after ReadCookieTTL; a token the server does not
// hold signs nobody in; a Host it does not answer is refused first.
func TestGateCookie(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	g := httpapi.NewGate(httpapi.Access{Addr: "192.0.2.10:443", TLS: true, Token: testToken, Hosts: []string{"ccm.example.org"}}, clock)
	form := func(origin string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "https://ccm.example.org/signin", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		return r
	}
	c, e := g.SignIn(form("https://ccm.example.org"), testToken)
	require.Nil(t, e)
	assert.Equal(t, "__Host-ccm-read", c.Name)
	assert.True(t, c.Secure)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, "/", c.Path)
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)

	read := httptest.NewRequest(http.MethodGet, "https://ccm.example.org/states", nil)
	read.AddCookie(c)
	assert.Nil(t, g.CheckRead(read), "the cookie is a read credential")
	assert.True(t, g.SignedIn(read))
	now = now.Add(httpapi.ReadCookieTTL + time.Second)
	assert.NotNil(t, g.CheckRead(read), "an expired cookie is not")

	_, e = g.SignIn(form("http://ccm.example.org"), testToken)
	require.NotNil(t, e, "the http origin of an https server is another origin")
	assert.Equal(t, http.StatusForbidden, e.Status)
	_, e = g.SignIn(form("null"), testToken)
	require.NotNil(t, e)
	assert.Equal(t, http.StatusForbidden, e.Status, "an opaque origin")
	bad := form("")
	bad.Host = "evil.example"
	_, e = g.SignIn(bad, testToken)
	require.NotNil(t, e)
	assert.Equal(t, http.StatusMisdirectedRequest, e.Status)

	none := httpapi.NewGate(httpapi.Access{Addr: "192.0.2.10:443", TLS: true, Hosts: []string{"ccm.example.org"}}, clock)
	assert.False(t, none.CanSignIn(), "mutual TLS only: no token to sign in with")
	_, e = none.SignIn(form(""), "")
	require.NotNil(t, e)
	assert.Equal(t, http.StatusUnauthorized, e.Status)

	for in, want := range map[string]string{"/states?as_of=3MSP": "/states?as_of=3MSP", "//evil.example": "/",
		"https://evil.example/": "/", "/\\evil.example": "/", "states": "/", "": "/"} {
		assert.Equal(t, want, httpapi.LocalPath(in), "LocalPath(%q)", in)
	}
}
