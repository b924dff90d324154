package aggregates

import (
	"fmt"

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
	RuleFutureDate             = "future-date"
	RuleWrongScope             = "wrong-scope"
	RuleSignatureClosed        = "signature-closed"
	RuleSecondSignature        = "second-signature"
	RuleSignatureAfterDeposit  = "signature-after-deposit"
	RuleSecondDeposit          = "second-deposit"
	RuleAccessionBySignatory   = "accession-by-signatory"
	RuleRatificationUnsigned   = "ratification-without-signature"
	RuleWithdrawalNotParty     = "withdrawal-without-deposit"
	RuleSecondWithdrawal       = "second-withdrawal"
	RuleCompletionNoStockpile  = "completion-without-stockpile"
	RuleClearanceNoContam      = "clearance-without-contamination"
	RuleExtensionNoObligation  = "extension-without-obligation"
	RuleRetractionUnknown      = "retraction-of-unknown-event"
	RuleRetractionOfRetraction = "retraction-of-retraction"
	RuleAlreadyRetracted       = "already-retracted"
	RuleMeetingCodeTaken       = "meeting-code-taken"
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
	case events.MeetingHeld:
		code := e.Payload.(*events.Meeting).Code
		for _, f := range s.facts[events.MeetingHeld] {
			if f.Payload.(*events.Meeting).Code == code {
				return reject(RuleMeetingCodeTaken, "meeting %s is already recorded (event %s)", code, f.ID)
			}
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
