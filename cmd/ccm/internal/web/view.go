package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// page is what the layout shows around a page's own data.
type page struct {
	Title string
	Nav   string // the navigation entry of the page
	view  *view
	Data  any
	Error *pageError
	// Path is the page's path; Next is where a sign-in returns to.
	Path, Next   string
	LiveOn       bool
	Seq          uint64
	CanSignIn    bool
	AssetVersion string
}

// V returns the page's view (a method, so that the template cannot
// change it).
func (p *page) V() *view { return p.view }

// Cite is the link to this page pinned at the point of the log it shows.
func (p *page) Cite() string {
	var kv []string
	for _, h := range p.view.Hidden("as_of", "known_at", "annual_rule") {
		kv = append(kv, h[0], h[1])
	}
	return p.view.Cite(p.Path, kv...)
}

// view is the bounds a page was asked for, as given (for links) and as
// resolved (for headings).
type view struct {
	AsOfParam, KnownAtParam, RuleParam string
	Bounds                             projections.Bounds
	KnownAt                            projections.KnownAt
	Meetings                           []projections.Meeting
	// Extra are the page's own parameters, kept by its forms.
	Extra url.Values
}

// viewOf reads a page's bounds parameters.
func viewOf(r *http.Request) *view {
	return &view{AsOfParam: param(r, "as_of"), KnownAtParam: param(r, "known_at"), RuleParam: param(r, "annual_rule")}
}

// Link returns path with the view's bounds and the given name, value
// pairs as query parameters (empty values left out): a link that cites
// the same view.
func (v *view) Link(path string, kv ...string) string {
	q := url.Values{}
	for _, p := range [][2]string{{"as_of", v.AsOfParam}, {"known_at", v.KnownAtParam}, {"annual_rule", v.RuleParam}} {
		if p[1] != "" {
			q.Set(p[0], p[1])
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// Cite is the link to the same view pinned at the sequence it stands for,
// which later events do not change.
func (v *view) Cite(path string, kv ...string) string {
	if v.KnownAt.Seq == 0 {
		return v.Link(path, kv...)
	}
	return v.Link(path, append(kv, "known_at", strconv.FormatUint(v.KnownAt.Seq, 10))...)
}

// Title says which view this is: "as of 2012-09-14 (3MSP)".
func (v *view) Title() string {
	s := "as of " + v.Bounds.AsOf.String()
	if v.Bounds.Meeting != "" {
		s += " (" + v.Bounds.Meeting + ")"
	}
	return s
}

// KnownAtText says which point of the log a view stands for.
func (v *view) KnownAtText() string {
	k := v.KnownAt
	if k.Seq == 0 {
		return "nothing recorded"
	}
	s := "sequence " + strconv.FormatUint(k.Seq, 10)
	if k.Time != "" {
		s += ", recorded " + k.Time
	}
	if k.Quarantined > 0 {
		s += "; " + strconv.Itoa(k.Quarantined) + " stored messages not counted (ccm verify lists them)"
	}
	return s
}

// Hidden returns the page's own parameters to keep in a form, without
// the named ones.
func (v *view) Hidden(except ...string) [][2]string {
	var out [][2]string
	for k, vs := range v.Extra {
		skip := false
		for _, e := range except {
			skip = skip || e == k
		}
		if !skip && len(vs) > 0 && vs[0] != "" {
			out = append(out, [2]string{k, vs[0]})
		}
	}
	return out
}

var funcs = template.FuncMap{
	"name": stateName,
	"region": func(iso3 string) string {
		if c, ok := events.LookupState(iso3); ok {
			return string(c.Region)
		}
		return ""
	},
	"date": func(d events.Date) string {
		if d == 0 {
			return "–"
		}
		return d.String()
	},
	"status":  statusClass,
	"known":   lastKnown,
	"join":    strings.Join,
	"regions": func() []events.Region { return events.Regions() },
	"str":     func(v any) string { return toString(v) },
	"dec":     func(i int) int { return i - 1 },
}

func stateName(iso3 string) string {
	if c, ok := events.LookupState(iso3); ok {
		return c.Name
	}
	return iso3
}

// statusClass is the CSS class of a status: the status string itself,
// reduced to letters and dashes, since statuses are data and may gain
// values.
func statusClass(s string) string {
	var b strings.Builder
	b.WriteString("st-")
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c == '-' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// lastKnown shows an unknown status with the last one the facts give.
func lastKnown(status, last string) string {
	if status == "" {
		return "–"
	}
	if last != "" && last != status {
		return status + " (last known: " + last + ")"
	}
	return status
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case events.Date:
		return v.String()
	case events.Region:
		return string(v)
	}
	return ""
}
