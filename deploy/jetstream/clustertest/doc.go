// Package clustertest holds the tests of the event log on a three-node
// JetStream cluster started from the deployment's configuration
// (deploy/nats, through natstest.RunCluster): the R3 stream, the roles'
// permissions, and appends that survive the loss of the stream's leader
// or of a follower. It has no code besides its tests.
package clustertest
