package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// msgSource is a log in memory as a stream holds it: stored messages, events
// or not, on their subjects, with the sequence and record time a stream
// assigns. It reads by scope or by subject filters and locates the end of a
// read without one (projections.Locator).
type msgSource struct {
	mu    sync.Mutex
	msgs  []storedMsg
	start time.Time
	// delivered counts the messages reads delivered; ranges lists the
	// reads, and perRead what each delivered.
	delivered int
	ranges    []projections.Range
	perRead   []int
}

type storedMsg struct {
	subject string
	tokens  []string // the subject's
	data    []byte
	at      time.Time
	// ev or q is the message decoded (events.DecodeMessage), once.
	ev events.Envelope
	q  *events.Quarantined
}

var _ projections.Locator = (*msgSource)(nil)

func newMsgSource() *msgSource {
	return &msgSource{start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// record stores events on their subjects.
func (s *msgSource) record(evs ...events.Envelope) {
	for _, e := range evs {
		s.raw(e.Subject(), e.StoredJSON())
	}
}

// raw stores a message as a client that bypasses the ledger could.
func (s *msgSource) raw(subject string, data []byte) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Half a second apart: a record time bound can fall between two.
	seq := uint64(len(s.msgs) + 1)
	m := storedMsg{subject: subject, tokens: strings.Split(subject, "."), data: data, at: s.start.Add(time.Duration(seq-1) * 500 * time.Millisecond)}
	m.ev, m.q = events.DecodeMessage(subject, data, seq, m.at)
	s.msgs = append(s.msgs, m)
	return seq
}

func (s *msgSource) head() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.msgs))
}

func (s *msgSource) recordedAt(seq uint64) time.Time { return s.msgs[seq-1].at }

func (s *msgSource) Read(ctx context.Context, r projections.Range, fn func(events.Envelope) error) (uint64, error) {
	s.mu.Lock()
	msgs := s.msgs
	s.ranges = append(s.ranges, r)
	s.perRead = append(s.perRead, 0)
	n := len(s.perRead) - 1
	s.mu.Unlock()
	filters := r.Subjects
	if r.Scope != "" {
		filters = []string{events.ScopeFilter(r.Scope)}
	}
	split := splitFilters(filters)
	to := r.To
	if to == 0 || to > uint64(len(msgs)) {
		to = uint64(len(msgs))
	}
	for seq := max(r.From, 1); seq <= to; seq++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		m := msgs[seq-1]
		if !r.Until.IsZero() && m.at.After(r.Until) {
			return seq - 1, nil
		}
		if len(filters) > 0 && !anyFilter(split, m.tokens) {
			continue
		}
		s.mu.Lock()
		s.delivered++
		s.perRead[n]++
		s.mu.Unlock()
		if m.q != nil {
			if r.Quarantine != nil {
				r.Quarantine(*m.q)
			}
			continue
		}
		if err := fn(m.ev); err != nil {
			return 0, err
		}
	}
	return to, nil
}

func (s *msgSource) Head(context.Context) (uint64, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return 0, time.Time{}, nil
	}
	return uint64(len(s.msgs)), s.msgs[len(s.msgs)-1].at, nil
}

func (s *msgSource) Last(_ context.Context, r projections.Range) (uint64, time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := uint64(len(s.msgs))
	if r.To != 0 && r.To < seq {
		seq = r.To
	}
	for seq > 0 && !r.Until.IsZero() && s.msgs[seq-1].at.After(r.Until) {
		seq--
	}
	if seq == 0 {
		return 0, time.Time{}, true, nil
	}
	return seq, s.msgs[seq-1].at, true, nil
}

func (s *msgSource) counters() (delivered, reads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered, len(s.ranges)
}

// readsSince returns the reads asked since the nth, and what each
// delivered.
func (s *msgSource) readsSince(n int) ([]projections.Range, []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]projections.Range(nil), s.ranges[n:]...), append([]int(nil), s.perRead[n:]...)
}

