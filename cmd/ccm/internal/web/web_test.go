package web_test

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

type answer struct {
	code   int
	header http.Header
	body   string
}

// get sends a GET with the given headers (a "Host" header sets the Host).
func get(t *testing.T, ts *httptest.Server, path string, kv ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "Host" {
			req.Host = kv[i+1]
		} else {
			req.Header.Add(kv[i], kv[i+1])
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(t, err, "GET %s", path)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{res.StatusCode, res.Header, string(b)}
}

// TestPagesWithoutABrowser: every page answers with HTML under the CSP,
// from the engine's answers; filters and sorting work by query
// parameters; bad parameters are 400 pages that name them.
func TestPagesWithoutABrowser(t *testing.T) {
	lg := newLedger(t, nil)
	ts := lg.serve(t, httpapi.Access{Token: testToken})
	ctx := context.Background()
	b, err := lg.engine.Resolve(ctx, "3MSP", "", events.DateOf(today))
	require.NoError(t, err)
	rep, err := lg.engine.Report(ctx, b)
	require.NoError(t, err)

	for _, p := range []string{"/", "/?as_of=3MSP", "/states?as_of=3MSP", "/states/SWE?as_of=3MSP", "/states/lao", "/diff?from=1MSP&to=3MSP", "/diff", "/meetings"} {
		a := get(t, ts, p)
		require.Equal(t, http.StatusOK, a.code, "GET %s:\n%s", p, a.body)
		assert.Equal(t, "text/html; charset=utf-8", a.header.Get("Content-Type"), p)
		csp := a.header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'self'", p)
		assert.NotContains(t, csp, "unsafe-inline", p)
		assert.NotContains(t, a.body, "<script>", "no inline script: %s", p)
		assert.NotContains(t, a.body, "style=", "no inline style: %s", p)
	}

	a := get(t, ts, "/?as_of=3MSP")
	n := strconv.Itoa(len(rep.StatesParties))
	assert.Contains(t, a.body, `data-list="states_parties">`+n+`</a>`, "the count of States Parties as of the 3MSP links to them")

	a = get(t, ts, "/states?as_of=3MSP&list=states_parties&sort=iso3&dir=desc")
	require.Equal(t, http.StatusOK, a.code, a.body)
	assert.Contains(t, a.body, `<span class="count">`+n+`</span>`)
	last := rep.StatesParties[len(rep.StatesParties)-1]
	assert.Less(t, strings.Index(a.body, ">"+last+"<"), strings.Index(a.body, ">"+rep.StatesParties[0]+"<"), "sorted by code, descending")

	a = get(t, ts, "/states.csv?as_of=3MSP&list=states_parties")
	require.Equal(t, http.StatusOK, a.code, a.body)
	recs, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
	require.NoError(t, err)
	assert.Len(t, recs, len(rep.StatesParties)+1, "a header and one row per State Party")
	all := get(t, ts, "/v1/states?as_of=3MSP&format=csv")
	require.Equal(t, http.StatusOK, all.code, all.body)
	allRecs, err := csv.NewReader(strings.NewReader(all.body)).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, allRecs[0], recs[0], "the rows shown download in the API's CSV format")
	assert.Contains(t, get(t, ts, "/states?as_of=3MSP").body, `href="/v1/states?as_of=3MSP&amp;format=csv"`, "the page links to the API's download")

	for p, field := range map[string]string{
		"/?as_of=2012-13-40":        "as_of",
		"/?as_of=99MSP":             "as_of",
		"/?known_at=yesterday":      "known_at",
		"/diff?known_at=yesterday":  "known_at",
		"/?asof=3MSP":               "asof",
		"/states?sort=colour":       "sort",
		"/states?list=nonsense":     "list",
		"/diff?from=3MSP&to=1MSP":   "from",
		"/?annual_rule=whenever":    "annual_rule",
		"/?as_of=3MSP&as_of=4MSP":   "as_of",
		"/states/SWE?region=Europe": "region",
	} {
		a := get(t, ts, p)
		assert.Equal(t, http.StatusBadRequest, a.code, "GET %s", p)
		assert.Contains(t, a.body, "<code>"+field+"</code>", "GET %s names the parameter", p)
	}
	assert.Equal(t, http.StatusNotFound, get(t, ts, "/states/XYZ").code)
	assert.Equal(t, http.StatusNotFound, get(t, ts, "/nowhere").code)
	assert.Equal(t, http.StatusMisdirectedRequest, get(t, ts, "/", "Host", "evil.example").code, "DNS rebinding")

	api := get(t, ts, "/v1/report?as_of=3MSP")
	require.Equal(t, http.StatusOK, api.code, "the API keeps /v1/")
	assert.Equal(t, "application/json", api.header.Get("Content-Type"))
	assert.Equal(t, "application/json", get(t, ts, "/v1/nowhere").header.Get("Content-Type"), "an unknown API path is the API's 404")
	assert.Equal(t, http.StatusOK, get(t, ts, "/healthz").code)
}

