package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The browser credential. A browser cannot send the bearer token when a
// person follows a link, so the web view trades the token, typed once into
// a form, for a cookie that the guard accepts for reads only:
//
//   - the cookie is not the token: it is an expiry and an HMAC of it under a
//     key derived from the token, so a leaked cookie gives reads until it
//     expires, never writes, and a new token ends every cookie;
//   - HttpOnly (no script reads it), SameSite=Strict (no other site's page
//     makes the browser send it), Secure and __Host- prefixed under TLS;
//   - the form is posted only from the server's own origin (Origin or
//     Sec-Fetch-Site), so another site cannot sign a browser in.

// ReadCookieTTL is how long a browser's read cookie is valid.
const ReadCookieTTL = 12 * time.Hour

// cookieName is the read cookie's name: with the __Host- prefix under TLS,
// which browsers accept only Secure, for path / and without a Domain.
func (g *guard) cookieName() string {
	if g.scheme == "https" {
		return "__Host-ccm-read"
	}
	return "ccm-read"
}

func cookieKey(token string) [sha256.Size]byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("ccm-ledger/browser-read-cookie/1"))
	var k [sha256.Size]byte
	copy(k[:], m.Sum(nil))
	return k
}

// cookieValue is the cookie that is valid until expires.
func (g *guard) cookieValue(expires time.Time) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(expires.Unix()))
	m := hmac.New(sha256.New, g.cookieKey[:])
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(b))
}

// readCookie reports whether the request carries a read cookie the token
// signed that has not expired.
func (g *guard) readCookie(r *http.Request) bool {
	if !g.hasToken {
		return false
	}
	c, err := r.Cookie(g.cookieName())
	if err != nil {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) != 8+sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, g.cookieKey[:])
	m.Write(raw[:8])
	if !hmac.Equal(m.Sum(nil), raw[8:]) {
		return false
	}
	return g.now().Unix() < int64(binary.BigEndian.Uint64(raw[:8]))
}

// Gate is an Access as the web view applies it: the same Host names and
// credentials as the API's reads, and the browser's sign-in.
type Gate struct{ g *guard }

// NewGate returns the gate of an Access; now is the clock of the cookies'
// expiry (nil: time.Now).
func NewGate(a Access, now func() time.Time) *Gate {
	g := newGuard(a)
	if now != nil {
		g.now = now
	}
	return &Gate{g: g}
}

// CheckRead refuses a read the Access does not allow, as the API would
// (421 for an unknown Host, 401 without a credential).
func (gt *Gate) CheckRead(r *http.Request) *Error { return gt.g.check(r, accessRead) }

// CheckHost refuses a Host the server does not answer (421).
func (gt *Gate) CheckHost(r *http.Request) *Error { return gt.g.check(r, accessOpen) }

// CanSignIn reports whether a browser can sign in with the token: the
// server has one.
func (gt *Gate) CanSignIn() bool { return gt.g.hasToken }

// SignedIn reports whether the request carries a valid read cookie.
func (gt *Gate) SignedIn(r *http.Request) bool { return gt.g.readCookie(r) }

// SignIn checks a sign-in form's request and token and returns the read
// cookie to set: 403 for a form posted from another origin, 401 for a
// wrong token.
func (gt *Gate) SignIn(r *http.Request, token string) (*http.Cookie, *Error) {
	if e := gt.CheckHost(r); e != nil {
		return nil, e
	}
	if !gt.sameSite(r) {
		return nil, errorf(http.StatusForbidden, CodeCrossOrigin, "a sign-in from another site is refused: open the sign-in page of this server and sign in there")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if !gt.g.hasToken || !hmac.Equal(sum[:], gt.g.token[:]) {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "the token is not valid: give the token in the file that ccm serve names at start")
	}
	exp := gt.g.now().Add(ReadCookieTTL)
	return &http.Cookie{Name: gt.g.cookieName(), Value: gt.g.cookieValue(exp), Path: "/", Expires: exp,
		MaxAge: int(ReadCookieTTL / time.Second), HttpOnly: true, Secure: gt.g.scheme == "https", SameSite: http.SameSiteStrictMode}, nil
}

// SignOut returns the cookie that removes the read cookie; like SignIn, it
// is refused (403) from another site.
func (gt *Gate) SignOut(r *http.Request) (*http.Cookie, *Error) {
	if e := gt.CheckHost(r); e != nil {
		return nil, e
	}
	if !gt.sameSite(r) {
		return nil, errorf(http.StatusForbidden, CodeCrossOrigin, "a sign-out from another site is refused")
	}
	return &http.Cookie{Name: gt.g.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: gt.g.scheme == "https", SameSite: http.SameSiteStrictMode}, nil
}

// sameSite reports whether a form was posted from the server's own
// origin. Browsers send Origin on every POST, and Sec-Fetch-Site; a
// request with neither comes from no browser, which no other site drives.
func (gt *Gate) sameSite(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o != "null" && gt.g.sameOrigin(o)
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	return true
}

// LocalPath returns p when it is a path of this server ("/..."), else "/":
// a sign-in's return address must not lead to another site.
func LocalPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n\\") {
		return "/"
	}
	return u.RequestURI()
}
