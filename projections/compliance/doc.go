// Package compliance derives the compliance transitions of the Convention
// on Cluster Munitions from the ledger's facts, and decides which derived
// compliance events to publish so that each transition is published once.
//
// It is the pure part of the projector that `ccm serve` runs: no NATS and
// no clock. Derive turns a fold of the log (package projections) and a date
// into the transitions that happened up to that date (a State entering into
// force, a deadline approaching or missed, an obligation fulfilled, a report
// overdue, a withdrawal taking effect), each with the rule and the events it
// derives from and a key that identifies it across derivations. Published
// holds what the compliance stream already carries and plans what to publish
// next: new transitions, and revocations of published ones that a late,
// backdated fact shows never happened. Tracker ties the fold, the clock and
// the published record together. The NATS side (the stream, the checkpoint,
// the durable consumer) lives in deploy/jetstream/projector.
package compliance
