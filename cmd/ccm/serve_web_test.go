package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestServeWebView: ccm serve answers the web view at / and the page
// paths on its HTTP port, under the API's Access, while /v1/, /healthz and
// /metrics stay the API's.
func TestServeWebView(t *testing.T) {
	s := startServe(t, t.TempDir(), "--http", "127.0.0.1:0")
	base := "http://" + s.addr
	c := http.DefaultClient
	for _, p := range []string{"/", "/?as_of=3MSP", "/states", "/states/SWE", "/meetings", "/signin", "/assets/app.css"} {
		code, h, body := httpDo(t, c, "GET", base+p, "", "", "")
		assert.Equal(t, http.StatusOK, code, "GET %s: %s", p, body)
		assert.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self'", p)
		if !strings.HasPrefix(p, "/assets/") {
			assert.Contains(t, h.Get("Content-Type"), "text/html", p)
		}
	}
	code, _, body := httpDo(t, c, "GET", base+"/?as_of=someday", "", "", "")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "<code>as_of</code>")
	for _, p := range []string{"/v1/meetings", "/healthz", "/metrics"} {
		code, h, _ := httpDo(t, c, "GET", base+p, "", "", "")
		assert.Equal(t, http.StatusOK, code, p)
		assert.NotContains(t, h.Get("Content-Type"), "text/html", "%s stays the API's", p)
	}
	code, h, _ := httpDo(t, c, "GET", base+"/v1/nowhere", "", "", "")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, "application/json", h.Get("Content-Type"), "an unknown API path is the API's 404")
	code, _, _ = httpDo(t, c, "GET", base+"/", "", "rebound.example", "")
	assert.Equal(t, http.StatusMisdirectedRequest, code, "the web view answers only the API's names")
}
