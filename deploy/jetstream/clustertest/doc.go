// Package clustertest holds the tests of the ledger on a three-node
// JetStream cluster started from the deployment's configuration
// (deploy/nats, through natstest.RunDeployCluster), as the roles of
// deploy/jetstream/roles. It has no code besides its tests, which check:
//
//   - the operator creates the log, the compliance stream and the two
//     buckets (infra.Ensure), each with three replicas on every node;
//     opening the log creates nothing, and nobody else can create them;
//   - the ledger is the only writer: every other role's append, through
//     jslog or as a raw publish, is refused and stores nothing; only the
//     ledger listens on the command subjects, and recorders record
//     through its command service;
//   - the ledger creates, changes and deletes no stream or bucket; no
//     role but the operator updates the log, and the update that erased
//     449 of 459 events is refused; the operator may update the log, and
//     jslog.Open then refuses it while it could lose events; nobody, the
//     operator included, deletes or purges the log or one of its events;
//   - nobody but the ledger creates, changes, pulls from, acknowledges on,
//     resets, pauses or deletes its consumer ccm-projector;
//   - the service reads only the compliance events; only the ledger
//     writes the views; a reader's push consumer copies nothing into a
//     stream;
//   - appends chained as the ledger survive the loss of the log's leader
//     or of a follower: every event stored exactly once, in order, on
//     every replica.
//
// Every refusal is shown with nothing stored or changed: the streams'
// configurations and contents (a bucket's revisions) and the consumer's
// state are compared before and after.
package clustertest
