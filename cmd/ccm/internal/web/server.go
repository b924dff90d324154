package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/cmd/ccm/internal/httpapi"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Querier answers the views the pages show (projections.Engine).
type Querier interface {
	Resolve(ctx context.Context, asOf, knownAt string, today events.Date) (projections.Bounds, error)
	Status(ctx context.Context, iso3 string, b projections.Bounds) (projections.Status, error)
	Statuses(ctx context.Context, b projections.Bounds) ([]projections.Status, error)
	Report(ctx context.Context, b projections.Bounds) (projections.Report, error)
	Diff(ctx context.Context, from, to projections.Bounds) (projections.Diff, error)
	History(ctx context.Context, iso3 string, b projections.Bounds) (projections.History, error)
	Meetings(ctx context.Context, b projections.Bounds) ([]projections.Meeting, error)
	Fold(ctx context.Context, b projections.Bounds) (*projections.Fold, error)
}

// Config wires the web view.
type Config struct {
	// Querier returns the query side for the given options (one per
	// annual-report rule; the server keeps them).
	Querier func(projections.Options) Querier
	// ViewsSeq, when set, gives the last sequence the live fold has read:
	// pages update when it moves.
	ViewsSeq func() uint64
	// Access is the API's: the pages answer the same names and
	// credentials.
	Access httpapi.Access
	// StatesCSV is the path of the CSV download of /states, to which the
	// page's own parameters are added; "" is the web view's /states.csv.
	StatesCSV string
	// Now is the clock ("today" for as_of); default time.Now.
	Now func() time.Time
	// Timeout bounds the work of one page; default 30 seconds.
	Timeout time.Duration
	// Poll is how often the live stream looks at ViewsSeq; default 500 ms.
	Poll time.Duration
	// Logger receives internal errors; default the standard logger.
	Logger *log.Logger
}

// Server is the web view. It is an http.Handler.
type Server struct {
	cfg    Config
	gate   *httpapi.Gate
	mux    *http.ServeMux
	pages  map[string]*template.Template
	assets map[string]asset
	mu     sync.Mutex
	byRule map[string]Querier
	cache  *pageCache
	done   chan struct{}
	close  sync.Once
}

// New returns the web view.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Default()
	}
	if cfg.StatesCSV == "" {
		cfg.StatesCSV = "/states.csv"
	}
	s := &Server{cfg: cfg, gate: httpapi.NewGate(cfg.Access, nil), mux: http.NewServeMux(),
		pages: parsePages(), assets: embedded, byRule: map[string]Querier{}, done: make(chan struct{})}
	if cfg.ViewsSeq != nil {
		s.cache = newPageCache(maxCached)
	}
	stateParams := append([]string{"q", "region", "treaty", "list", "sort", "dir"}, viewParams...)
	for _, rt := range []struct {
		pattern string
		params  []string
		build   func(*Server, *http.Request) (*shown, *pageError)
	}{
		{"GET /{$}", viewParams, (*Server).overview},
		{"GET /states", stateParams, (*Server).states},
		{"GET /states/{iso3}", viewParams, (*Server).profile},
		{"GET /diff", []string{"from", "to", "known_at", "annual_rule"}, (*Server).diff},
		{"GET /meetings", []string{"known_at", "annual_rule"}, (*Server).meetings},
	} {
		rt := rt
		s.handle(rt.pattern, rt.params, func(w http.ResponseWriter, r *http.Request) *pageError {
			sh, e := s.cache.get(r, s.today(), s.seq(), func() (*shown, *pageError) { return rt.build(s, r) })
			if e == nil {
				s.render(w, r, http.StatusOK, sh.name, sh.page.copy())
			}
			return e
		})
	}
	s.handle("GET /states.csv", stateParams, s.statesCSV)
	s.mux.HandleFunc("GET /events/stream", s.stream)
	s.mux.HandleFunc("GET /assets/{name}", s.asset)
	s.mux.HandleFunc("GET /signin", s.signInPage)
	s.mux.HandleFunc("POST /signin", s.signIn)
	s.mux.HandleFunc("POST /signout", s.signOut)
	return s
}

// handle routes a page: its parameters checked, its work bounded in time,
// its failure shown as a page.
func (s *Server) handle(pattern string, params []string, h func(http.ResponseWriter, *http.Request) *pageError) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if e := checkParams(r.URL.Query(), params); e != nil {
			s.fail(w, r, e)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		if e := h(w, r.WithContext(ctx)); e != nil {
			s.fail(w, r, e)
		}
	})
}

// seq is the live fold's sequence, 0 without one.
func (s *Server) seq() uint64 {
	if s.cfg.ViewsSeq == nil {
		return 0
	}
	return s.cfg.ViewsSeq()
}

// Close ends the live streams, so that a server shutting down does not
// wait for browsers to leave.
func (s *Server) Close() { s.close.Do(func() { close(s.done) }) }

// Mount returns the handler of `ccm serve`'s HTTP port: /v1/, /healthz and
// /metrics go to the API, every other path to the web view.
func Mount(api http.Handler, s *Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/metrics", api)
	mux.Handle("/", s)
	return mux
}

// viewParams are the parameters of every view: the API's bounds.
var viewParams = []string{"as_of", "known_at", "annual_rule"}

