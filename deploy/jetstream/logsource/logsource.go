// Package logsource reads the JetStream log (deploy/jetstream/jslog) as the
// projections' Source: the one adapter between the two, used by the ccm
// command and by every test that projects a real log.
package logsource

import (
	"context"
	"time"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// Source is a jslog.Log read as a projections.Source.
type Source struct{ Log *jslog.Log }

var _ projections.Source = Source{}

// New returns the log l as a projections.Source.
func New(l *jslog.Log) Source { return Source{Log: l} }

// Read replays the events within r, bounded as the range says: one scope,
// stream sequences From to To, recorded no later than Until.
func (s Source) Read(ctx context.Context, r projections.Range, fn func(events.Envelope) error) (uint64, error) {
	return s.Log.Read(ctx, jslog.ReadOptions{Scope: r.Scope, FromSeq: r.From, UpToSeq: r.To, UpToTime: r.Until, Quarantine: r.Quarantine}, fn)
}

// Head is the stream sequence and record time of the last event stored.
func (s Source) Head(ctx context.Context) (uint64, time.Time, error) {
	h, err := s.Log.Head(ctx)
	return h.LastSeq, h.LastTime, err
}
