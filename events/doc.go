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
//
// # The envelope
//
// A line is a JSON object with the fields id (optional: derived from the
// content when absent), type, state (absent for Convention-wide types),
// date, precision (optional), data (the payload of the type, absent when
// it has none) and source. An export adds seq and recorded, which an
// import ignores.
//
// The date is always the latest day the source allows. precision, added
// after the first release, says how well it is known: "day" (the default,
// what a line without the field means), "month" (dated at the last day of
// the month), "year" (dated at 31 December) or "on-or-before" (the source
// says only "by" the date). A precision other than the day is part of the
// fact: it is written after the date in the stored form and enters the
// derived id, so every line written before the field existed keeps its
// id. The golden files of testdata/golden/precision show it.
//
// # What the wire format refuses
//
// Decode, New, ReadAll and ReadLines refuse, each with the line, the field
// (its key path, such as data.name or data.areas[1]) and the reason, input
// that never had a meaning, rather than give it one:
//
//   - invalid UTF-8 anywhere in a line, and escapes of half a surrogate pair
//     (\ud800): encoding/json would replace them with U+FFFD;
//   - a key given twice, at any level: encoding/json would keep the last;
//   - a control character (U+0000–U+001F, U+007F–U+009F), raw or escaped,
//     in any text: the source, a meeting's name and city, a retraction's
//     reason, an area of assistance, even the recorded time a line may carry
//     (and which is ignored);
//   - a source, name, reason or area without a visible character (a letter,
//     mark, number, punctuation or symbol): nothing, or only spaces and
//     format characters such as U+200B or U+FEFF; a city may be empty, not
//     blank;
//   - an explicit id that is the nil UUID, or a name-based (version 5) id
//     other than the one DeriveID gives the event's content: derived ids
//     are predictable and an id is forever, so none may be taken ahead of
//     the fact it names. Omit the id, or give a random (version 4) one;
//   - a precision other than day, month, year and on-or-before, and a date
//     that is not the last day its precision allows (the last day of the
//     month, 31 December);
//   - an event larger than MaxStoredBytes once stored (the stored form can
//     be longer than its line: escapes, the id), which the log would refuse.
//
// A line is at most MaxLineBytes long, an input at most MaxInputBytes
// unless the reader is told otherwise (WithMaxInputBytes). DecodeStored
// reads what the log holds, as earlier versions stored it, without these
// checks.
package events
