package events

// Sizes the wire format and the log agree on.
const (
	// MaxLineBytes bounds one line of JSON Lines input, not counting its
	// line ending. It is also the log's largest message (the stream's
	// MaxMsgSize), which counts the message's headers with its body.
	MaxLineBytes = 1 << 20
	// HeaderAllowance is the room left in a message of MaxLineBytes for
	// the headers the log adds to an event (Nats-Msg-Id,
	// Nats-Expected-Stream, Nats-Expected-Last-*, those of an atomic
	// batch, and their values): a few hundred bytes, with a margin.
	HeaderAllowance = 4 << 10
	// MaxStoredBytes bounds the stored form of an event
	// (Envelope.StoredJSON): New and Decode refuse a larger event, which
	// the log would refuse at append. The stored form can be longer than
	// the line it came from: the canonical JSON escapes <, > and & as
	// \u003c, ..., and the id is added when the line had none.
	MaxStoredBytes = MaxLineBytes - HeaderAllowance
)