// ServeHTTP serves the pages. Every request passes the Access first (the
// sign-in form itself needs only a known Host).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Logger.Printf("web: panic serving %s %s: %v", r.Method, r.URL.Path, v)
			s.fail(w, r, &pageError{Status: http.StatusInternalServerError, Title: "Internal error", Message: "internal error"})
		}
	}()
	securityHeaders(w.Header())
	signInPath := r.URL.Path == "/signin" || r.URL.Path == "/signout"
	if strings.HasPrefix(r.URL.Path, "/assets/") || signInPath {
		if e := s.gate.CheckHost(r); e != nil {
			s.fail(w, r, fromAPI(e))
			return
		}
	} else if e := s.gate.CheckRead(r); e != nil {
		s.fail(w, r, fromAPI(e))
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.fail(w, r, &pageError{Status: http.StatusNotFound, Title: "Not found", Message: "There is no page " + r.URL.Path + " here."})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// securityHeaders are set on every answer: scripts, styles and images
// from this origin only and no inline script, no framing, no referrer,
// nothing cached.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "+
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// pageError is a page's failure, shown as an HTML page with its status.
type pageError struct {
	Status  int
	Title   string
	Message string
	Fields  []httpapi.FieldError
	// SignIn offers the sign-in form (a 401 a browser can resolve).
	SignIn bool
}

func fromAPI(e *httpapi.Error) *pageError {
	p := &pageError{Status: e.Status, Title: http.StatusText(e.Status), Message: e.Message, Fields: e.Fields}
	if e.Status == http.StatusUnauthorized {
		p.Title, p.SignIn = "Sign in to read", true
	}
	return p
}

func badRequest(msg string, fields ...httpapi.FieldError) *pageError {
	return &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: msg, Fields: fields}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, e *pageError) {
	if e.Status >= 500 {
		s.cfg.Logger.Printf("web: %s: %s", r.URL.Path, e.Message)
	}
	if e.SignIn && !s.gate.CanSignIn() {
		e.SignIn = false
	}
	p := &page{Title: e.Title, Error: e, Next: httpapi.LocalPath(r.URL.RequestURI()), view: &view{}}
	s.render(w, r, e.Status, "error", p)
}

// checkParams refuses unknown and repeated query parameters, as the API
// does: a misspelt as_of must not silently give today's view. An empty
// value counts as absent (a form's empty field).
func checkParams(q url.Values, allowed []string) *pageError {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	var fields []httpapi.FieldError
	for k, vs := range q {
		n := 0
		for _, v := range vs {
			if strings.TrimSpace(v) != "" {
				n++
			}
		}
		switch {
		case !ok[k]:
			fields = append(fields, httpapi.FieldError{Field: k, Reason: "is not a parameter of this page (" + strings.Join(allowed, ", ") + ")"})
		case n > 1:
			fields = append(fields, httpapi.FieldError{Field: k, Reason: "is given more than once"})
		}
	}
	if len(fields) == 0 {
		return nil
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	return badRequest("This page does not take these parameters as given.", fields...)
}

// param is the first non-empty value of a query parameter.
func param(r *http.Request, name string) string {
	for _, v := range r.URL.Query()[name] {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// querier returns the query side for the annual_rule parameter, made
// once per rule.
func (s *Server) querier(r *http.Request) (Querier, *pageError) {
	rule := aggregates.DefaultAnnualRule
	if name := param(r, "annual_rule"); name != "" {
		var ok bool
		if rule, ok = aggregates.AnnualRuleByName(name); !ok {
			return nil, badRequest("Unknown annual-report rule.", fieldf("annual_rule", "%q is not one of %s", name, ruleNames()))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.byRule[rule.Name]; ok {
		return q, nil
	}
	q := s.cfg.Querier(projections.Options{AnnualRule: rule})
	s.byRule[rule.Name] = q
	return q, nil
}

func ruleNames() string {
	var names []string
	for _, r := range aggregates.AnnualRules() {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

func (s *Server) today() events.Date { return events.DateOf(s.cfg.Now()) }

// resolve resolves a date or meeting parameter and known_at; a bad value
// of either is a 400 that names it.
func (s *Server) resolve(r *http.Request, q Querier, asOfParam string) (projections.Bounds, *pageError) {
	return s.resolveValue(r, q, asOfParam, param(r, asOfParam))
}

// resolveValue is resolve of a given value of the parameter.
func (s *Server) resolveValue(r *http.Request, q Querier, asOfParam, value string) (projections.Bounds, *pageError) {
	b, err := q.Resolve(r.Context(), value, param(r, "known_at"), s.today())
	if err == nil {
		return b, nil
	}
	msg := err.Error()
	field := asOfParam
	if strings.HasPrefix(msg, "known-at") {
		field = "known_at"
	}
	if errors.Is(err, projections.ErrUnknownMeeting) || strings.HasPrefix(msg, "as-of") || strings.HasPrefix(msg, "known-at") {
		return b, badRequest("The "+field+" parameter is not a valid value.", httpapi.FieldError{Field: field, Reason: msg})
	}
	return b, s.internal(err)
}

func (s *Server) internal(err error) *pageError {
	if errors.Is(err, context.DeadlineExceeded) {
		return &pageError{Status: http.StatusServiceUnavailable, Title: "Unavailable", Message: "the ledger did not answer in time: " + err.Error()}
	}
	return &pageError{Status: http.StatusInternalServerError, Title: "Internal error", Message: err.Error()}
}

// render writes a page; a template that fails is an internal error, found
// before anything is written.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	p.Path = r.URL.Path
	p.LiveOn = s.cfg.ViewsSeq != nil && p.view.KnownAtParam == "" && p.Error == nil
	if s.cfg.ViewsSeq != nil {
		p.Seq = s.cfg.ViewsSeq()
	}
	p.CanSignIn = s.gate.CanSignIn()
	p.AssetVersion = assetVersion
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.cfg.Logger.Printf("web: template %s: %v", name, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	base := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
	}
	return out
}
