package main

import (
	"strings"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// watchFilter turns FILTER ("*.deadline-missed", "SWE", "swe.>",
// "ccm.compliance.SWE.>") into a subject of the compliance stream. A State
// alone means all its events (SWE is SWE.>); the State must be a code of
// the table (any case) and the kind one of compliance.Kinds, or a
// wildcard: a filter that can match nothing is a usage error, not a watch
// that waits forever.
func watchFilter(f string) (string, error) {
	s := strings.TrimSpace(f)
	if !strings.HasPrefix(s, compliance.SubjectPrefix) {
		s = compliance.SubjectPrefix + s
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "" || strings.ContainsAny(t, " \t"):
			return "", usagef("watch: filter %q: empty token or space", f)
		case t == ">" && i != len(toks)-1:
			return "", usagef("watch: filter %q: '>' must be the last token", f)
		case t != "*" && t != ">" && strings.ContainsAny(t, "*>"):
			return "", usagef("watch: filter %q: a wildcard is a whole token", f)
		}
	}
	if len(toks) > 4 {
		return "", usagef("watch: filter %q: subjects are ccm.compliance.<ISO3>.<kind>", f)
	}
	if len(toks) == 3 && toks[2] != ">" {
		toks = append(toks, ">")
	}
	if len(toks) > 2 {
		state, err := watchState(f, toks[2])
		if err != nil {
			return "", err
		}
		toks[2] = state
	}
	if len(toks) > 3 {
		if err := watchKind(f, toks[3]); err != nil {
			return "", err
		}
	}
	if len(toks) == 2 {
		toks = append(toks, ">")
	}
	return strings.Join(toks, "."), nil
}

func watchState(f, t string) (string, error) {
	if t == "*" || t == ">" {
		return t, nil
	}
	if c, ok := events.LookupState(strings.ToUpper(t)); ok {
		return c.ISO3, nil
	}
	return "", usagef("watch: filter %q: %q is not the ISO 3166-1 alpha-3 code of a State (e.g. SWE), nor * or >", f, t)
}

func watchKind(f, t string) error {
	if t == "*" || t == ">" {
		return nil
	}
	var kinds []string
	for _, k := range compliance.Kinds() {
		if string(k) == t {
			return nil
		}
		kinds = append(kinds, string(k))
	}
	msg := "watch: filter %q: %q is not a kind of compliance event (" + strings.Join(kinds, ", ") + ")"
	if near := nearest(t, kinds); near != "" {
		return usagef(msg+"; did you mean %s?", f, t, near)
	}
	return usagef(msg, f, t)
}

// nearest returns the candidate closest to s by edit distance, when it is
// close enough to be a slip of the keyboard (at most a third of its
// letters, at least one); "" otherwise.
func nearest(s string, candidates []string) string {
	best, bestD := "", max(1, len(s)/3)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
