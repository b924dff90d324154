package jslog

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// SnapshotBucket is the KV bucket that holds the projections' meeting
// snapshots for the default stream. Snapshots never go into the event
// stream: it denies purge, so it cannot roll up, and it holds facts only.
const SnapshotBucket = DefaultStream + "_SNAPSHOTS"

// SnapshotBucketName returns the snapshot bucket of a stream: the
// stream's name followed by _SNAPSHOTS.
func SnapshotBucketName(stream string) string { return stream + "_SNAPSHOTS" }

// ErrReadOnlySnapshots marks a write to the snapshots of a server that has
// no snapshot bucket.
var ErrReadOnlySnapshots = errors.New("no snapshot bucket to write to")

// SnapshotStore is the KV bucket of the projections' snapshots. It
// satisfies projections.SnapshotStore. The bucket keeps one revision per
// key (snapshots are a cache: the log is the truth) on file storage,
// compressed (S2), with the log's replica count.
type SnapshotStore struct {
	kv     jetstream.KeyValue // nil: no bucket
	bucket string
}

// SnapshotsConfig returns the configuration of the log's snapshot bucket.
func SnapshotsConfig(l *Log) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      SnapshotBucketName(l.cfg.Stream),
		Description: "ccm-ledger: snapshots of the projections, one per meeting (a cache of stream " + l.cfg.Stream + ")",
		History:     1,
		Storage:     jetstream.FileStorage,
		Compression: true,
		Replicas:    l.cfg.Replicas,
	}
}

// OpenSnapshots opens the snapshot bucket of the log's stream as it is,
// creating nothing. Without a bucket it returns an empty store that refuses
// writes with ErrReadOnlySnapshots: queries then fold the log.
func OpenSnapshots(ctx context.Context, l *Log) (*SnapshotStore, error) {
	name := SnapshotBucketName(l.cfg.Stream)
	gctx, explain := guard(ctx, l.nc, jsAPI)
	kv, err := l.js.KeyValue(gctx, name)
	switch err = explain(err); {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return &SnapshotStore{bucket: name}, nil
	case err != nil:
		return nil, fmt.Errorf("open snapshot bucket %s: %w", name, err)
	}
	return &SnapshotStore{kv: kv, bucket: name}, nil
}

// CreateSnapshots opens the snapshot bucket, creating it when absent: the
// operator's part. An existing bucket is used as it is.
func CreateSnapshots(ctx context.Context, l *Log) (*SnapshotStore, error) {
	name := SnapshotBucketName(l.cfg.Stream)
	gctx, explain := guard(ctx, l.nc, jsAPI)
	kv, err := l.js.KeyValue(gctx, name)
	if err = explain(err); errors.Is(err, jetstream.ErrBucketNotFound) {
		gctx, explain = guard(ctx, l.nc, jsAPI)
		kv, err = l.js.CreateKeyValue(gctx, SnapshotsConfig(l))
		err = explain(err)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot bucket %s: %w", name, err)
	}
	return &SnapshotStore{kv: kv, bucket: name}, nil
}

// Bucket returns the name of the KV bucket.
func (s *SnapshotStore) Bucket() string { return s.bucket }

// Get returns the value under key; found is false when the key is absent
// or deleted.
func (s *SnapshotStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if s.kv == nil {
		return nil, false, nil
	}
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("get snapshot key %s: %w", key, err)
	}
	return e.Value(), true, nil
}

// Put stores value under key.
func (s *SnapshotStore) Put(ctx context.Context, key string, value []byte) error {
	if s.kv == nil {
		return fmt.Errorf("put snapshot key %s: %w", key, ErrReadOnlySnapshots)
	}
	if _, err := s.kv.Put(ctx, key, value); err != nil {
		return fmt.Errorf("put snapshot key %s: %w", key, err)
	}
	return nil
}

// Delete removes key (it leaves a delete marker, as KV deletes do).
func (s *SnapshotStore) Delete(ctx context.Context, key string) error {
	if s.kv == nil {
		return fmt.Errorf("delete snapshot key %s: %w", key, ErrReadOnlySnapshots)
	}
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete snapshot key %s: %w", key, err)
	}
	return nil
}

// Keys returns every key present, sorted.
func (s *SnapshotStore) Keys(ctx context.Context) ([]string, error) {
	if s.kv == nil {
		return []string{}, nil
	}
	keys, err := s.kv.Keys(ctx)
	switch {
	case errors.Is(err, jetstream.ErrNoKeysFound):
		return []string{}, nil
	case err != nil:
		return nil, fmt.Errorf("list snapshot keys: %w", err)
	}
	return keys, nil
}
