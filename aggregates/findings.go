package aggregates

import (
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// RuleIDInTwoScopes names a finding: two admitted events of different
// scopes share an id. Each scope's gate admits its own; an id must still
// name one fact.
const RuleIDInTwoScopes = "id-in-two-scopes"

// Finding is what the rules forbid across States, which a gate judging one
// State at a time cannot see: a signature dated on or after the
// Convention's entry into force (RuleSignatureClosed), an id shared by two
// scopes (RuleIDInTwoScopes). Such events count; `ccm verify` reports them.
type Finding struct {
	Seq    uint64    `json:"seq"`
	Scope  string    `json:"scope"`
	ID     uuid.UUID `json:"id"`
	Rule   string    `json:"rule"`
	Reason string    `json:"reason"`
}

// Findings returns what the Ledger's admitted events break across States,
// in stream order.
func (l *Ledger) Findings() []Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Finding
	conv := l.convention()
	owner := map[uuid.UUID]Fact{}
	ownerScope := map[uuid.UUID]string{}
	for _, name := range sortedScopes(l.gate.scopes) {
		s := l.gate.scopes[name]
		for _, f := range s.allFacts() {
			if first, ok := owner[f.ID]; ok && ownerScope[f.ID] != name {
				out = append(out, Finding{Seq: max(f.Seq, first.Seq), Scope: name, ID: f.ID, Rule: RuleIDInTwoScopes,
					Reason: fmt.Sprintf("the id of a %s event of %s (stored at %d) and of a %s event of %s (stored at %d)",
						first.Type, ownerScope[f.ID], first.Seq, f.Type, name, f.Seq)})
				continue
			}
			owner[f.ID], ownerScope[f.ID] = f, name
		}
		if sig, ok := s.Signature(0); ok && conv.EntryIntoForce != 0 && sig.Date >= conv.EntryIntoForce {
			out = append(out, Finding{Seq: sig.Seq, Scope: name, ID: sig.ID, Rule: RuleSignatureClosed,
				Reason: fmt.Sprintf("%s signed on %s, when the Convention was in force (from %s) and closed for signature", name, sig.Date, conv.EntryIntoForce)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// allFacts returns every fact of s, live and retracted, in stream order.
func (s *State) allFacts() []Fact {
	var out []Fact
	for _, t := range events.Types() {
		out = append(out, s.facts[t]...)
	}
	for _, f := range s.Retracted {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func sortedScopes(m map[string]*State) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
