package projections

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// The layout of the snapshot bucket (see docs/snapshots.md):
//
//	_index          the snapshots present: meeting, as-of date, sequence
//	<M>._meta       snapshot of meeting M: as-of date, sequence covered,
//	                record time, per-State key revisions and deposits,
//	                the Convention's own facts
//	<M>._status     the status of every State as of M's last day
//	<M>.<ISO3>      the State's facts dated on or before M's last day
//
// Every value has a one-byte tag: 'j' JSON, 'f' facts in a binary form
// (see encodeFacts), 'J' gzip-compressed JSON (from compressAbove bytes),
// and 'm' for the manifest of a value split into <key>.p1, <key>.p2, ...
// because it is larger than partSize.
// Format 2: facts come from gated folds (aggregates.Gate), and the meta
// counts the stored messages kept out. A snapshot of format 1 may hold what
// the rules reject, so it is built again.
const (
	snapshotFormat = 2
	indexKey       = "_index"
)

// latestCode names the snapshot of every fact whatever its date: it serves
// the dates after the last meeting, and is what the rules judge the events
// recorded after a snapshot against (aggregates.Gate). It has no stored
// statuses.
const latestCode = "_latest"

// latestAsOf is the as-of date of the latest snapshot: the last date the
// wire format can write, after every date of an event.
var latestAsOf = events.MustDate("9999-12-31")

func metaKey(code string) string        { return code + "._meta" }
func statusKey(code string) string      { return code + "._status" }
func stateKey(code, iso3 string) string { return code + "." + iso3 }

// partSize is the largest value written under one key. The server's
// default maximum payload is 1 MiB.
var partSize = 512 << 10

// errStale marks a snapshot that changed while it was read (a concurrent
// refresh) or cannot be decoded: queries then fold the log instead.
var errStale = errors.New("snapshot changed while read")

// snapIndex lists the snapshots present and the head of the log they were
// last brought to.
type snapIndex struct {
	Format    int          `json:"format"`
	Head      uint64       `json:"head"`
	Snapshots []indexEntry `json:"snapshots"`
}

type indexEntry struct {
	Meeting string      `json:"meeting"`
	AsOf    events.Date `json:"as_of"`
	Seq     uint64      `json:"seq"`
}