// onSubjects counts the messages up to seq on subjects matching filters.
func (s *msgSource) onSubjects(seq uint64, filters []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, split := 0, splitFilters(filters)
	for _, m := range s.msgs[:seq] {
		if anyFilter(split, m.tokens) {
			n++
		}
	}
	return n
}

func splitFilters(filters []string) [][]string {
	out := make([][]string, len(filters))
	for i, f := range filters {
		out[i] = strings.Split(f, ".")
	}
	return out
}

// anyFilter matches the tokens of a subject against NATS subject filters
// (split at their dots), token by token.
func anyFilter(filters [][]string, st []string) bool {
next:
	for _, ft := range filters {
		for i, tok := range ft {
			switch {
			case tok == ">" && i == len(ft)-1:
				if len(st) > i {
					return true
				}
				continue next
			case i >= len(st) || (tok != "*" && tok != st[i]):
				continue next
			}
		}
		if len(st) == len(ft) {
			return true
		}
	}
	return false
}

// plainSource hides the Locator of a source: an engine on it folds the
// whole log for a status.
type plainSource struct{ projections.Source }

// scopedHistory is a synthetic ledger recorded out of order, with what a
// log written otherwise than by the Ledger may hold among its events: every
// kind of message the views do not count, on the subjects of every kind of
// State, and retractions, some of them of the deposits that decide the
// Convention's entry into force.
type scopedHistory struct {
	src    *msgSource
	rng    *rand.Rand
	seed   int64
	states []string // the States of the ledger, and a few it never mentions
	// early are the States that deposited in 2009, before the others.
	early []string
	// byState holds the events recorded so far, by State.
	byState map[string][]events.Envelope
	n       int
}

func newScopedHistory(t *testing.T, n int, seed int64) *scopedHistory {
	t.Helper()
	h := &scopedHistory{src: newMsgSource(), rng: rand.New(rand.NewPCG(uint64(seed), 7)), seed: seed, byState: map[string][]events.Envelope{}}
	all := synth.Generate(n, seed)
	seen := map[string]bool{}
	var first, held []events.Envelope
	heldIDs := map[uuid.UUID]bool{}
	for _, e := range all {
		if e.State != "" && !seen[e.State] {
			seen[e.State] = true
			h.states = append(h.states, e.State)
		}
		if e.Type == events.Deposited && e.Date < events.MustDate("2010-01-01") {
			h.early = append(h.early, e.State)
		}
		switch {
		case e.Type == events.Retracted && heldIDs[e.Payload.(*events.Retraction).Event]:
			held = append(held, e)
		case e.Type != events.Retracted && e.Type != events.MeetingHeld && !(e.Type == events.Deposited && e.Date < events.MustDate("2010-01-01")) &&
			h.rng.Float64() < 0.15:
			heldIDs[e.ID] = true
			held = append(held, e)
		default:
			first = append(first, e)
		}
	}
	for _, c := range events.States() {
		if !seen[c.ISO3] {
			h.states = append(h.states, c.ISO3)
			if len(h.states) >= len(seen)+3 {
				break
			}
		}
	}
	// The Convention's coverage of some classes, recorded late: a scoped
	// status reads the Convention's subjects for it.
	for _, c := range events.FactClasses() {
		if h.rng.IntN(2) == 0 {
			continue
		}
		through := events.MakeDate(2011+h.rng.IntN(14), time.Month(1+h.rng.IntN(12)), 1+h.rng.IntN(28))
		e, err := events.New(uuid.Nil, events.CoverageDeclared, "", events.Adoption, &events.Coverage{Facts: c, Through: through}, "test: coverage")
		require.NoError(t, err)
		held = append(held, e)
	}
	h.store(t, first...)
	// The held events, recorded late in random order (a retraction after
	// its target), with, between them, what else a log may hold.
	for len(held) > 0 {
		j := h.rng.IntN(len(held))
		if held[j].Type == events.Retracted {
			j = 0
		}
		e := held[j]
		held = append(held[:j], held[j+1:]...)
		h.store(t, e)
		if h.rng.IntN(3) == 0 {
			h.mischief(t)
		}
	}
	for range 60 {
		h.mischief(t)
	}
	return h
}

