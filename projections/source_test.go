package projections_test

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// sliceSource is an event log in memory: events stored in order, with the
// stream sequence and record time a log would assign.
type sliceSource struct {
	mu  sync.Mutex
	evs []events.Envelope
	// start is the record time of the first event; each next one is
	// recorded a second later.
	start time.Time
	// reads counts the events delivered by Read.
	reads int
}

func newSliceSource() *sliceSource {
	return &sliceSource{start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// record stores events in the given order and returns the last sequence.
func (s *sliceSource) record(evs ...events.Envelope) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		e.Seq = uint64(len(s.evs) + 1)
		e.Recorded = s.start.Add(time.Duration(len(s.evs)) * time.Second)
		s.evs = append(s.evs, e)
	}
	return uint64(len(s.evs))
}

// recordedAt is the record time the source gives the event at seq.
func (s *sliceSource) recordedAt(seq uint64) time.Time {
	return s.start.Add(time.Duration(seq-1) * time.Second)
}

func (s *sliceSource) Read(ctx context.Context, r projections.Range, fn func(events.Envelope) error) (uint64, error) {
	s.mu.Lock()
	evs := s.evs
	s.mu.Unlock()
	to := r.To
	if to == 0 || to > uint64(len(evs)) {
		to = uint64(len(evs))
	}
	from := max(r.From, 1)
	for seq := from; seq <= to; seq++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		e := evs[seq-1]
		if !r.Until.IsZero() && e.Recorded.After(r.Until) {
			return seq - 1, nil
		}
		if r.Scope != "" && e.Scope() != r.Scope {
			continue
		}
		s.mu.Lock()
		s.reads++
		s.mu.Unlock()
		if err := fn(e); err != nil {
			return 0, err
		}
	}
	return to, nil
}

func (s *sliceSource) Head(context.Context) (uint64, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.evs) == 0 {
		return 0, time.Time{}, nil
	}
	return uint64(len(s.evs)), s.evs[len(s.evs)-1].Recorded, nil
}

func (s *sliceSource) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// memStore is a snapshot store in memory that counts the revisions of each
// key, as a KV bucket does.
type memStore struct {
	mu   sync.Mutex
	vals map[string][]byte
	revs map[string]uint64
	rev  uint64
	puts int
	gets int
}

func newMemStore() *memStore { return &memStore{vals: map[string][]byte{}, revs: map[string]uint64{}} }

func (m *memStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	v, ok := m.vals[key]
	return v, ok, nil
}

func (m *memStore) Put(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++
	m.puts++
	m.vals[key] = append([]byte(nil), value...)
	m.revs[key] = m.rev
	return nil
}

func (m *memStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.vals, key)
	delete(m.revs, key)
	return nil
}

func (m *memStore) Keys(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.vals))
	for k := range m.vals {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// revisions returns the revision of every key under prefix.
func (m *memStore) revisions(prefix string) map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]uint64{}
	for k, r := range m.revs {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out[k] = r
		}
	}
	return out
}

// fixedClock is the clock of the tests.
func fixedClock() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }

// referenceFold folds every event known at b by hand, the plain way the
// engine must agree with: through a gate, so that what the rules reject
// where it stands is not counted.
func referenceFold(t *testing.T, src *sliceSource, b projections.Bounds) *projections.Fold {
	t.Helper()
	f := projections.NewFold()
	gate := aggregates.NewGate(func(events.Quarantined) { f.Quarantined++ })
	var (
		seq uint64
		at  time.Time
	)
	for _, e := range src.evs {
		if b.KnownAtSeq != 0 && e.Seq > b.KnownAtSeq {
			break
		}
		if !b.KnownAtTime.IsZero() && e.Recorded.After(b.KnownAtTime) {
			break
		}
		seq, at = e.Seq, e.Recorded
		if gate.Admit(e) {
			f.Apply(e)
		}
	}
	f.Seq, f.Time = seq, at
	return f
}

func mustEvent(t testing.TB, typ events.Type, state, date string, p events.Payload) events.Envelope {
	t.Helper()
	e, err := events.New([16]byte{}, typ, state, events.MustDate(date), p, "test: "+string(typ)+" "+state+" "+date)
	require.NoError(t, err, "event %s %s %s", typ, state, date)
	return e
}

func seqText(n uint64) string { return strconv.FormatUint(n, 10) }
