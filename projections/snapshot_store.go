package projections

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
)

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

// loadState reads the facts of one State from a snapshot: its keys of
// every interval of m. A State the snapshot does not hold is empty.
// errStale is returned when a key was rewritten after the meta was read.
func (e *Engine) loadState(ctx context.Context, m *snapMeta, iso3 string, rby map[uuid.UUID]retraction) (*aggregates.State, error) {
	ent, ok := m.States[iso3]
	if !ok {
		return aggregates.NewState(iso3), nil
	}
	if len(ent.Revs) != len(m.Intervals) {
		return nil, fmt.Errorf("%s: %d revisions of %s for %d intervals: %w", metaKey(m.Meeting), len(ent.Revs), iso3, len(m.Intervals), errStale)
	}
	keys := make([]keyRef, 0, len(ent.Revs))
	for i, rev := range ent.Revs {
		if rev != 0 {
			keys = append(keys, keyRef{code: m.Intervals[i].Meeting, rev: rev})
		}
	}
	return e.loadKeys(ctx, iso3, keys, rby)
}

// keyRef names the key of a State in the interval of meeting code, as
// written at sequence rev.
type keyRef struct {
	code string
	rev  uint64
}

// staleKeyError is errStale for one State key (code is empty when it is
// not known which of the State's keys is unreadable).
type staleKeyError struct {
	code, iso3 string
	err        error
}

func (e *staleKeyError) Error() string { return e.err.Error() }
func (e *staleKeyError) Unwrap() error { return e.err }

// loadKeys rebuilds the aggregate of a State from its keys, and notes the
// retractions of their facts in rby. A key that is absent, cannot be
// decoded or was written at another sequence is a *staleKeyError.
func (e *Engine) loadKeys(ctx context.Context, iso3 string, keys []keyRef, rby map[uuid.UUID]retraction) (*aggregates.State, error) {
	var recs []factRec
	for _, k := range keys {
		facts, err := e.loadFacts(ctx, k, iso3)
		if errors.Is(err, errStale) {
			return nil, &staleKeyError{code: k.code, iso3: iso3, err: err}
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, facts...)
	}
	s, err := stateOf(iso3, recs, rby)
	if err != nil {
		// Which key holds the fact is not known: every one is suspect.
		return nil, &staleKeyError{iso3: iso3, err: fmt.Errorf("facts of %s: %v: %w", iso3, err, errStale)}
	}
	return s, nil
}

// loadFacts reads the facts of the key k of a State.
func (e *Engine) loadFacts(ctx context.Context, k keyRef, iso3 string) ([]factRec, error) {
	key := stateKey(k.code, iso3)
	kind, body, found, err := e.getBlob(ctx, key)
	if err != nil {
		return nil, err
	}
	if !found || kind != kindFacts {
		return nil, fmt.Errorf("%s: no facts: %w", key, errStale)
	}
	v, err := decodeFacts(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", key, err, errStale)
	}
	if v.Rev != k.rev || v.State != iso3 {
		return nil, fmt.Errorf("%s: facts of %s at %d, meta says %d: %w", key, v.State, v.Rev, k.rev, errStale)
	}
	return v.Facts, nil
}