func (h *scopedHistory) store(t *testing.T, evs ...events.Envelope) {
	t.Helper()
	for _, e := range evs {
		h.src.record(e)
		h.byState[e.Scope()] = append(h.byState[e.Scope()], e)
	}
}

func (h *scopedHistory) event(t *testing.T, id uuid.UUID, typ events.Type, state string, d events.Date, p events.Payload) events.Envelope {
	t.Helper()
	h.n++
	e, err := events.New(id, typ, state, d, p, fmt.Sprintf("scoped test, seed %d #%d", h.seed, h.n))
	require.NoError(t, err, "%s %s %s", typ, state, d)
	return e
}

func (h *scopedHistory) pick(xs []string) string { return xs[h.rng.IntN(len(xs))] }

// some returns a State, an early depositor half of the time.
func (h *scopedHistory) some() string {
	if len(h.early) > 0 && h.rng.IntN(2) == 0 {
		return h.pick(h.early)
	}
	return h.pick(h.states)
}

// of returns a recorded event of the State of the given type, if any.
func (h *scopedHistory) of(state string, typ events.Type) (events.Envelope, bool) {
	var out []events.Envelope
	for _, e := range h.byState[state] {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return events.Envelope{}, false
	}
	return out[h.rng.IntN(len(out))], true
}

func (h *scopedHistory) date(from, to string) events.Date {
	a, b := events.MustDate(from), events.MustDate(to)
	return a + events.Date(h.rng.IntN(int(b-a)+1))
}

func (h *scopedHistory) retraction(t *testing.T, id uuid.UUID, target events.Envelope) events.Envelope {
	t.Helper()
	return h.event(t, id, events.Retracted, target.State, h.date("2010-01-01", "2025-12-31"),
		&events.Retraction{Event: target.ID, Reason: "scoped test correction"})
}

