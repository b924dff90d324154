// Package logsource reads the JetStream log (deploy/jetstream/jslog) as the
// projections' Source: the one adapter between the two, used by the ccm
// command and by every test that projects a real log.
package logsource

import (
	"context"
	"errors"
	"time"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// Source is a jslog.Log read as a projections.Source.
type Source struct{ Log *jslog.Log }

var (
	_ projections.Source  = Source{}
	_ projections.Locator = Source{}
)

// New returns the log l as a projections.Source.
func New(l *jslog.Log) Source { return Source{Log: l} }

// Read replays the events within r, bounded as the range says: one scope
// or the subjects matching its filters, stream sequences From to To,
// recorded no later than Until.
func (s Source) Read(ctx context.Context, r projections.Range, fn func(events.Envelope) error) (uint64, error) {
	return s.Log.Read(ctx, jslog.ReadOptions{Scope: r.Scope, Subjects: r.Subjects, FromSeq: r.From, UpToSeq: r.To,
		UpToTime: r.Until, Quarantine: r.Quarantine}, fn)
}

// Last is the stream sequence and record time of the last message stored
// within r's To and Until, looked up on the stream (jslog.Log.Last); not
// located when the log cannot say without a read.
func (s Source) Last(ctx context.Context, r projections.Range) (uint64, time.Time, bool, error) {
	seq, at, err := s.Log.Last(ctx, r.To, r.Until)
	if errors.Is(err, jslog.ErrNotLocated) {
		return 0, time.Time{}, false, nil
	}
	if err != nil {
		return 0, time.Time{}, false, err
	}
	return seq, at, true, nil
}

// Head is the stream sequence and record time of the last event stored.
func (s Source) Head(ctx context.Context) (uint64, time.Time, error) {
	h, err := s.Log.Head(ctx)
	return h.LastSeq, h.LastTime, err
}
