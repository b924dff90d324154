// Package jetstream is the home of every adapter between the ledger and
// NATS; it holds no code itself. Its packages:
//
//   - jslog: the event log on a JetStream stream (append, read, follow,
//     connections, the snapshot bucket);
//   - logsource: the log read as a projections.Source;
//   - projector: the derived compliance events published to their stream;
//   - embedded: a nats-server inside the ccm process;
//   - natstest: embedded servers and clusters for tests;
//   - clustertest: the tests of the deployed three-node cluster.
//
// The domain packages (events, aggregates, projections) import none of
// them and no NATS package (aggregates/deps_test.go checks it). The tree
// sits under deploy/ beside the server configuration (deploy/nats) it
// runs with.
package jetstream
