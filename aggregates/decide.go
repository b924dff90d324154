package aggregates

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// Rejection says why an event is impossible under the Convention. Rule is a
// stable name for the broken rule (for programs and documents), Reason the
// explanation for people. Every Rejection is an events.ErrRejected.
type Rejection struct {
	Rule   string
	Reason string
}

func (r *Rejection) Error() string { return r.Rule + ": " + r.Reason }

// Unwrap makes a Rejection match events.ErrRejected.
func (r *Rejection) Unwrap() error { return events.ErrRejected }

func reject(rule, format string, args ...any) error {
	return &Rejection{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

// The names of the rules Decide enforces.
const (
	RuleFutureDate              = "future-date"
	RuleWrongScope              = "wrong-scope"
	RuleSignatureClosed         = "signature-closed"
	RuleSecondSignature         = "second-signature"
	RuleSignatureAfterDeposit   = "signature-after-deposit"
	RuleSecondDeposit           = "second-deposit"
	RuleAccessionBySignatory    = "accession-by-signatory"
	RuleRatificationUnsigned    = "ratification-without-signature"
	RuleWithdrawalNotParty      = "withdrawal-without-deposit"
	RuleSecondWithdrawal        = "second-withdrawal"
	RuleCompletionNoStockpile   = "completion-without-stockpile"
	RuleClearanceNoContam       = "clearance-without-contamination"
	RuleExtensionNoObligation   = "extension-without-obligation"
	RuleRetractionUnknown       = "retraction-of-unknown-event"
	RuleRetractionOfRetraction  = "retraction-of-retraction"
	RuleAlreadyRetracted        = "already-retracted"
	RuleRetractionBreaksHistory = "retraction-breaks-history"
	RuleMeetingCodeTaken        = "meeting-code-taken"
	RuleCoverageBeyondToday     = "coverage-beyond-today"
)

// Decide reports whether event e is possible for the aggregate s, given what
// the ledger knows of the Convention and today's date (from an injected
// clock, never the system's in domain code). It returns nil, a *Rejection
// (errors.Is events.ErrRejected) naming the broken rule, or
// events.ErrDuplicate (wrapped) when s already holds an event with e's id.
//
// Only what is impossible is rejected; what is merely unusual (a report
// from a signatory, destruction reported before a declaration, a State
// recorded late) is accepted. Facts are compared in valid time, so the
// order in which they were recorded does not matter.
func (s *State) Decide(e events.Envelope, conv Convention, today events.Date) error {
	if s.Knows(e.ID) {
		return fmt.Errorf("event %s: %w", e.ID, events.ErrDuplicate)
	}
	if e.Scope() != s.ISO3 {
		return reject(RuleWrongScope, "event about %s decided by the aggregate of %s", e.Scope(), s.ISO3)
	}
	if today != 0 && e.Date > today {
		return reject(RuleFutureDate, "%s is in the future (today is %s)", e.Date, today)
	}
	switch e.Type {
	case events.Signed:
		return s.decideSignature(e, conv)
	case events.Deposited:
		return s.decideDeposit(e)
	case events.WithdrawalNotified:
		m, ok := s.MembershipAt(e.Date)
		if !ok {
			return reject(RuleWithdrawalNotParty, "%s is not a State Party on %s: no instrument deposited, or withdrawn", s.ISO3, e.Date)
		}
		if m.Notified != 0 {
			return reject(RuleSecondWithdrawal, "%s already notified its withdrawal on %s", s.ISO3, m.Notified)
		}
	case events.StockpileDestructionCompleted:
		if _, ok := s.first(events.StockpileDeclared, e.Date); !ok {
			return reject(RuleCompletionNoStockpile, "%s has declared no stockpile on or before %s", s.ISO3, e.Date)
		}
	case events.ClearanceCompleted:
		if _, ok := s.first(events.ContaminationDeclared, e.Date); !ok {
			return reject(RuleClearanceNoContam, "%s has declared no contaminated area on or before %s", s.ISO3, e.Date)
		}
	case events.ExtensionGranted:
		x := e.Payload.(*events.Extension)
		need := events.StockpileDeclared
		if x.Article == 4 {
			need = events.ContaminationDeclared
		}
		if _, ok := s.first(need, e.Date); !ok {
			return reject(RuleExtensionNoObligation, "%s has no Article %d obligation to extend on %s (no %s)", s.ISO3, x.Article, e.Date, need)
		}
	case events.Retracted:
		target := e.Payload.(*events.Retraction).Event
		t, ok := s.known[target]
		switch {
		case !ok:
			return reject(RuleRetractionUnknown, "no event %s about %s is recorded", target, s.ISO3)
		case t == events.Retracted:
			return reject(RuleRetractionOfRetraction, "event %s is itself a retraction; record the fact again instead", target)
		}
		if _, gone := s.Retracted[target]; gone {
			return reject(RuleAlreadyRetracted, "event %s is already retracted", target)
		}
		return s.decideRetraction(target, conv, today)
	case events.MeetingHeld:
		code := e.Payload.(*events.Meeting).Code
		for _, f := range s.facts[events.MeetingHeld] {
			if f.Payload.(*events.Meeting).Code == code {
				return reject(RuleMeetingCodeTaken, "meeting %s is already recorded (event %s)", code, f.ID)
			}
		}
	case events.CoverageDeclared:
		if c := e.Payload.(*events.Coverage); today != 0 && c.Through > today {
			return reject(RuleCoverageBeyondToday, "the record cannot be complete for %s through %s: today is %s", c.Facts, c.Through, today)
		}
	}
	return nil
}

func (s *State) decideSignature(e events.Envelope, conv Convention) error {
	if conv.EntryIntoForce != 0 && e.Date >= conv.EntryIntoForce {
		return reject(RuleSignatureClosed, "the Convention was open for signature only until its entry into force on %s (Art. 15); join by accession (Art. 16(2))", conv.EntryIntoForce)
	}
	if f, ok := s.Signature(0); ok {
		return reject(RuleSecondSignature, "%s already signed on %s", s.ISO3, f.Date)
	}
	for _, d := range s.facts[events.Deposited] {
		if d.Date < e.Date || d.Instrument() == events.Accession {
			return reject(RuleSignatureAfterDeposit, "%s deposited its instrument of %s on %s: a signature cannot follow it", s.ISO3, d.Instrument(), d.Date)
		}
	}
	return nil
}

func (s *State) decideDeposit(e events.Envelope) error {
	inst := e.Payload.(*events.Deposit).Instrument
	for _, m := range s.Memberships() {
		// A State can deposit again only after an earlier withdrawal took
		// effect; a deposit between an earlier one and its withdrawal's
		// effect (or a backdated one before it) would overlap.
		if m.Effective == 0 || e.Date < m.Effective {
			return reject(RuleSecondDeposit, "%s already deposited an instrument of %s on %s", s.ISO3, m.Deposit.Instrument(), m.Deposit.Date)
		}
	}
	sig, signed := s.Signature(0)
	switch {
	case inst == events.Accession && signed:
		return reject(RuleAccessionBySignatory, "%s signed on %s: a signatory ratifies, accepts or approves; accession is for States that have not signed (Art. 16)", s.ISO3, sig.Date)
	case inst != events.Accession && !signed:
		return reject(RuleRatificationUnsigned, "%s has not signed: an instrument of %s needs a signature first; a non-signatory accedes (Art. 16)", s.ISO3, inst)
	case inst != events.Accession && sig.Date > e.Date:
		return reject(RuleRatificationUnsigned, "%s signed on %s, after this instrument of %s dated %s", s.ISO3, sig.Date, inst, e.Date)
	}
	return nil
}

// decideRetraction rejects the retraction of a fact others stand on
// (RuleRetractionBreaksHistory). Without the target, the State's other live
// facts must still be a history Decide accepts: each decided, in valid-date
// order (same-day facts in lifecycle order), against the facts before it. A
// fact the rules reject even with the target (a history kept by the Gate
// from a log written otherwise) is not the retraction's doing and does not
// stop it.
//
// Read through the Gate, a stored retraction recorded before this rule that
// left such a fact without its basis stops counting, and its target counts
// again: the history reads as the rules allow it.
func (s *State) decideRetraction(target uuid.UUID, conv Convention, today events.Date) error {
	if !basisTypes[s.known[target]] {
		return nil // no rule lets another fact rest on it
	}
	facts := s.liveFacts()
	with := s.redecide(facts, uuid.Nil, conv, today)
	without := s.redecide(facts, target, conv, today)
	var broken []string
	for i, f := range facts {
		if f.ID != target && with[i] == nil && without[i] != nil {
			broken = append(broken, describeFact(f)+" would stand without "+basisOf(without[i]))
		}
	}
	switch len(broken) {
	case 0:
		return nil
	case 1:
		return reject(RuleRetractionBreaksHistory, "%s: retract it first", broken[0])
	}
	return reject(RuleRetractionBreaksHistory, "%s: retract them first", strings.Join(broken, "; "))
}

// basisTypes are the types of the facts that the rules let others rest on:
// a deposit on its signature, a withdrawal on its deposit, a second deposit
// on the withdrawal before it, a completion or an extension on its
// declaration. Retracting a fact of another type leaves every other fact as
// possible as it was.
var basisTypes = map[events.Type]bool{
	events.Signed: true, events.Deposited: true, events.WithdrawalNotified: true,
	events.StockpileDeclared: true, events.ContaminationDeclared: true,
}

// liveFacts returns the live facts of s in the order a history is decided:
// valid date, then lifecycle (a signature before a deposit, a declaration
// before its completion, see lifecycleRank), then stream order.
func (s *State) liveFacts() []Fact {
	var out []Fact
	for _, fs := range s.facts {
		out = append(out, fs...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Date != b.Date:
			return a.Date < b.Date
		case lifecycleRank[a.Type] != lifecycleRank[b.Type]:
			return lifecycleRank[a.Type] < lifecycleRank[b.Type]
		case a.Seq != b.Seq:
			return a.Seq < b.Seq
		}
		return bytes.Compare(a.ID[:], b.ID[:]) < 0
	})
	return out
}

// redecide decides each fact but skip against a fresh aggregate of the ones
// before it, and returns the verdicts (nil for skip).
func (s *State) redecide(facts []Fact, skip uuid.UUID, conv Convention, today events.Date) []error {
	fresh := NewState(s.ISO3)
	out := make([]error, len(facts))
	for i, f := range facts {
		if f.ID == skip {
			continue
		}
		e := f.Envelope(s.ISO3)
		out[i] = fresh.Decide(e, conv, today)
		fresh.Apply(e)
	}
	return out
}

// describeFact names a fact for people: "the deposit of 2012-04-23
// (ratification)".
func describeFact(f Fact) string {
	switch f.Type {
	case events.Deposited:
		return fmt.Sprintf("the deposit of %s (%s)", f.Date, f.Instrument())
	case events.ExtensionGranted:
		return fmt.Sprintf("the Article %d extension granted on %s", f.Payload.(*events.Extension).Article, f.Date)
	}
	noun := map[events.Type]string{
		events.Signed:                        "signature",
		events.WithdrawalNotified:            "withdrawal notification",
		events.StockpileDestructionCompleted: "completion of stockpile destruction",
		events.ClearanceCompleted:            "completion of clearance",
	}[f.Type]
	if noun == "" {
		noun = string(f.Type) + " event"
	}
	return fmt.Sprintf("the %s of %s", noun, f.Date)
}

// basisOf says what a fact would lack, from the rule it would break.
func basisOf(err error) string {
	var r *Rejection
	if !errors.As(err, &r) {
		return "its basis (" + err.Error() + ")"
	}
	switch r.Rule {
	case RuleRatificationUnsigned:
		return "a signature"
	case RuleCompletionNoStockpile:
		return "a stockpile declaration"
	case RuleClearanceNoContam:
		return "a declaration of contaminated areas"
	case RuleExtensionNoObligation:
		return "the declaration of the obligation it extends"
	case RuleWithdrawalNotParty:
		return "a deposit"
	case RuleSecondDeposit:
		return "the withdrawal that ended the membership before it"
	}
	return "its basis (" + r.Error() + ")"
}
