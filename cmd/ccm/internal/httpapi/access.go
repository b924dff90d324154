package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Access says under which names the API answers and who may use it. The
// zero value answers localhost, 127.0.0.1 and [::1] only, accepts no
// credential and keeps reads closed.
type Access struct {
	// Addr is the address the API listens on, as bound (host:port). Its
	// host is an allowed Host name unless it is unspecified (0.0.0.0, ::);
	// its port is the port of every allowed origin. On a loopback address,
	// reads under a loopback name (localhost, 127.0.0.1, [::1], the
	// address) need no credential: a person on the machine can browse,
	// but a proxy there forwarding under a public name (Hosts) does not
	// open them to its clients.
	Addr string
	// Hosts are further Host names the API answers: DNS names or IP
	// addresses, without port (see HostName).
	Hosts []string
	// TLS says the listener serves HTTPS, so allowed origins are https.
	TLS bool
	// Token is the bearer token that authorises a request. Empty accepts
	// no token: only a verified client certificate.
	Token string
	// ReadOnly refuses every write.
	ReadOnly bool
	// PublicReads lets anyone read on a non-loopback address too.
	PublicReads bool
}

// defaultHosts are the Host names every server answers.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Realm is the realm of the WWW-Authenticate challenge.
const Realm = "ccm-ledger"

// ErrBadHostName marks a --http-host value that is not a bare DNS name or
// IP address.
var ErrBadHostName = errors.New("not a host name")

// HostName returns the canonical form of a DNS name or IP address (an IPv6
// address with or without brackets), as Host headers are compared: lower
// case, no trailing dot. A scheme, port, path or user is refused with
// ErrBadHostName.
func HostName(s string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if v, ok := strings.CutPrefix(h, "["); ok {
		v, ok = strings.CutSuffix(v, "]")
		if ip := net.ParseIP(v); ok && ip != nil && strings.Contains(v, ":") {
			return ip.String(), nil
		}
		return "", fmt.Errorf("%q: %w: brackets hold an IPv6 address", s, ErrBadHostName)
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), nil
	}
	if h == "" || len(h) > 253 {
		return "", fmt.Errorf("%q: %w: want a DNS name or an IP address", s, ErrBadHostName)
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "", fmt.Errorf("%q: %w: %q is not allowed (give the name alone, without scheme or port)", s, ErrBadHostName, c)
		}
	}
	return h, nil
}

// access is what a route needs.
type access int

const (
	accessRead  access = iota // open on loopback or with PublicReads, else a credential
	accessWrite               // always a credential
	accessOpen                // never a credential: the health check
)

func (a access) String() string {
	return [...]string{"read", "write", "open"}[a]
}

// methodAccess is the access of a request no route matches, so that an
// unknown path reveals no more than a known one.
func methodAccess(method string) access {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return accessRead
	}
	return accessWrite
}

// guard enforces an Access.
type guard struct {
	hosts    map[string]bool
	local    map[string]bool // the loopback names, when reads there are open
	scheme   string
	port     string
	token    [sha256.Size]byte
	hasToken bool
	public   bool // reads are open under every allowed name
	readOnly bool
	// cookieKey signs the read cookie of browsers (see browser.go); it is
	// derived from the token, so a new token ends every cookie.
	cookieKey [sha256.Size]byte
	now       func() time.Time
}

func newGuard(a Access) *guard {
	g := &guard{hosts: map[string]bool{}, local: map[string]bool{}, scheme: "http", readOnly: a.ReadOnly, public: a.PublicReads, now: time.Now}
	if a.TLS {
		g.scheme = "https"
	}
	for _, h := range defaultHosts {
		g.hosts[h] = true
	}
	for _, h := range a.Hosts {
		if n, err := HostName(h); err == nil {
			g.hosts[n] = true
		}
	}
	host, port, err := net.SplitHostPort(a.Addr)
	if err == nil {
		g.port = port
		ip := net.ParseIP(host)
		if ip != nil && !ip.IsUnspecified() {
			g.hosts[ip.String()] = true
		}
		if ip != nil && ip.IsLoopback() {
			for _, h := range append([]string{ip.String()}, defaultHosts...) {
				g.local[h] = true
			}
		}
	}
	if a.Token != "" {
		g.token, g.hasToken = sha256.Sum256([]byte(a.Token)), true
		g.cookieKey = cookieKey(a.Token)
	}
	return g
}

// check refuses a request the Access does not allow, in this order: a Host
// the server does not answer (421), a write to a read-only API (403), a
// write from another origin (403), a missing or wrong credential (401).
func (g *guard) check(r *http.Request, a access) *Error {
	name, known := g.knownHost(r.Host)
	if !known {
		return errorf(http.StatusMisdirectedRequest, CodeUnknownHost,
			fmt.Sprintf("this server does not answer to the name %q (Host): a name it is not configured for is refused against DNS rebinding; the operator adds names with --http-host", r.Host))
	}
	if a == accessOpen {
		return nil
	}
	if a == accessWrite && g.readOnly {
		return errorf(http.StatusForbidden, CodeReadOnly, "the API is read-only (--http-read-only): nothing can be recorded through it")
	}
	if o := r.Header.Get("Origin"); a == accessWrite && o != "" && !g.sameOrigin(o) {
		return errorf(http.StatusForbidden, CodeCrossOrigin,
			fmt.Sprintf("a write from the origin %q is refused: only pages served by this API's own names may write", o))
	}
	ok, given := g.credential(r)
	if !ok && !given && a == accessRead {
		// A browser's read cookie counts for reads only: a write always
		// needs the token itself, which no page can send on its own.
		ok = g.readCookie(r)
	}
	switch {
	case ok:
		return nil
	case given:
		e := errorf(http.StatusUnauthorized, CodeUnauthorized, "the credential is not valid: send Authorization: Bearer TOKEN with the server's token, or a client certificate it trusts")
		e.challenge = `, error="invalid_token"`
		return e
	case a == accessWrite || !g.public && !g.local[name]:
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "a credential is required: send Authorization: Bearer TOKEN with the server's token (ccm serve names its file), or a client certificate it trusts")
	}
	return nil
}

// knownHost returns the name a Host header gives, and whether it names
// this server.
func (g *guard) knownHost(hostport string) (string, bool) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	n, err := HostName(host)
	return n, err == nil && g.hosts[n]
}

// sameOrigin reports whether an Origin header is one of the allowed names
// with the listener's scheme and port.
func (g *guard) sameOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != g.scheme || u.Path != "" || u.User != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := HostName(u.Hostname())
	return err == nil && g.hosts[n] && port == g.port
}

// credential reports whether the request carries a valid credential, and
// whether it carries one at all. A client certificate counts only if the
// TLS handshake verified it; a bearer token is compared in constant time
// (of its hash, so that not even its length leaks).
func (g *guard) credential(r *http.Request) (ok, given bool) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true, true
	}
	vs := r.Header.Values("Authorization")
	if len(vs) == 0 {
		return false, false
	}
	scheme, tok, found := strings.Cut(vs[0], " ")
	if len(vs) > 1 || !found || !strings.EqualFold(scheme, "Bearer") {
		return false, true
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return g.hasToken && subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1, true
}

// securityHeaders are set on every answer: nothing is sniffed, cached,
// framed, embedded by another origin or sent on as a referrer.
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}
