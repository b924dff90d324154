// Package events is the vocabulary of ccm-ledger: the event envelope, the
// permanent event types of the Convention on Cluster Munitions and their
// payloads, the civil Date of the valid-time clock, the JSON Lines wire
// format used for import and export, the subjects under which events are
// stored, and the built-in table of States.
//
// The package has no dependency on NATS: the JetStream log lives in
// deploy/jetstream/jslog, and the domain packages (aggregates, projections)
// see only the types defined here.
//
// Event type names and payload field names are part of the public wire
// format. They are never renamed: a changed payload is a new type.
package events
