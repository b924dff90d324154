// Package projections rebuilds, from the event log alone, what auditors ask
// of the ledger: one State's state of compliance, the Convention-wide
// tables, the differences between two dates, a State's timeline, and the
// walk through history event by event. Each view is a pure function of the
// events known at a moment ("known at": a stream sequence or record time)
// evaluated as of a valid date ("as of": a date or a meeting's last day).
//
// The fold keeps each State's facts as dated sets (see package aggregates),
// so the same fold serves every as-of date and a late, backdated event just
// joins it; status is derived at query time. Snapshots of the fold, stored
// per meeting with the stream sequence they cover, let a query fold only
// what was recorded after them (docs/snapshots.md).
//
// The Engine answers the queries: it reads the log through a Source and
// the snapshots through a SnapshotStore, both small interfaces that the
// JetStream adapter (deploy/jetstream/jslog) satisfies, so this package imports no
// NATS. Package synth generates valid synthetic ledgers of any size for
// tests and benchmarks.
package projections