// mischief records one thing the rules judge: an event they may reject, a
// retraction, an id taken twice, or a message that is no event at all.
func (h *scopedHistory) mischief(t *testing.T) {
	t.Helper()
	s := h.some()
	k := h.rng.IntN(20)
	switch k { // more of what moves the entry into force
	case 16, 17:
		k = 2
	case 18, 19:
		k, s = 3, h.pick(h.early)
	}
	switch k {
	case 0: // the same event again: a duplicate
		for _, typ := range []events.Type{events.Deposited, events.Signed, events.Retracted, events.ReportSubmitted} {
			if e, ok := h.of(s, typ); ok {
				h.store(t, e)
				return
			}
		}
	case 1: // a second deposit, a ratification or an accession
		inst := []events.Instrument{events.Ratification, events.Accession}[h.rng.IntN(2)]
		h.store(t, h.event(t, uuid.Nil, events.Deposited, s, h.date("2009-01-01", "2025-12-31"), &events.Deposit{Instrument: inst}))
	case 2: // a deposit backdated among the first thirty, or dated after its record time
		d := h.date("2009-02-01", "2010-03-31")
		if h.rng.IntN(3) == 0 {
			d = h.date("2026-03-01", "2027-12-31")
		}
		h.store(t, h.event(t, uuid.Nil, events.Deposited, s, d, &events.Deposit{Instrument: events.Accession}))
	case 3, 4: // a retraction of a deposit: it moves the entry into force, or breaks a withdrawal's history
		if e, ok := h.of(s, events.Deposited); ok {
			h.store(t, h.retraction(t, uuid.Nil, e))
		}
	case 5: // a retraction of a signature, which a ratification may rest on
		if e, ok := h.of(s, events.Signed); ok {
			h.store(t, h.retraction(t, uuid.Nil, e))
		}
	case 6: // a withdrawal, possible or not
		h.store(t, h.event(t, uuid.Nil, events.WithdrawalNotified, s, h.date("2009-06-01", "2025-12-31"), nil))
	case 7: // a retraction of a retraction, or of a fact retracted already
		if e, ok := h.of(s, events.Retracted); ok {
			if h.rng.IntN(2) == 0 {
				h.store(t, h.retraction(t, uuid.Nil, e))
			} else {
				for _, x := range h.byState[s] {
					if x.ID == e.Payload.(*events.Retraction).Event {
						h.store(t, h.retraction(t, uuid.Nil, x))
					}
				}
			}
		}
	case 8: // a retraction of nothing recorded
		h.store(t, h.event(t, uuid.Nil, events.Retracted, s, h.date("2010-01-01", "2025-12-31"),
			&events.Retraction{Event: uuid.New(), Reason: "scoped test: unknown"}))
	case 9: // a retraction of another kind of fact, with a signature, perhaps
		for _, typ := range []events.Type{events.StockpileDeclared, events.ReportSubmitted, events.AssistanceProvided, events.LegislationStatus} {
			if e, ok := h.of(s, typ); ok {
				h.store(t, h.retraction(t, uuid.Nil, e))
				break
			}
		}
		if h.rng.IntN(2) == 0 {
			h.store(t, h.event(t, uuid.Nil, events.Signed, s, h.date("2008-12-03", "2011-12-31"), nil))
		}
	case 10: // an id given to an event of another type first: the retraction or the deposit with it is a duplicate
		id := uuid.New()
		h.store(t, h.event(t, id, events.AssistanceProvided, s, h.date("2009-01-01", "2025-12-31"), &events.Assistance{Areas: []string{"clearance"}}))
		if e, ok := h.of(s, events.Deposited); ok && h.rng.IntN(2) == 0 {
			h.store(t, h.retraction(t, id, e))
		} else {
			h.store(t, h.event(t, id, events.Deposited, s, h.date("2009-02-01", "2010-03-31"), &events.Deposit{Instrument: events.Accession}))
		}
	case 11: // a given id on a deposit, then on another fact
		id := uuid.New()
		h.store(t, h.event(t, id, events.Deposited, s, h.date("2009-02-01", "2012-03-31"), &events.Deposit{Instrument: events.Accession}))
		h.store(t, h.event(t, id, events.ReportSubmitted, s, h.date("2012-01-01", "2025-12-31"), &events.Report{Kind: events.InitialReport}))
	case 12: // not an event: on a subject a status reads, or another
		typ := []string{"deposited", "signed", "retracted", "report-submitted", "bogus"}[h.rng.IntN(5)]
		h.src.raw(events.SubjectPrefix+s+"."+typ, []byte("this is not json"))
	case 13: // an event of one State on the subject of another
		if e, ok := h.of(s, events.Deposited); ok {
			h.src.raw(events.Subject(h.pick(h.states), events.Deposited), e.StoredJSON())
		} else {
			e := h.event(t, uuid.Nil, events.Deposited, s, h.date("2009-02-01", "2010-03-31"), &events.Deposit{Instrument: events.Accession})
			h.src.raw(events.Subject(h.pick(h.states), events.Signed), e.StoredJSON())
		}
	case 14: // a retraction of the Convention's, on a subject a status reads
		if e, ok := h.of(events.ConventionScope, events.MeetingHeld); ok {
			h.store(t, h.retraction(t, uuid.Nil, e))
		}
	case 15: // a subject of no event
		h.src.raw(events.SubjectPrefix+s, []byte(`{"type":"signed"}`))
	}
}

