package events

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Why a stored message is quarantined when it is not an event the rules
// accept. A rule of the aggregates names the others (package aggregates,
// Rule...).
const (
	// QuarantineUndecodable: the body is not an event of the wire format.
	QuarantineUndecodable = "undecodable"
	// QuarantineWrongSubject: the subject is not the one of the event in
	// the body (ccm.events.<scope>.<type>).
	QuarantineWrongSubject = "wrong-subject"
	// QuarantineDuplicateID: an earlier event of the same scope has the id.
	QuarantineDuplicateID = "duplicate-id"
)

// Quarantined is a stored message that no fold counts: it does not decode
// as an event, its subject does not match its body, or the Convention's
// rules reject it where it stands in the log (written by hand, by a bug, or
// by a version of the ledger that let raw messages in). It stays in the log,
// which nobody may edit, and is listed by `ccm verify`.
type Quarantined struct {
	// Seq, Subject and Recorded locate the message in the log.
	Seq      uint64    `json:"seq"`
	Subject  string    `json:"subject"`
	Recorded time.Time `json:"recorded"`
	// ID, Type and Scope are those of the event, when the body decoded.
	ID    uuid.UUID `json:"id,omitzero"`
	Type  Type      `json:"type,omitempty"`
	Scope string    `json:"scope,omitempty"`
	// Rule names the reason: one of the Quarantine... constants or a
	// rule of the aggregates.
	Rule string `json:"rule"`
	// Reason explains it for people.
	Reason string `json:"reason"`
}

func (q Quarantined) String() string {
	return fmt.Sprintf("stored message %d on %s: %s: %s", q.Seq, q.Subject, q.Rule, q.Reason)
}
