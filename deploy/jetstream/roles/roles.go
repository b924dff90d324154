// Package roles is the one table of who may do what on the ledger's NATS
// subjects: the operator manages the streams, the ledger (`ccm serve`) is
// the only writer of events, recorders send it commands, auditors read,
// services consume the derived compliance events. The embedded server of
// `ccm serve` grants exactly these permissions, and the deployment's
// deploy/nats/accounts.conf is generated from them (`go generate
// ./deploy/jetstream/roles`), so that a trial on one machine and a cluster
// enforce the same rules.
//
// Two rules hold for every role. Nobody deletes or purges the log or its
// evidence (the signed checkpoints), or one of their messages. Nobody subscribes to the events or the views (ccm.events.>,
// ccm.compliance.>, $KV.>): a core subscription would see what the read
// permissions hide, and would give a push consumer interest on a subject a
// stream captures. Replies come back on inboxes; only the ledger listens on
// the command subjects, so nobody can answer a command in its place.
package roles

//go:generate go run ./gen -o ../../nats/accounts.conf

import (
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// Subjects of the ledger's command service (see deploy/jetstream/cmdservice).
const (
	// Commands is the prefix of the commands recorders send the ledger.
	Commands = "ccm.cmd."
	// Discovery is the prefix of the NATS service discovery subjects
	// (`nats micro ls`).
	Discovery = "$SRV."
)

// Role is one kind of user and its permissions on subjects (NATS
// wildcards; a denial wins over an allowance).
type Role struct {
	Name string
	// Doc says what the role is for, in a sentence or two.
	Doc string
	// Publish and Subscribe list what the role may publish and subscribe
	// to; PublishDeny and SubscribeDeny what it may not, even where an
	// allowance matches.
	Publish, PublishDeny     []string
	Subscribe, SubscribeDeny []string
	// Inbox is the prefix of the role's reply subjects (default _INBOX).
	Inbox string
}

// Names of the roles.
const (
	Operator = "operator"
	Ledger   = "ledger"
	Recorder = "recorder"
	Auditor  = "auditor"
	Service  = "service"
)

// The streams and consumers the roles work on.
const (
	logStream        = "CCM"
	evidenceStream   = "CCM_EVIDENCE"
	complianceStream = "CCM_COMPLIANCE"
	snapshotsStream  = "KV_CCM_SNAPSHOTS"
	projectorStream  = "KV_CCM_PROJECTOR"
	// projectorDurable is the ledger's own consumer on the log: nobody
	// else may pull from it, delete it or make one of its name.
	projectorDurable = "ccm-projector"
)

// ServiceInbox is the reply prefix of the service role: a service sees no
// other user's replies, which can carry raw events.
const ServiceInbox = "_INBOX_service"

// readStream lists what a user needs to read a stream: its info, direct
// and API gets, and consumers of its own (ordered or durable).
func readStream(name string) []string {
	return []string{
		"$JS.API.STREAM.INFO." + name,
		"$JS.API.STREAM.MSG.GET." + name,
		"$JS.API.DIRECT.GET." + name,
		"$JS.API.DIRECT.GET." + name + ".>",
		"$JS.API.CONSUMER.CREATE." + name,
		"$JS.API.CONSUMER.CREATE." + name + ".>",
		"$JS.API.CONSUMER.INFO." + name + ".*",
		"$JS.API.CONSUMER.DELETE." + name + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + name + ".*",
		"$JS.ACK." + name + ".>",
		"$JS.FC." + name + ".>",
	}
}

// Subjects of the log's evidence (deploy/jetstream/notary): the signed
// checkpoints, which anyone may keep copies of, and the leaf hashes.
const (
	Checkpoints = "ccm.checkpoints.>"
	leaves      = "ccm.leaves.>"
)

// neverDestroyed is denied to everyone: the deletion, purge and the
// deletion of one message of the log and of its evidence.
var neverDestroyed = []string{
	"$JS.API.STREAM.DELETE." + logStream,
	"$JS.API.STREAM.PURGE." + logStream,
	"$JS.API.STREAM.MSG.DELETE." + logStream,
	"$JS.API.STREAM.DELETE." + evidenceStream,
	"$JS.API.STREAM.PURGE." + evidenceStream,
	"$JS.API.STREAM.MSG.DELETE." + evidenceStream,
}

// streamAdmin is what only the operator may do to streams.
var streamAdmin = []string{
	"$JS.API.STREAM.CREATE.>",
	"$JS.API.STREAM.UPDATE.>",
	"$JS.API.STREAM.DELETE.>",
	"$JS.API.STREAM.PURGE.>",
	"$JS.API.STREAM.MSG.DELETE.>",
	"$JS.API.STREAM.SNAPSHOT.>",
	"$JS.API.STREAM.RESTORE.>",
	"$JS.API.STREAM.PEER.>",
	"$JS.API.STREAM.LEADER.>",
}

// ledgersConsumer is the ledger's durable consumer on the log, which no
// other user may create, change, delete, pull from, acknowledge on, reset
// (which moves its position as acknowledgements do) or pause. The legacy
// create subject, $JS.API.CONSUMER.CREATE.<stream>, takes the consumer's
// name from the request and so creates or changes a consumer of any name:
// it is denied on the log too (clients create consumers by name).
var ledgersConsumer = []string{
	"$JS.API.CONSUMER.CREATE." + logStream,
	"$JS.API.CONSUMER.CREATE." + logStream + "." + projectorDurable,
	"$JS.API.CONSUMER.CREATE." + logStream + "." + projectorDurable + ".>",
	"$JS.API.CONSUMER.DURABLE.CREATE." + logStream + "." + projectorDurable,
	"$JS.API.CONSUMER.DELETE." + logStream + "." + projectorDurable,
	"$JS.API.CONSUMER.MSG.NEXT." + logStream + "." + projectorDurable,
	"$JS.API.CONSUMER.RESET." + logStream + "." + projectorDurable,
	"$JS.API.CONSUMER.PAUSE." + logStream + "." + projectorDurable,
	"$JS.ACK." + logStream + "." + projectorDurable + ".>",
}

// hidden are the subjects nobody subscribes to.
var hidden = []string{"ccm.events.>", "ccm.compliance.>", "$KV.>"}

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// All returns every role, in the order of deploy/nats/accounts.conf.
func All() []Role {
	return []Role{
		{
			Name:          Operator,
			Doc:           "Manages the streams, consumers and buckets (`ccm init`); records nothing.",
			Publish:       []string{"$JS.API.>", "$JS.ACK.>", "$JS.FC.>"},
			PublishDeny:   join(neverDestroyed, ledgersConsumer, []string{"ccm.>", "$KV.>"}),
			Subscribe:     []string{"_INBOX.>"},
			SubscribeDeny: hidden,
		},
		{
			Name: Ledger,
			Doc: "ccm serve: the only writer of events, after the Convention's rules decided them; answers the " +
				"recorders' commands; keeps the views (compliance events, snapshots, the projector's checkpoint). " +
				"It creates no stream: the operator does.",
			// It answers on the requesters' inboxes by a right to publish
			// there, not by the server's response permission: that one
			// lives on the server that delivered the request, and is lost
			// when the ledger reconnects to another node of the cluster
			// before it answers (an import through a node failure).
			Publish: join([]string{"ccm.events.>", "ccm.compliance.>", Checkpoints, leaves, "$KV.CCM_SNAPSHOTS.>", "$KV.CCM_PROJECTOR.>", "$JS.API.INFO", "_INBOX.>"},
				readStream(logStream), readStream(evidenceStream), readStream(complianceStream), readStream(snapshotsStream), readStream(projectorStream)),
			PublishDeny:   join(neverDestroyed, streamAdmin),
			Subscribe:     []string{"_INBOX.>", Commands + ">", Discovery + ">"},
			SubscribeDeny: hidden,
		},
		{
			Name: Recorder,
			Doc: "Sends commands to the ledger (ccm record, ccm import, POST /v1/events goes through ccm serve too) and " +
				"reads the log and the views; publishes no event itself.",
			Publish:       join([]string{Commands + ">", Discovery + ">", "$JS.API.INFO"}, readStream(logStream), readStream(evidenceStream), readStream(complianceStream), readStream(snapshotsStream)),
			PublishDeny:   join(neverDestroyed, streamAdmin, ledgersConsumer, []string{"ccm.events.>", "ccm.compliance.>", "$KV.>"}),
			Subscribe:     []string{"_INBOX.>"},
			SubscribeDeny: hidden,
		},
		{
			Name:          Auditor,
			Doc:           "Reads the log and the views (compliance events, snapshots); writes nothing, sends no command.",
			Publish:       join([]string{"$JS.API.INFO", Discovery + ">"}, readStream(logStream), readStream(evidenceStream), readStream(complianceStream), readStream(snapshotsStream)),
			PublishDeny:   join(neverDestroyed, streamAdmin, ledgersConsumer, []string{"ccm.>", "$KV.>"}),
			Subscribe:     []string{"_INBOX.>"},
			SubscribeDeny: hidden,
		},
		{
			Name: Service,
			Doc: "A subscribing service: consumes the compliance events, nothing else. Its replies come back on inboxes " +
				"of its own (" + ServiceInbox + "), which no other user may subscribe to, and it may not subscribe to the " +
				"others': it sees no reply carrying a raw event. Its clients set that inbox prefix.",
			Publish: []string{
				"$JS.API.INFO",
				"$JS.API.STREAM.INFO." + complianceStream,
				"$JS.API.CONSUMER.CREATE." + complianceStream,
				"$JS.API.CONSUMER.CREATE." + complianceStream + ".>",
				"$JS.API.CONSUMER.INFO." + complianceStream + ".*",
				"$JS.API.CONSUMER.DELETE." + complianceStream + ".*",
				"$JS.API.CONSUMER.MSG.NEXT." + complianceStream + ".*",
				"$JS.ACK." + complianceStream + ".>",
				"$JS.FC." + complianceStream + ".>",
				// A witness keeps the checkpoints: it subscribes to them
				// and may fetch the stored ones.
				"$JS.API.STREAM.INFO." + evidenceStream,
				"$JS.API.DIRECT.GET." + evidenceStream,
				"$JS.API.DIRECT.GET." + evidenceStream + ".>",
			},
			PublishDeny:   join(neverDestroyed, streamAdmin, []string{"ccm.>", "$KV.>"}),
			Subscribe:     []string{ServiceInbox + ".>", Checkpoints},
			SubscribeDeny: join(hidden, []string{"_INBOX.>"}),
			Inbox:         ServiceInbox,
		},
	}
}

// ByName returns the role of that name.
func ByName(name string) (Role, bool) {
	for _, r := range All() {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

// Permissions returns the role's permissions as the embedded server takes
// them.
func (r Role) Permissions() *server.Permissions {
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: r.Publish, Deny: r.PublishDeny},
		Subscribe: &server.SubjectPermission{Allow: r.Subscribe, Deny: r.SubscribeDeny},
	}
	return p
}

// PasswordEnv is the environment variable that gives role's password to
// deploy/nats/accounts.conf.
func PasswordEnv(role string) string { return "CCM_NATS_" + strings.ToUpper(role) + "_PASSWORD" }
