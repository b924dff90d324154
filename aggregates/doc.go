// Package aggregates holds the Convention on Cluster Munitions' rules: the
// date rules of Articles 3, 4, 7, 17 and 20 as plain functions, the per-State
// aggregate that folds a State's events into its facts and decides whether a
// new event is possible under the Convention, and the Ledger that loads the
// log, decides and appends with optimistic concurrency.
//
// A State's facts are kept as dated sets, not as a running status: the
// status as of any date is derived from them (package projections), so a
// late, backdated event simply joins the set. Decisions read the facts in
// valid time: a signature dated after the State's deposit is impossible
// whatever order the two were recorded in.
//
// The package does not import NATS: the Ledger reads and appends through the
// Store interface, which the JetStream log (deploy/jetstream/jslog) satisfies.
package aggregates