// TestBrowserCredential: beyond loopback, pages need a credential; the
// sign-in form trades the token for a read-only cookie (HttpOnly,
// SameSite=Strict) that the API accepts for reads and never for writes,
// and a form posted from another site is refused.
func TestBrowserCredential(t *testing.T) {
	lg := newLedger(t, []events.Envelope{})
	ts := lg.serve(t, httpapi.Access{Hosts: []string{"ccm.example.org"}, Token: testToken})
	host := "ccm.example.org"
	origin := "http://" + host + ":" + portOf(t, ts)

	a := get(t, ts, "/states", "Host", host)
	require.Equal(t, http.StatusUnauthorized, a.code, "a public name needs a credential")
	assert.Contains(t, a.body, "/signin?next=%2fstates", "the 401 page offers the sign-in")
	assert.Equal(t, http.StatusOK, get(t, ts, "/signin", "Host", host).code, "the form itself is open")
	assert.Equal(t, http.StatusOK, get(t, ts, "/assets/app.css", "Host", host).code, "so are its assets")

	post := func(form url.Values, kv ...string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/signin", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(kv); i += 2 {
			req.Header.Set(kv[i], kv[i+1])
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	res := post(url.Values{"token": {testToken}, "next": {"/states"}}, "Origin", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, res.StatusCode, "a sign-in posted from another site")
	assert.Empty(t, res.Cookies())
	res = post(url.Values{"token": {"wrong-token-wrong-token-wrong-token"}}, "Origin", origin)
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	assert.Empty(t, res.Cookies())
	res = post(url.Values{"token": {testToken}, "next": {"//evil.example/x"}}, "Origin", origin)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/", res.Header.Get("Location"), "the return address stays on this server")
	res = post(url.Values{"token": {testToken}, "next": {"/states?as_of=3MSP"}}, "Origin", origin)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/states?as_of=3MSP", res.Header.Get("Location"))
	require.Len(t, res.Cookies(), 1)
	c := res.Cookies()[0]
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.NotContains(t, c.Value, testToken, "the cookie is not the token")
	cookie := c.Name + "=" + c.Value

	assert.Equal(t, http.StatusOK, get(t, ts, "/states", "Host", host, "Cookie", cookie).code, "a page with the cookie")
	assert.Equal(t, http.StatusOK, get(t, ts, "/v1/meetings", "Host", host, "Cookie", cookie).code, "an API read with the cookie")
	assert.Equal(t, http.StatusUnauthorized, get(t, ts, "/states", "Host", host, "Cookie", c.Name+"=x"+c.Value[1:]).code, "a forged cookie")

	req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/events", strings.NewReader(`{"type":"signed","state":"SWE","date":"2008-12-03","source":"test"}`))
	require.NoError(t, err)
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", cookie)
	wres, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	wres.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, wres.StatusCode, "the cookie never authorises a write")

	sts, err := lg.engine.Statuses(context.Background(), projections.Bounds{AsOf: events.DateOf(today)})
	require.NoError(t, err)
	assert.Empty(t, sts, "nothing was recorded")
}

func portOf(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(ts.URL)
	require.NoError(t, err)
	return u.Port()
}