// snapMeta describes one meeting's snapshot.
type snapMeta struct {
	Format  int         `json:"format"`
	Meeting string      `json:"meeting"`
	AsOf    events.Date `json:"as_of"`
	// Seq is the last stream sequence the snapshot covers, Time its record
	// time, Quarantined the stored messages up to Seq that no fold counts.
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Quarantined int       `json:"quarantined,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	// Rule is the annual-report rule of the stored statuses, StatusRev the
	// sequence at which they were written.
	Rule      string `json:"rule"`
	StatusRev uint64 `json:"status_rev"`
	// States has an entry for each State with facts dated on or before
	// AsOf.
	States map[string]snapState `json:"states"`
	// Convention holds the Convention's own facts (meetings).
	Convention []factRec `json:"convention"`
}

// snapState is the meta's entry for one State: the sequence at which its
// key was written, what the key holds, and its live deposits (for the
// Convention's entry into force).
type snapState struct {
	Rev   uint64 `json:"rev"`
	Facts int    `json:"facts"`
	Bytes int    `json:"bytes"`
	// First is the date of the State's earliest live fact (zero if all
	// are retracted).
	First    events.Date   `json:"first,omitempty"`
	Deposits []events.Date `json:"deposits,omitempty"`
}

// stateValue is the value of a per-State key.
type stateValue struct {
	State string    `json:"state"`
	Rev   uint64    `json:"rev"`
	Facts []factRec `json:"facts"`
}

// statusValue is the value of a meeting's _status key.
type statusValue struct {
	Rev      uint64   `json:"rev"`
	Statuses []Status `json:"statuses"`
}

// factRec is one fact in a snapshot: the event without its State (the key
// says it), and, for a retracted fact, the retraction.
type factRec struct {
	ID           uuid.UUID       `json:"i"`
	Type         events.Type     `json:"t"`
	Date         events.Date     `json:"d"`
	Seq          uint64          `json:"s"`
	Data         json.RawMessage `json:"p,omitempty"`
	Source       string          `json:"src"`
	RetractedBy  string          `json:"rby,omitempty"`
	RetractedSeq uint64          `json:"rs,omitempty"`
}

// retraction identifies the event that retracted a fact.
type retraction struct {
	ID  uuid.UUID
	Seq uint64
}

// recOf returns the snapshot form of a fact. data, when not nil, keeps the
// canonical data of the facts already seen, for a fold written into many
// snapshots.
func recOf(f aggregates.Fact, data map[uuid.UUID][]byte) factRec {
	d, ok := data[f.ID]
	if !ok {
		d = events.Envelope{Payload: f.Payload}.Data()
		if data != nil {
			data[f.ID] = d
		}
	}
	return factRec{ID: f.ID, Type: f.Type, Date: f.Date, Seq: f.Seq, Data: d, Source: f.Source}
}

// envelope rebuilds the stored event of a fact of scope.
func (r factRec) envelope(scope string) (events.Envelope, error) {
	p, err := decodePayload(r.Type, r.Data)
	if err != nil {
		return events.Envelope{}, fmt.Errorf("fact %s: %w", r.ID, err)
	}
	e := events.Envelope{ID: r.ID, Type: r.Type, Date: r.Date, Payload: p, Source: r.Source, Seq: r.Seq}
	if scope != events.ConventionScope {
		e.State = scope
	}
	return e, nil
}

// decodePayload reads the canonical data of a fact back into its payload
// type.
func decodePayload(t events.Type, data []byte) (events.Payload, error) {
	if t == events.Retracted {
		return nil, fmt.Errorf("type %q cannot be held in a snapshot", t)
	}
	return events.DecodeData(t, data)
}

// recsOf returns the facts of s dated on or before upTo, live and
// retracted, in stream order.
func recsOf(s *aggregates.State, upTo events.Date, rby map[uuid.UUID]retraction, data map[uuid.UUID][]byte) []factRec {
	var out []factRec
	for _, t := range events.Types() {
		for _, f := range s.Facts(t) {
			if f.Date <= upTo {
				out = append(out, recOf(f, data))
			}
		}
	}
	for id, f := range s.Retracted {
		if f.Date > upTo {
			continue
		}
		r := recOf(f, data)
		if by, ok := rby[id]; ok {
			r.RetractedBy, r.RetractedSeq = by.ID.String(), by.Seq
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b factRec) int {
		if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return out
}

// stateOf rebuilds the aggregate of scope from its snapshot facts, and
// notes their retractions in rby.
func stateOf(scope string, recs []factRec, rby map[uuid.UUID]retraction) (*aggregates.State, error) {
	s := aggregates.NewState(scope)
	state := scope
	if scope == events.ConventionScope {
		state = ""
	}
	for _, r := range recs {
		e, err := r.envelope(scope)
		if err != nil {
			return nil, err
		}
		s.Apply(e)
	}
	for _, r := range recs {
		if r.RetractedBy == "" {
			continue
		}
		id, err := uuid.Parse(r.RetractedBy)
		if err != nil {
			return nil, fmt.Errorf("fact %s: retracted by %q: %w", r.ID, r.RetractedBy, err)
		}
		s.Apply(events.Envelope{ID: id, Type: events.Retracted, State: state, Seq: r.RetractedSeq,
			Payload: &events.Retraction{Event: r.ID, Reason: "retracted"}})
		if rby != nil {
			rby[r.ID] = retraction{ID: id, Seq: r.RetractedSeq}
		}
	}
	return s, nil
}

// liveDeposits returns the dates of a State's live deposits dated on or
// before upTo.
func liveDeposits(s *aggregates.State, upTo events.Date) []events.Date {
	var out []events.Date
	for _, f := range s.Facts(events.Deposited) {
		if f.Date <= upTo {
			out = append(out, f.Date)
		}
	}
	return out
}

// firstLiveUpTo returns the date of the earliest live fact of s dated on
// or before upTo, or zero.
func firstLiveUpTo(s *aggregates.State, upTo events.Date) events.Date {
	var first events.Date
	for _, t := range events.Types() {
		if fs := s.Facts(t); len(fs) > 0 && fs[0].Date <= upTo && (first == 0 || fs[0].Date < first) {
			first = fs[0].Date
		}
	}
	return first
}

// firstLive returns the date of the earliest live fact of s, or zero.
func firstLive(s *aggregates.State) events.Date { return firstLiveUpTo(s, events.Date(1<<31-1)) }

// factCount is what changes in a State when an event counts: its live
// facts and its retracted ones.
type factCount struct{ live, retracted int }

func countOf(s *aggregates.State) factCount { return factCount{s.Len(), len(s.Retracted)} }

// putValue stores v under key as JSON; see putBlob.
func (e *Engine) putValue(ctx context.Context, key string, v any) (int, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	return e.putBlob(ctx, key, kindJSON, data)
}

// The kinds of value, and their compressed forms.
const (
	kindJSON  = 'j' // JSON
	kindFacts = 'f' // a State's facts in the binary form of encodeFacts
	kindSplit = 'm' // a manifest of a value split into parts
)

// compressed returns the tag of a compressed value of kind k.
func compressed(k byte) byte { return k - 'a' + 'A' }

// putBlob stores data of kind k under key behind a one-byte tag, split
// into parts when larger than partSize. JSON larger than compressAbove is
// gzip-compressed (the tag is then upper case): statuses shrink tenfold and
// are read by every report. Facts are not: compressing them would make
// building the snapshots several times slower, and the bucket compresses
// what it stores. It returns the bytes written.
func (e *Engine) putBlob(ctx context.Context, key string, k byte, data []byte) (int, error) {
	tag, body := k, data
	if k == kindJSON && len(data) > compressAbove {
		var buf bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&buf)
		_, err := zw.Write(data)
		if err == nil {
			err = zw.Close()
		}
		gzipWriters.Put(zw)
		if err != nil {
			return 0, fmt.Errorf("encode %s: %w", key, err)
		}
		tag, body = compressed(k), buf.Bytes()
	}
	if len(body) < partSize {
		if err := e.snaps.Put(ctx, key, append([]byte{tag}, body...)); err != nil {
			return 0, fmt.Errorf("store snapshot %s: %w", key, err)
		}
		return len(body) + 1, nil
	}
	size := len(body)
	n := 0
	for i := 0; len(body) > 0; i++ {
		part := body[:min(partSize, len(body))]
		body = body[len(part):]
		if err := e.snaps.Put(ctx, key+".p"+strconv.Itoa(i+1), part); err != nil {
			return 0, fmt.Errorf("store snapshot %s part %d: %w", key, i+1, err)
		}
		n++
	}
	man, _ := json.Marshal(manifest{Parts: n, Size: size, Tag: string(tag)})
	if err := e.snaps.Put(ctx, key, append([]byte{kindSplit}, man...)); err != nil {
		return 0, fmt.Errorf("store snapshot %s: %w", key, err)
	}
	return size + len(man) + 1, nil
}

// compressAbove is the size from which a value is compressed.
const compressAbove = 2048

var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

var gzipReaders sync.Pool

// manifest is the value of a key whose value was split into parts.
type manifest struct {
	Parts int    `json:"parts"`
	Size  int    `json:"size"`
	Tag   string `json:"tag"` // the tag of the whole value
}

// getBlob reads the value under key: its kind and its data, joined and
// decompressed. found is false when the key is absent; errStale is
// returned for a value that cannot be read back.
func (e *Engine) getBlob(ctx context.Context, key string) (byte, []byte, bool, error) {
	raw, found, err := e.snaps.Get(ctx, key)
	if err != nil {
		return 0, nil, false, fmt.Errorf("read snapshot %s: %w", key, err)
	}
	if !found {
		return 0, nil, false, nil
	}
	if len(raw) == 0 {
		return 0, nil, true, fmt.Errorf("%s: empty value: %w", key, errStale)
	}
	tag, body := raw[0], raw[1:]
	if tag == kindSplit {
		var m manifest
		if err := json.Unmarshal(body, &m); err != nil || len(m.Tag) != 1 {
			return 0, nil, true, fmt.Errorf("%s: bad manifest: %w", key, errStale)
		}
		all := make([]byte, 0, m.Size)
		for i := 1; i <= m.Parts; i++ {
			part, ok, err := e.snaps.Get(ctx, key+".p"+strconv.Itoa(i))
			if err != nil {
				return 0, nil, true, fmt.Errorf("read snapshot %s part %d: %w", key, i, err)
			}
			if !ok {
				return 0, nil, true, fmt.Errorf("%s: part %d missing: %w", key, i, errStale)
			}
			all = append(all, part...)
		}
		if len(all) != m.Size {
			return 0, nil, true, fmt.Errorf("%s: %d bytes in parts, manifest says %d: %w", key, len(all), m.Size, errStale)
		}
		tag, body = m.Tag[0], all
	}
	switch tag {
	case kindJSON, kindFacts:
		return tag, body, true, nil
	case compressed(kindJSON), compressed(kindFacts):
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(body))
		} else {
			err = zr.Reset(bytes.NewReader(body))
		}
		if err == nil {
			body, err = io.ReadAll(zr)
			gzipReaders.Put(zr)
		}
		if err != nil {
			return 0, nil, true, fmt.Errorf("%s: %v: %w", key, err, errStale)
		}
		return tag - 'A' + 'a', body, true, nil
	}
	return 0, nil, true, fmt.Errorf("%s: unknown value tag %q: %w", key, tag, errStale)
}

// getValue reads the JSON value under key into v; see getBlob.
func (e *Engine) getValue(ctx context.Context, key string, v any) (bool, error) {
	k, body, found, err := e.getBlob(ctx, key)
	if err != nil || !found {
		return found, err
	}
	if k != kindJSON {
		return true, fmt.Errorf("%s: not a JSON value: %w", key, errStale)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return true, fmt.Errorf("%s: %v: %w", key, err, errStale)
	}
	return true, nil
}

// putState stores the facts of a State under its key.
func (e *Engine) putState(ctx context.Context, key string, v stateValue) (int, error) {
	return e.putBlob(ctx, key, kindFacts, encodeFacts(v))
}

// encodeFacts writes a State's facts in a compact binary form, much
// faster to read back than JSON: the State and the revision, then for each
// fact its id (16 bytes), type, date, sequence, data, source, and a flag
// byte: 0 for a live fact, 1 followed by the id and sequence of its
// retraction.
func encodeFacts(v stateValue) []byte {
	b := make([]byte, 0, 64+len(v.Facts)*96)
	str := func(s []byte) []byte {
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	b = append(b, factsFormat)
	b = str([]byte(v.State))
	b = binary.AppendUvarint(b, v.Rev)
	b = binary.AppendUvarint(b, uint64(len(v.Facts)))
	for _, f := range v.Facts {
		b = append(b, f.ID[:]...)
		b = str([]byte(f.Type))
		b = binary.AppendVarint(b, int64(f.Date))
		b = binary.AppendUvarint(b, f.Seq)
		b = str(f.Data)
		b = str([]byte(f.Source))
		if f.RetractedBy == "" {
			b = append(b, 0)
			continue
		}
		by := uuid.MustParse(f.RetractedBy)
		b = append(b, 1)
		b = append(b, by[:]...)
		b = binary.AppendUvarint(b, f.RetractedSeq)
	}
	return b
}

// factsFormat is the version of the binary form of facts.
const factsFormat = 2

// errShortFacts is the error of a truncated binary form of facts.
var errShortFacts = errors.New("truncated facts")

func decodeFacts(b []byte) (stateValue, error) {
	var v stateValue
	if len(b) == 0 || b[0] != factsFormat {
		return v, errors.New("not facts of a known format")
	}
	b = b[1:]
	var bad bool
	uv := func() uint64 {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return x
	}
	bytesOf := func(n uint64) []byte {
		if bad || uint64(len(b)) < n {
			bad = true
			return nil
		}
		s := b[:n:n]
		b = b[n:]
		return s
	}
	str := func() []byte { return bytesOf(uv()) }
	v.State = string(str())
	v.Rev = uv()
	n := uv()
	if bad || n > uint64(len(b)) {
		return v, errShortFacts
	}
	v.Facts = make([]factRec, 0, n)
	for range n {
		var f factRec
		copy(f.ID[:], bytesOf(16))
		f.Type = events.Type(str())
		d, k := binary.Varint(b)
		if k <= 0 {
			return v, errShortFacts
		}
		b = b[k:]
		f.Date = events.Date(d)
		f.Seq = uv()
		if data := str(); len(data) > 0 {
			f.Data = data
		}
		f.Source = string(str())
		switch flag := bytesOf(1); {
		case bad:
		case flag[0] == 1:
			var by uuid.UUID
			copy(by[:], bytesOf(16))
			f.RetractedBy, f.RetractedSeq = by.String(), uv()
		case flag[0] != 0:
			return v, fmt.Errorf("fact %s: bad retraction flag %d", f.ID, flag[0])
		}
		if bad {
			return v, errShortFacts
		}
		v.Facts = append(v.Facts, f)
	}
	if len(b) != 0 {
		return v, fmt.Errorf("%d bytes after the facts", len(b))
	}
	return v, nil
}

// loadIndex reads the index; ok is false when it is absent or unreadable.
func (e *Engine) loadIndex(ctx context.Context) (snapIndex, bool, error) {
	var idx snapIndex
	found, err := e.getValue(ctx, indexKey, &idx)
	if errors.Is(err, errStale) {
		return snapIndex{}, false, nil
	}
	if err != nil || !found || idx.Format != snapshotFormat {
		return snapIndex{}, false, err
	}
	return idx, true, nil
}

// loadMeta reads a meeting's meta; ok is false when it is absent,
// unreadable or of another format.
func (e *Engine) loadMeta(ctx context.Context, code string) (*snapMeta, bool, error) {
	var m snapMeta
	found, err := e.getValue(ctx, metaKey(code), &m)
	if errors.Is(err, errStale) {
		return nil, false, nil
	}
	if err != nil || !found || m.Format != snapshotFormat || m.Meeting != code {
		return nil, false, err
	}
	return &m, true, nil
}

// loadState reads the facts of one State from a snapshot. A State the
// snapshot does not hold is empty. errStale is returned when the key was
// rewritten after the meta was read.
func (e *Engine) loadState(ctx context.Context, m *snapMeta, iso3 string, rby map[uuid.UUID]retraction) (*aggregates.State, error) {
	ent, ok := m.States[iso3]
	if !ok {
		return aggregates.NewState(iso3), nil
	}
	key := stateKey(m.Meeting, iso3)
	k, body, found, err := e.getBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	if !found || k != kindFacts {
		return nil, fmt.Errorf("%s: no facts: %w", key, errStale)
	}
	v, err := decodeFacts(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", key, err, errStale)
	}
	if v.Rev != ent.Rev || v.State != iso3 {
		return nil, fmt.Errorf("%s: facts of %s at %d, meta says %d: %w", m.Meeting, iso3, v.Rev, ent.Rev, errStale)
	}
	s, err := stateOf(iso3, v.Facts, rby)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", stateKey(m.Meeting, iso3), err, errStale)
	}
	return s, nil
}

// loadStatuses reads the stored statuses of a snapshot, by State.
func (e *Engine) loadStatuses(ctx context.Context, m *snapMeta) (map[string]Status, error) {
	var v statusValue
	found, err := e.getValue(ctx, statusKey(m.Meeting), &v)
	if err != nil {
		return nil, err
	}
	if !found || v.Rev != m.StatusRev {
		return nil, fmt.Errorf("%s: statuses at %d, meta says %d: %w", m.Meeting, v.Rev, m.StatusRev, errStale)
	}
	out := make(map[string]Status, len(v.Statuses))
	for _, st := range v.Statuses {
		out[st.State] = st
	}
	return out, nil
}

// snapshotView builds the view of b from the nearest snapshot at or after
// b.AsOf that b's known-at bound covers. It returns nil when there is none,
// or when snapshots keep changing under the read.
func (e *Engine) snapshotView(ctx context.Context, b Bounds, want []string) (*view, error) {
	for range 3 {
		v, err := e.trySnapshotView(ctx, b, want)
		if errors.Is(err, errStale) {
			continue
		}
		return v, err
	}
	return nil, nil
}

func (e *Engine) trySnapshotView(ctx context.Context, b Bounds, want []string) (*view, error) {
	idx, ok, err := e.loadIndex(ctx)
	if err != nil || !ok {
		return nil, err
	}
	cands := make([]indexEntry, 0, len(idx.Snapshots))
	for _, s := range idx.Snapshots {
		if s.AsOf >= b.AsOf {
			cands = append(cands, s)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].AsOf < cands[j].AsOf })
	for _, c := range cands {
		if b.KnownAtSeq != 0 && c.Seq > b.KnownAtSeq {
			// The index may lag its metas, but never leads them.
			continue
		}
		m, ok, err := e.loadMeta(ctx, c.Meeting)
		if err != nil {
			return nil, err
		}
		if !ok || m.AsOf < b.AsOf || !b.covers(m.Seq, m.Time) {
			continue
		}
		return e.viewFrom(ctx, b, m, want)
	}
	return nil, nil
}

// refold puts into f the Convention's facts of snapshot m and the facts of
// the States that the events of news (recorded after m.Seq, known at r)
// touch on or before m.AsOf or by retraction, with the events the rules
// admit applied. Each event is judged against its State's whole history
// (aggregates.Gate): the latest snapshot's facts when it stands at m.Seq,
// else a read of the State's events up to m.Seq. It returns the scopes
// whose facts changed, and how many of news the rules keep out.
func (e *Engine) refold(ctx context.Context, f *Fold, m *snapMeta, news []events.Envelope, rby map[uuid.UUID]retraction) (map[string]bool, int, error) {
	conv, err := stateOf(events.ConventionScope, m.Convention, rby)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %v: %w", metaKey(m.Meeting), err, errStale)
	}
	f.scopes[events.ConventionScope] = conv
	byScope := map[string][]events.Envelope{}
	for _, ev := range news {
		byScope[ev.Scope()] = append(byScope[ev.Scope()], ev)
	}
	var latest *snapMeta
	if len(byScope) > 0 {
		if latest, err = e.gateBase(ctx, m); err != nil {
			return nil, 0, err
		}
	}
	changed := map[string]bool{}
	rejected := 0
	for _, sc := range sortedKeys(byScope) {
		judge, err := e.judgeState(ctx, latest, m, sc)
		if err != nil {
			return nil, 0, err
		}
		gate := aggregates.NewGate(func(events.Quarantined) { rejected++ })
		gate.Seed(judge)
		var admitted []events.Envelope
		for _, ev := range byScope[sc] {
			if gate.Admit(ev) && (ev.Date <= m.AsOf || ev.Type == events.Retracted) {
				admitted = append(admitted, ev)
			}
		}
		if len(admitted) == 0 {
			continue
		}
		if err := e.loadInto(ctx, f, m, sc, rby); err != nil {
			return nil, 0, err
		}
		s := f.scopes[sc]
		before := countOf(s)
		for _, ev := range admitted {
			s.Apply(ev)
		}
		if countOf(s) != before {
			changed[sc] = true
		}
	}
	return changed, rejected, nil
}

// gateBase returns the meta of the latest snapshot when it stands where m
// does, so that its facts can judge what was recorded after; else nil.
func (e *Engine) gateBase(ctx context.Context, m *snapMeta) (*snapMeta, error) {
	if m.Meeting == latestCode {
		return m, nil
	}
	latest, ok, err := e.loadMeta(ctx, latestCode)
	if err != nil || !ok || latest.Seq != m.Seq {
		return nil, err
	}
	return latest, nil
}

// judgeState returns every fact of scope known at m.Seq, whatever its date:
// from the latest snapshot, or read from the log.
func (e *Engine) judgeState(ctx context.Context, latest, m *snapMeta, scope string) (*aggregates.State, error) {
	if latest != nil {
		if scope == events.ConventionScope {
			s, err := stateOf(scope, latest.Convention, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %v: %w", metaKey(latest.Meeting), err, errStale)
			}
			return s, nil
		}
		return e.loadState(ctx, latest, scope, nil)
	}
	s, err := e.rebuild(ctx, scope, Range{To: m.Seq})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// rebuild reads the events of scope in r, from the start of the log,
// through a gate, and returns every fact the rules admit.
func (e *Engine) rebuild(ctx context.Context, scope string, r Range) (*aggregates.State, error) {
	gate := aggregates.NewGate(nil)
	r.Scope, r.From, r.Quarantine = scope, 0, nil
	if _, err := e.src.Read(ctx, r, func(ev events.Envelope) error {
		gate.Admit(ev)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the log of %s: %w", scope, err)
	}
	return gate.State(scope), nil
}

// loadInto puts the facts of a State from snapshot m into f, unless f
// already holds them.
func (e *Engine) loadInto(ctx context.Context, f *Fold, m *snapMeta, iso3 string, rby map[uuid.UUID]retraction) error {
	if _, ok := f.scopes[iso3]; ok {
		return nil
	}
	s, err := e.loadState(ctx, m, iso3, rby)
	if err != nil {
		return err
	}
	f.scopes[iso3] = s
	return nil
}

// viewFrom builds the view of b from the snapshot m: it reads what was
// recorded after m.Seq and known at b, re-folds the States it touches from
// their stored facts, and reuses the stored statuses of the others when b
// is as of m's own date with m's rule and the Convention's entry into force
// did not move.
func (e *Engine) viewFrom(ctx context.Context, b Bounds, m *snapMeta, want []string) (*view, error) {
	dm := m.AsOf
	f := NewFold()
	end := readEnd{seq: m.Seq, time: m.Time, quarantined: m.Quarantined}
	var news []events.Envelope
	r := b.rng()
	r.From = m.Seq + 1
	r.Quarantine = func(q events.Quarantined) {
		end.quarantined++
		end.saw(q.Seq, q.Recorded)
	}
	if r.To == 0 || r.To >= r.From {
		if _, err := e.src.Read(ctx, r, func(ev events.Envelope) error {
			end.saw(ev.Seq, ev.Recorded)
			news = append(news, ev)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read the log after snapshot %s: %w", m.Meeting, err)
		}
	}
	changed, rejected, err := e.refold(ctx, f, m, news, nil)
	if err != nil {
		return nil, err
	}
	f.Seq, f.Time, f.Quarantined = end.seq, end.time, end.quarantined+rejected
	delete(changed, events.ConventionScope)
	// The Convention's entry into force as of b.AsOf, now and as stored.
	var now, stored []events.Date
	// The States with a live fact dated on or before b.AsOf.
	states := map[string]bool{}
	for iso3, st := range m.States {
		for _, d := range st.Deposits {
			if d <= b.AsOf {
				stored = append(stored, d)
			}
		}
		if _, loaded := f.scopes[iso3]; loaded {
			continue
		}
		for _, d := range st.Deposits {
			if d <= b.AsOf {
				now = append(now, d)
			}
		}
		if st.First != 0 && st.First <= b.AsOf {
			states[iso3] = true
		}
	}
	for iso3, s := range f.scopes {
		if iso3 == events.ConventionScope {
			continue
		}
		now = append(now, liveDeposits(s, b.AsOf)...)
		if d := firstLive(s); d != 0 && d <= b.AsOf {
			states[iso3] = true
		}
	}
	eifNow, thirtiethNow, _ := aggregates.ConventionEntryIntoForce(now)
	eifStored, thirtiethStored, _ := aggregates.ConventionEntryIntoForce(stored)
	v := &view{fold: f, asOf: b.AsOf, conv: aggregates.Convention{EntryIntoForce: eifNow, ThirtiethDeposit: thirtiethNow},
		states: sortedKeys(states)}
	// The stored statuses serve a report; one State's status is cheaper
	// derived from its facts than read among all the others.
	if want == nil && m.Meeting != latestCode && b.AsOf == dm && e.opt.annualRule().Name == m.Rule && eifNow == eifStored && thirtiethNow == thirtiethStored {
		sts, err := e.loadStatuses(ctx, m)
		if err != nil {
			return nil, err
		}
		for iso3 := range changed {
			delete(sts, iso3)
		}
		v.stored = sts
		return v, nil
	}
	// Statuses are derived from the facts: load the States asked for.
	if want == nil {
		want = sortedKeys(m.States)
	}
	for _, iso3 := range want {
		if err := e.loadInto(ctx, f, m, iso3, nil); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// RefreshStats counts what RefreshSnapshots did.
type RefreshStats struct {
	// Head is the stream sequence every snapshot now covers.
	Head uint64 `json:"head"`
	// Created counts snapshots built from a fold of the log (new
	// meetings, or a meeting whose date or format changed).
	Created int `json:"created"`
	// Updated counts snapshots in which some State's facts changed.
	Updated int `json:"updated"`
	// Bumped counts snapshots that only moved to the new head: nothing
	// recorded since touched a fact dated on or before their meeting.
	Bumped int `json:"bumped"`
	// Unchanged counts snapshots already at the head.
	Unchanged int `json:"unchanged"`
	// Deleted counts snapshots of meetings no longer recorded.
	Deleted int `json:"deleted"`
	// States counts the per-State keys written.
	States int `json:"states"`
	// Events counts the events read from the log.
	Events int `json:"events"`
}

// RefreshSnapshots creates or brings up to date the snapshot of every
// meeting recorded: a missing one is built from a fold of the log; an
// existing one reads only what was recorded after the sequence it covers,
// and rewrites the keys of the States whose facts dated on or before the
// meeting changed, its statuses, and its meta (an event dated after the
// meeting touches no key of it: only its sequence moves). It is idempotent
// and reads nothing but the index when the log did not grow.
func (e *Engine) RefreshSnapshots(ctx context.Context) (RefreshStats, error) {
	var st RefreshStats
	if e.snaps == nil {
		return st, errors.New("refresh snapshots: no snapshot store")
	}
	head, _, err := e.src.Head(ctx)
	if err != nil {
		return st, fmt.Errorf("refresh snapshots: %w", err)
	}
	st.Head = head
	idx, idxOK, err := e.loadIndex(ctx)
	if err != nil {
		return st, err
	}
	if idxOK && idx.Head == head {
		st.Unchanged = len(idx.Snapshots)
		return st, nil
	}
	hb := Bounds{KnownAtSeq: head}
	var meetings []Meeting
	if head > 0 {
		if meetings, err = e.meetings(ctx, hb); err != nil {
			return st, err
		}
	}
	type plan struct {
		m    Meeting
		meta *snapMeta // existing, nil to create
		old  *snapMeta // replaced by a new one
	}
	var plans []plan
	from := head + 1
	create := false // some snapshot is built from a fold of the whole log
	seen := map[string]bool{}
	if head > 0 {
		meetings = append(meetings, Meeting{Code: latestCode, End: latestAsOf})
	}
	for _, m := range meetings {
		seen[m.Code] = true
		meta, ok, err := e.loadMeta(ctx, m.Code)
		if err != nil {
			return st, err
		}
		switch {
		case !ok || meta.AsOf != m.End || meta.Rule != aggregates.DefaultAnnualRule.Name || meta.Seq > head:
			plans = append(plans, plan{m: m, old: meta})
			create = true
		case meta.Seq == head:
			st.Unchanged++
			plans = append(plans, plan{m: m, meta: meta})
		default:
			plans = append(plans, plan{m: m, meta: meta})
			from = min(from, meta.Seq+1)
		}
	}
	// Snapshots of meetings the log no longer holds (retracted).
	if idxOK {
		for _, s := range idx.Snapshots {
			if seen[s.Meeting] {
				continue
			}
			if err := e.deleteSnapshot(ctx, s.Meeting); err != nil {
				return st, err
			}
			st.Deleted++
		}
	}
	var (
		evs   []events.Envelope
		kept  []uint64 // the messages of evs's range that are not events
		rby   = map[uuid.UUID]retraction{}
		read  = head + 1 // the first sequence in evs
		hTime time.Time  // the record time of head
	)
	readFrom := func(from uint64) error {
		if from >= read {
			return nil
		}
		evs, kept, read = nil, nil, from
		clear(rby)
		r := Range{From: from, To: head, Quarantine: func(q events.Quarantined) {
			kept = append(kept, q.Seq)
			if q.Seq == head {
				hTime = q.Recorded
			}
		}}
		if _, err := e.src.Read(ctx, r, func(ev events.Envelope) error {
			if ev.Seq == head {
				hTime = ev.Recorded
			}
			evs = append(evs, ev)
			if ev.Type == events.Retracted {
				rby[ev.Payload.(*events.Retraction).Event] = retraction{ID: ev.ID, Seq: ev.Seq}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("refresh snapshots: read the log: %w", err)
		}
		st.Events += len(evs)
		return nil
	}
	if create {
		from = 1
	}
	if err := readFrom(from); err != nil {
		return st, err
	}
	now := e.clock().UTC()
	for i, p := range plans {
		meta := p.meta
		if meta == nil || meta.Seq == head {
			continue
		}
		k := sort.Search(len(evs), func(i int) bool { return evs[i].Seq > meta.Seq })
		notEvents := len(kept) - sort.Search(len(kept), func(i int) bool { return kept[i] > meta.Seq })
		n, facts, err := e.updateSnapshot(ctx, meta, evs[k:], rby, update{head: head, time: hTime, notEvents: notEvents, now: now})
		switch {
		case errors.Is(err, errStale):
			// Unreadable (another format, or torn by a concurrent
			// refresh): build it again.
			plans[i].meta, plans[i].old = nil, meta
			create = true
			continue
		case err != nil:
			return st, err
		}
		st.States += n
		if facts {
			st.Updated++
		} else {
			st.Bumped++
		}
	}
	if create {
		if err := readFrom(1); err != nil {
			return st, err
		}
		full := NewFold()
		gate := aggregates.NewGate(func(events.Quarantined) { full.Quarantined++ })
		for _, ev := range evs {
			if gate.Admit(ev) {
				full.Apply(ev)
			}
		}
		full.Seq, full.Time, full.Quarantined = head, hTime, full.Quarantined+len(kept)
		data := map[uuid.UUID][]byte{}
		for i, p := range plans {
			if p.meta != nil {
				continue
			}
			created, n, err := e.createSnapshot(ctx, full, p.m, p.old, rby, data, now)
			if err != nil {
				return st, err
			}
			plans[i].meta = created
			st.Created++
			st.States += n
		}
	}
	entries := make([]indexEntry, 0, len(plans))
	for _, p := range plans {
		entries = append(entries, indexEntry{Meeting: p.meta.Meeting, AsOf: p.meta.AsOf, Seq: p.meta.Seq})
	}
	if _, err := e.putValue(ctx, indexKey, snapIndex{Format: snapshotFormat, Head: head, Snapshots: entries}); err != nil {
		return st, err
	}
	return st, nil
}

// createSnapshot writes the snapshot of meeting m from a fold of the whole
// log. old, when not nil, is the snapshot it replaces. It returns the meta
// and the number of per-State keys written.
func (e *Engine) createSnapshot(ctx context.Context, full *Fold, m Meeting, old *snapMeta, rby map[uuid.UUID]retraction, data map[uuid.UUID][]byte, now time.Time) (*snapMeta, int, error) {
	meta := &snapMeta{Format: snapshotFormat, Meeting: m.Code, AsOf: m.End, Seq: full.Seq, Time: full.Time, Quarantined: full.Quarantined,
		Created: now, Updated: now, Rule: aggregates.DefaultAnnualRule.Name, StatusRev: full.Seq, States: map[string]snapState{}}
	n := 0
	for _, iso3 := range full.Scopes() {
		s := full.State(iso3)
		recs := recsOf(s, m.End, rby, data)
		if len(recs) == 0 {
			continue
		}
		size, err := e.putState(ctx, stateKey(m.Code, iso3), stateValue{State: iso3, Rev: full.Seq, Facts: recs})
		if err != nil {
			return nil, 0, err
		}
		n++
		meta.States[iso3] = snapState{Rev: full.Seq, Facts: len(recs), Bytes: size, First: firstLiveUpTo(s, m.End), Deposits: liveDeposits(s, m.End)}
	}
	meta.Convention = recsOf(full.State(events.ConventionScope), m.End, rby, data)
	if m.Code != latestCode {
		if err := e.putStatuses(ctx, full, meta); err != nil {
			return nil, 0, err
		}
	}
	if _, err := e.putValue(ctx, metaKey(m.Code), meta); err != nil {
		return nil, 0, err
	}
	if old != nil {
		for iso3 := range old.States {
			if _, ok := meta.States[iso3]; !ok {
				if err := e.snaps.Delete(ctx, stateKey(m.Code, iso3)); err != nil {
					return nil, 0, fmt.Errorf("delete snapshot %s: %w", stateKey(m.Code, iso3), err)
				}
			}
		}
	}
	return meta, n, nil
}

// update is where a refresh brings a snapshot: the head of the log and its
// record time, the stored messages after the snapshot that are not events,
// and the refresh's time.
type update struct {
	head      uint64
	time      time.Time
	notEvents int
	now       time.Time
}

// putStatuses stores the status of every State of the snapshot meta as of
// its meeting, evaluated from full.
func (e *Engine) putStatuses(ctx context.Context, full *Fold, meta *snapMeta) error {
	conv := full.Convention(meta.AsOf)
	sv := statusValue{Rev: full.Seq, Statuses: make([]Status, 0, len(meta.States))}
	for _, iso3 := range sortedKeys(meta.States) {
		sv.Statuses = append(sv.Statuses, statusOf(full, conv, iso3, meta.AsOf, Options{}))
	}
	_, err := e.putValue(ctx, statusKey(meta.Meeting), sv)
	return err
}

// updateSnapshot brings the snapshot m to u.head from news, the events
// recorded after m.Seq. It returns the per-State keys written and whether
// any fact of the snapshot changed; m is updated in place.
func (e *Engine) updateSnapshot(ctx context.Context, m *snapMeta, news []events.Envelope, rby map[uuid.UUID]retraction, u update) (int, bool, error) {
	if m.Seq >= u.head {
		return 0, false, nil
	}
	dm := m.AsOf
	last := u.head
	f := NewFold()
	changed, rejected, err := e.refold(ctx, f, m, news, rby)
	if err != nil {
		return 0, false, err
	}
	conv := f.scopes[events.ConventionScope]
	oldEIF, oldThirtieth := m.convention()
	written := 0
	for _, iso3 := range sortedKeys(changed) {
		if iso3 == events.ConventionScope {
			m.Convention = recsOf(conv, dm, rby, nil)
			continue
		}
		s := f.scopes[iso3]
		recs := recsOf(s, dm, rby, nil)
		size, err := e.putState(ctx, stateKey(m.Meeting, iso3), stateValue{State: iso3, Rev: last, Facts: recs})
		if err != nil {
			return 0, false, err
		}
		written++
		m.States[iso3] = snapState{Rev: last, Facts: len(recs), Bytes: size, First: firstLiveUpTo(s, dm), Deposits: liveDeposits(s, dm)}
	}
	newEIF, newThirtieth := m.convention()
	recompute := map[string]bool{}
	for iso3 := range changed {
		if iso3 != events.ConventionScope {
			recompute[iso3] = true
		}
	}
	if (newEIF != oldEIF || newThirtieth != oldThirtieth) && m.Meeting != latestCode {
		// Entry into force moved: every State's dates move with it.
		for iso3 := range m.States {
			if err := e.loadInto(ctx, f, m, iso3, rby); err != nil {
				return 0, false, err
			}
			recompute[iso3] = true
		}
	}
	if len(recompute) > 0 && m.Meeting != latestCode {
		sts, err := e.loadStatuses(ctx, m)
		if err != nil {
			return 0, false, err
		}
		c := aggregates.Convention{EntryIntoForce: newEIF, ThirtiethDeposit: newThirtieth}
		for iso3 := range recompute {
			sts[iso3] = statusOf(f, c, iso3, dm, Options{})
		}
		sv := statusValue{Rev: last, Statuses: make([]Status, 0, len(sts))}
		for _, iso3 := range sortedKeys(sts) {
			sv.Statuses = append(sv.Statuses, sts[iso3])
		}
		if _, err := e.putValue(ctx, statusKey(m.Meeting), sv); err != nil {
			return 0, false, err
		}
		m.StatusRev = last
	}
	m.Seq, m.Time, m.Updated = last, u.time, u.now
	m.Quarantined += u.notEvents + rejected
	if _, err := e.putValue(ctx, metaKey(m.Meeting), m); err != nil {
		return 0, false, err
	}
	return written, len(changed) > 0, nil
}

// convention derives the Convention's entry into force as of the meeting
// from the deposits the meta lists.
func (m *snapMeta) convention() (eif, thirtieth events.Date) {
	var deps []events.Date
	for _, st := range m.States {
		deps = append(deps, st.Deposits...)
	}
	eif, thirtieth, _ = aggregates.ConventionEntryIntoForce(deps)
	return eif, thirtieth
}

// deleteSnapshot removes every key of a meeting's snapshot.
func (e *Engine) deleteSnapshot(ctx context.Context, code string) error {
	keys, err := e.snaps.Keys(ctx)
	if err != nil {
		return fmt.Errorf("list snapshot keys: %w", err)
	}
	prefix := code + "."
	for _, k := range keys {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			if err := e.snaps.Delete(ctx, k); err != nil {
				return fmt.Errorf("delete snapshot %s: %w", k, err)
			}
		}
	}
	return nil
}

// SnapshotInfo describes one meeting's snapshot, for `ccm snapshots`.
type SnapshotInfo struct {
	Meeting string      `json:"meeting"`
	AsOf    events.Date `json:"as_of"`
	// Seq is the last stream sequence the snapshot covers and Recorded its
	// record time; Behind counts the events recorded since.
	Seq      uint64    `json:"seq"`
	Recorded time.Time `json:"recorded"`
	Behind   uint64    `json:"behind"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// States counts the States with facts dated on or before AsOf, Facts
	// their facts, Bytes the size of their keys.
	States int    `json:"states"`
	Facts  int    `json:"facts"`
	Bytes  int    `json:"bytes"`
	Rule   string `json:"rule"`
}

