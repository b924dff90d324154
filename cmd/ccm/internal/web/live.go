package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
)

// streamLife bounds one live stream: the browser's EventSource opens the
// next by itself, and no connection outlives the server's write timeout.
const streamLife = time.Minute

// stream sends a server-sent event "seq" with the live fold's sequence
// whenever it moves, and a comment every 15 seconds so that proxies keep
// the connection.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ViewsSeq == nil {
		s.fail(w, r, &pageError{Status: http.StatusNotFound, Title: "Not found", Message: "this server has no live fold to follow"})
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(streamLife + 10*time.Second))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	last := s.cfg.ViewsSeq()
	fmt.Fprintf(w, "retry: 2000\nevent: seq\ndata: %d\n\n", last)
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	end := time.After(streamLife)
	keep := time.Now()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-end:
			return
		case <-tick.C:
		}
		seq := s.cfg.ViewsSeq()
		switch {
		case seq != last:
			last = seq
			fmt.Fprintf(w, "event: seq\ndata: %d\n\n", seq)
		case time.Since(keep) > 15*time.Second:
			fmt.Fprint(w, ": keep-alive\n\n")
		default:
			continue
		}
		keep = time.Now()
		if rc.Flush() != nil {
			return
		}
	}
}

// asset is an embedded file.
type asset struct {
	body  []byte
	ctype string
}

// embedded are the assets; assetVersion changes with their content, so
// that a page always asks for the assets of its own build.
var embedded, assetVersion = loadAssets()

func loadAssets() (map[string]asset, string) {
	out := map[string]asset{}
	h := sha256.New()
	_ = fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write(b)
		out[path.Base(p)] = asset{body: b, ctype: mime.TypeByExtension(path.Ext(p))}
		return nil
	})
	return out, hex.EncodeToString(h.Sum(nil))[:12]
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("name")]
	if !ok {
		s.fail(w, r, &pageError{Status: http.StatusNotFound, Title: "Not found", Message: "no such asset"})
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	// The page names the assets with their version: they may be kept.
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	_, _ = w.Write(a.body)
}

// signInPage is the form that takes the token; it needs no credential.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), []string{"next"}); e != nil {
		s.fail(w, r, e)
		return
	}
	p := &page{Title: "Sign in", Nav: "signin", view: &view{}, Next: httpapi.LocalPath(param(r, "next")),
		Data: signInData{SignedIn: s.gate.SignedIn(r)}}
	s.render(w, r, http.StatusOK, "signin", p)
}

type signInData struct {
	SignedIn bool
	Failed   string
}

// maxForm bounds a sign-in form: a token and a return path.
const maxForm = 4 << 10

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, badRequest("The sign-in form could not be read: "+err.Error()))
		return
	}
	next := httpapi.LocalPath(r.PostForm.Get("next"))
	c, e := s.gate.SignIn(r, r.PostForm.Get("token"))
	if e != nil {
		if e.Status != http.StatusUnauthorized {
			s.fail(w, r, fromAPI(e))
			return
		}
		p := &page{Title: "Sign in", Nav: "signin", view: &view{}, Next: next, Data: signInData{Failed: e.Message}}
		s.render(w, r, http.StatusUnauthorized, "signin", p)
		return
	}
	http.SetCookie(w, c)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	c, e := s.gate.SignOut(r)
	if e != nil {
		s.fail(w, r, fromAPI(e))
		return
	}
	http.SetCookie(w, c)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