// ownQuarantined counts, for each State, the stored messages known at b on
// its subjects that a fold of the whole log does not count.
func ownQuarantined(h *scopedHistory, b projections.Bounds) map[string]int {
	out := map[string]int{}
	count := func(subject string) {
		if scope, ok := events.ScopeOfSubject(subject); ok {
			out[scope]++
		}
	}
	gate := aggregates.NewGate(func(q events.Quarantined) { count(q.Subject) })
	for i, m := range h.src.msgs {
		seq := uint64(i + 1)
		if (b.KnownAtSeq != 0 && seq > b.KnownAtSeq) || (!b.KnownAtTime.IsZero() && m.at.After(b.KnownAtTime)) {
			break
		}
		e, q := events.DecodeMessage(m.subject, m.data, seq, m.at)
		if q != nil {
			count(m.subject)
			continue
		}
		gate.Admit(e)
	}
	return out
}

// The status from a read of the State's subjects and of the others'
// signatures, deposits, withdrawals and retractions is the status a fold of
// the whole log gives, whatever the log holds: for every State, as of dates
// around the entry into force and later, known at sequences and times
// across the log. Its quarantined count is that of the State's subjects.
func TestScopedStatusIsTheFold(t *testing.T) {
	ctx := context.Background()
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			h := newScopedHistory(t, 2400, seed)
			opt := projections.Options{}
			if seed%3 == 0 {
				opt.AnnualRule = aggregates.FirstFullYear
			}
			scoped := projections.NewEngine(h.src, nil, opt)
			full := projections.NewEngine(plainSource{h.src}, nil, opt)
			head := h.src.head()
			known := []projections.Bounds{{}, {KnownAtSeq: head}, {KnownAtSeq: head + 10}, {KnownAtSeq: 1},
				{KnownAtTime: h.src.start.Add(-time.Second)}, {KnownAtTime: h.src.recordedAt(head).Add(time.Hour)}}
			for range 3 {
				seq := 1 + uint64(h.rng.IntN(int(head)))
				known = append(known, projections.Bounds{KnownAtSeq: seq},
					projections.Bounds{KnownAtTime: h.src.recordedAt(seq).Add(time.Duration(h.rng.IntN(2)) * 250 * time.Millisecond)},
					projections.Bounds{KnownAtSeq: seq + 5, KnownAtTime: h.src.recordedAt(seq)})
			}
			asOf := []events.Date{events.MustDate("2009-12-31"), events.MustDate("2010-02-16"), events.MustDate("2010-08-01"),
				events.MustDate("2011-03-01"), synth.End, events.MustDate("2030-01-01")}
			for range 2 {
				asOf = append(asOf, h.date("2009-06-01", "2025-12-31"))
			}
			eifs := map[events.Date]bool{}
			rereads, compared := 0, 0
			for _, k := range known {
				own := ownQuarantined(h, k)
				end, _, _, err := h.src.Last(ctx, projections.Range{To: k.KnownAtSeq, Until: k.KnownAtTime})
				require.NoError(t, err)
				for _, d := range asOf {
					b := k
					b.AsOf = d
					// The fold of the whole log, as Engine.Status folds it
					// on a source that cannot locate its end.
					ref, err := full.Fold(ctx, b)
					require.NoError(t, err)
					if c := ref.Convention(d); c.EntryIntoForce != 0 {
						eifs[c.EntryIntoForce] = true
					}
					for i, iso3 := range h.statesToCheck() {
						want := projections.StatusOf(ref, iso3, d, opt)
						if i == 0 {
							st, err := full.Status(ctx, iso3, b)
							require.NoError(t, err)
							require.Equal(t, want, st, "the fold's status")
						}
						want.KnownAt.Quarantined = own[iso3]
						_, before := h.src.counters()
						got, err := scoped.Status(ctx, iso3, b)
						require.NoError(t, err)
						require.Equal(t, want, got, "Status(%s) as of %s known at %+v", iso3, d, k)
						compared++
						rs, delivered := h.src.readsSince(before)
						if end == 0 {
							require.Empty(t, rs, "nothing known, nothing read")
							continue
						}
						require.NotEmpty(t, rs)
						require.Equal(t, h.src.onSubjects(end, projections.StatusSubjects(iso3)), delivered[0],
							"Status(%s) known at %+v: the messages of the subjects a status reads, and no other", iso3, k)
						for _, r := range rs[1:] {
							require.NotContains(t, r.Subjects, events.ScopeFilter(iso3), "the State itself read again")
							rereads++
						}
					}
				}
			}
			t.Logf("%d statuses compared on a log of %d messages; the Convention's entry into force on %d dates; %d reads of whole States whose ids are not derived",
				compared, head, len(eifs), rereads)
			assert.Greater(t, len(eifs), 1, "the Convention's entry into force moves with the bounds")
			assert.Positive(t, rereads, "States read again whole")
		})
	}
}

