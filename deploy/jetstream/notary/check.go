package notary

import (
	"context"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// Result is what Check found: the report, the tree it rebuilt and the
// stored checkpoints.
type Result struct {
	Report evidence.Report
	Tree   *evidence.Tree
	Stored []evidence.Stored
	// Head is the log's end when the check read it.
	Head jslog.Head
}

// Check verifies the log against its evidence: the stream's configuration
// and state, every stored message's leaf, every checkpoint's signature
// (when public is given), consistency and root. It fails only when the log
// or the evidence cannot be read; what is wrong is in the report (see
// Report.Err). Checkpoints a witness kept are checked with the stored
// ones: one the log does not reach shows a log, or evidence, cut back.
func Check(ctx context.Context, log *jslog.Log, store *Store, public string, witnessed ...evidence.Stored) (Result, error) {
	origin := evidence.Origin(log.StreamName())
	a, err := evidence.NewAudit(origin, public)
	if err != nil {
		return Result{}, err
	}
	if err := log.Unfit(); err != nil {
		a.Problemf(0, 0, "%v (a stream reconfigured to drop or delete messages)", err)
	}
	head, err := log.Head(ctx)
	if err != nil {
		return Result{}, err
	}
	if head.Deleted > 0 {
		a.Problemf(0, 0, "the stream reports %d messages deleted from the log", head.Deleted)
	}
	if head.Msgs > 0 && head.FirstSeq > 1 {
		a.Problemf(1, 0, "the log starts at sequence %d: messages 1 to %d are gone", head.FirstSeq, head.FirstSeq-1)
	}
	a.Grow(head.LastSeq)
	if _, err := log.ReadMessages(ctx, 1, head.LastSeq, func(m evidence.Message) error {
		a.Add(m.Seq, evidence.LeafOf(m), uuid.Nil, 0)
		return nil
	}); err != nil {
		return Result{}, err
	}
	if a.Size() < head.LastSeq {
		a.Problemf(a.Size()+1, 0, "%s missing", evidence.Span("sequence", a.Size()+1, head.LastSeq))
	}
	stored, trusted, err := store.Load(ctx)
	if err != nil {
		return Result{}, err
	}
	if !store.Exists() {
		a.Problemf(0, 0, "the evidence stream %s does not exist: the operator creates it (`ccm init`)", StreamName(log.StreamName()))
	}
	r := a.Finish(append(stored, witnessed...), evidence.FinishOptions{Trusted: trusted, IDOf: func(seq uint64) string {
		if e, err := log.Get(ctx, seq); err == nil {
			return e.ID.String()
		}
		return ""
	}})
	return Result{Report: r, Tree: a.Tree(), Stored: stored, Head: head}, nil
}