// Snapshots lists the snapshots present, the meetings' in date order, then
// the snapshot of every date (Meeting "_latest", no as-of date). Without a
// snapshot store the list is empty.
func (e *Engine) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	out := []SnapshotInfo{}
	if e.snaps == nil {
		return out, nil
	}
	head, _, err := e.src.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	idx, ok, err := e.loadIndex(ctx)
	if err != nil || !ok {
		return out, err
	}
	for _, s := range idx.Snapshots {
		m, ok, err := e.loadMeta(ctx, s.Meeting)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		info := SnapshotInfo{Meeting: m.Meeting, AsOf: m.AsOf, Seq: m.Seq, Recorded: m.Time, Created: m.Created, Updated: m.Updated,
			States: len(m.States), Rule: m.Rule}
		if m.Meeting == latestCode {
			info.AsOf, info.Rule = 0, ""
		}
		if head > m.Seq {
			info.Behind = head - m.Seq
		}
		for _, st := range m.States {
			info.Facts += st.Facts
			info.Bytes += st.Bytes
		}
		out = append(out, info)
	}
	// In date order; the snapshot of every date last.
	asOf := func(s SnapshotInfo) events.Date {
		if s.Meeting == latestCode {
			return latestAsOf
		}
		return s.AsOf
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := asOf(out[i]), asOf(out[j]); a != b {
			return a < b
		}
		return out[i].Meeting < out[j].Meeting
	})
	return out, nil
}

// DropSnapshots deletes every key of the snapshot store; the next
// RefreshSnapshots builds them again. It returns the number of keys
// deleted.
func (e *Engine) DropSnapshots(ctx context.Context) (int, error) {
	if e.snaps == nil {
		return 0, nil
	}
	keys, err := e.snaps.Keys(ctx)
	if err != nil {
		return 0, fmt.Errorf("list snapshot keys: %w", err)
	}
	// The index goes first, so that no query picks a half-deleted
	// snapshot.
	sort.Slice(keys, func(i, j int) bool { return keys[i] == indexKey || (keys[j] != indexKey && keys[i] < keys[j]) })
	for _, k := range keys {
		if err := e.snaps.Delete(ctx, k); err != nil {
			return 0, fmt.Errorf("delete snapshot %s: %w", k, err)
		}
	}
	return len(keys), nil
}