// statesToCheck returns the States a round compares: early depositors,
// others, and one the ledger never mentions.
func (h *scopedHistory) statesToCheck() []string {
	out := []string{h.pick(h.early), h.pick(h.early), h.pick(h.states), h.pick(h.states), h.states[len(h.states)-1]}
	return out
}

// A status of a State on an empty log, and known before the first
// message, is that of a State the ledger knows nothing about.
func TestScopedStatusOfNothingKnown(t *testing.T) {
	ctx := context.Background()
	src := newMsgSource()
	b := projections.Bounds{AsOf: synth.End}
	st, err := projections.NewEngine(src, nil, projections.Options{}).Status(ctx, "SWE", b)
	require.NoError(t, err)
	want, err := projections.NewEngine(plainSource{src}, nil, projections.Options{}).Status(ctx, "SWE", b)
	require.NoError(t, err)
	assert.Equal(t, want, st)
	assert.Equal(t, projections.TreatyNone, st.TreatyStatus)
	_, before := src.counters()
	_, err = projections.NewEngine(src, nil, projections.Options{}).Status(ctx, "SWE", b)
	require.NoError(t, err)
	_, after := src.counters()
	assert.Equal(t, before, after, "nothing to read")
}

// A State's history reads the subjects its status stands on, not the log,
// and is the history a read of the whole log gives.
func TestScopedHistoryIsTheWholeLogs(t *testing.T) {
	ctx := context.Background()
	for seed := int64(1); seed <= 2; seed++ {
		h := newScopedHistory(t, 2400, seed)
		scoped := projections.NewEngine(h.src, nil, projections.Options{})
		full := projections.NewEngine(plainSource{h.src}, nil, projections.Options{})
		head := h.src.head()
		for _, k := range []projections.Bounds{{}, {KnownAtSeq: head / 2}, {KnownAtTime: h.src.recordedAt(head / 3)}} {
			end, _, _, err := h.src.Last(ctx, projections.Range{To: k.KnownAtSeq, Until: k.KnownAtTime})
			require.NoError(t, err)
			for _, d := range []events.Date{events.MustDate("2011-03-01"), synth.End} {
				b := k
				b.AsOf = d
				for _, iso3 := range h.statesToCheck() {
					want, err := full.History(ctx, iso3, b)
					require.NoError(t, err)
					want.KnownAt.Quarantined = ownQuarantined(h, k)[iso3]
					want.Status.KnownAt.Quarantined = want.KnownAt.Quarantined
					_, before := h.src.counters()
					got, err := scoped.History(ctx, iso3, b)
					require.NoError(t, err)
					require.Equal(t, want, got, "History(%s) as of %s known at %+v", iso3, d, k)
					if _, delivered := h.src.readsSince(before); end > 0 {
						require.Equal(t, h.src.onSubjects(end, projections.StatusSubjects(iso3)), delivered[0],
							"History(%s): the messages of the subjects a status reads, and no other", iso3)
					}
				}
			}
		}
	}
}
