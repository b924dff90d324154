package roles

import (
	"bytes"
	"fmt"
	"strings"
)

// AccountsConf returns deploy/nats/accounts.conf: the ledger's account CCM
// with a user per role, each with its password from the environment of
// nats-server, and the system account.
func AccountsConf() []byte {
	var b bytes.Buffer
	b.WriteString(confHeader)
	b.WriteString("accounts {\n  CCM {\n    jetstream: enabled\n\n    users: [\n")
	for i, r := range All() {
		if i > 0 {
			b.WriteString("\n")
		}
		writeUser(&b, r)
	}
	b.WriteString("    ]\n  }\n")
	b.WriteString(confSystem)
	return b.Bytes()
}

func writeUser(b *bytes.Buffer, r Role) {
	for _, line := range wrap(r.Doc, 70) {
		fmt.Fprintf(b, "      # %s\n", line)
	}
	fmt.Fprintf(b, "      {\n        user: %s\n        password: $%s\n        permissions: {\n", r.Name, PasswordEnv(r.Name))
	writePerm(b, "publish", r.Publish, r.PublishDeny)
	writePerm(b, "subscribe", r.Subscribe, r.SubscribeDeny)
	b.WriteString("        }\n      }\n")
}

func writePerm(b *bytes.Buffer, kind string, allow, deny []string) {
	fmt.Fprintf(b, "          %s: {\n", kind)
	writeList(b, "allow", allow)
	writeList(b, "deny", deny)
	b.WriteString("          }\n")
}

func writeList(b *bytes.Buffer, name string, subjects []string) {
	if len(subjects) == 0 {
		return
	}
	fmt.Fprintf(b, "            %s: [\n", name)
	for _, s := range subjects {
		fmt.Fprintf(b, "              %q\n", s)
	}
	b.WriteString("            ]\n")
}

// wrap splits text into lines of at most width characters.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

const confHeader = `# Accounts, users and permissions of the ccm-ledger cluster (included by
# cluster.conf). Generated from deploy/jetstream/roles (go generate
# ./deploy/jetstream/roles): the embedded server of ccm serve grants the
# same permissions. The role table and the reasons are in deploy/README.md
# and docs/security.md.
#
# No secret is written here. Each password comes from the environment of
# nats-server when the configuration is loaded; the server refuses to
# start if one is missing. The value may be the password itself or, better,
# its bcrypt hash (ccm passwd), so that the server's environment
# file holds no usable password:
#
#   CCM_NATS_OPERATOR_PASSWORD   user operator  (manages the streams)
#   CCM_NATS_LEDGER_PASSWORD     user ledger    (ccm serve: the only writer)
#   CCM_NATS_RECORDER_PASSWORD   user recorder  (sends commands to the ledger)
#   CCM_NATS_AUDITOR_PASSWORD    user auditor   (reads the log and the views)
#   CCM_NATS_SERVICE_PASSWORD    user service   (consumes compliance events)
#   CCM_NATS_SYS_PASSWORD        user sys       (server administration)
#
# To use nkeys instead of passwords, replace "user: X, password: $Y" by
# "nkey: $Y" where $Y holds the user's public nkey (U...); the client then
# gives the seed file (--nats-nkey FILE).
#
# One account holds the whole ledger: its stream CCM, the derived stream
# CCM_COMPLIANCE and the key-value buckets CCM_SNAPSHOTS and CCM_PROJECTOR
# (streams KV_CCM_SNAPSHOTS and KV_CCM_PROJECTOR), all created by the
# operator (ccm init). Roles are users of it with subject permissions. Two
# rules hold for every user:
#
# 1. Nobody may delete or purge the log, or delete one of its messages:
#    $JS.API.STREAM.DELETE.CCM, $JS.API.STREAM.PURGE.CCM and
#    $JS.API.STREAM.MSG.DELETE.CCM are denied to all, the operator
#    included. Only the operator may create or change a stream.
# 2. Nobody may subscribe to the events or the views (ccm.events.>,
#    ccm.compliance.>, $KV.>): a core subscription would see events in
#    flight, bypassing the read permissions, and would give a push
#    consumer interest on a subject that a stream captures, letting a
#    reader copy messages into the log or a view. Replies come back on
#    inboxes. Only the ledger listens on the commands (ccm.cmd.>), and only
#    the ledger publishes events.

`

const confSystem = `
  # The system account: cluster-wide administration with the nats CLI
  # (nats server report jetstream, peer removal). It holds no data; it
  # may not purge an account's JetStream data.
  SYS {
    users: [
      {
        user: sys
        password: $CCM_NATS_SYS_PASSWORD
        permissions: {
          publish: { deny: ["$JS.API.ACCOUNT.PURGE.>"] }
        }
      }
    ]
  }
}

system_account: SYS
`
