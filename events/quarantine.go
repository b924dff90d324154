package events

import (
	"fmt"
	"time"
	"unicode/utf8"

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

// DecodeMessage reads one stored message as the event it must be: a valid
// event of the wire format, stored on the subject of its scope and type.
// Anything else is described by the returned *Quarantined, never an error:
// no stored message can break a read.
func DecodeMessage(subject string, data []byte, seq uint64, recorded time.Time) (Envelope, *Quarantined) {
	if !utf8.Valid(data) {
		return Envelope{}, &Quarantined{Seq: seq, Subject: subject, Recorded: recorded,
			Rule: QuarantineUndecodable, Reason: "the body is not valid UTF-8"}
	}
	e, err := DecodeStored(data, seq, recorded)
	if err != nil {
		return e, &Quarantined{Seq: seq, Subject: subject, Recorded: recorded,
			Rule: QuarantineUndecodable, Reason: err.Error()}
	}
	if want := e.Subject(); subject != want {
		return e, &Quarantined{Seq: seq, Subject: subject, Recorded: recorded, ID: e.ID, Type: e.Type, Scope: e.Scope(),
			Rule: QuarantineWrongSubject, Reason: fmt.Sprintf("the body is a %s event of %s, stored on %s instead of %s", e.Type, e.Scope(), subject, want)}
	}
	return e, nil
}
