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

// ErrReadOnlySnapshots marks a write to the snapshots of a log opened read
// only.
var ErrReadOnlySnapshots = errors.New("snapshots are read-only")

// SnapshotStore is the KV bucket of the projections' snapshots. It
// satisfies projections.SnapshotStore. The bucket keeps one revision per
// key (snapshots are a cache: the log is the truth) on file storage,
// compressed (S2), with the log's replica count.
type SnapshotStore struct {
	kv     jetstream.KeyValue // nil: read-only log and no bucket yet
	bucket string
}

// OpenSnapshots opens the snapshot bucket of the log's stream, creating it
// unless the log was opened read only. A read-only log without a bucket
// gets an empty store that refuses writes with ErrReadOnlySnapshots.
func OpenSnapshots(ctx context.Context, l *Log) (*SnapshotStore, error) {
	name := SnapshotBucketName(l.cfg.Stream)
	if l.cfg.ReadOnly {
		kv, err := l.js.KeyValue(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrBucketNotFound):
			return &SnapshotStore{bucket: name}, nil
		case err != nil:
			return nil, fmt.Errorf("open snapshot bucket %s: %w", name, err)
		}
		return &SnapshotStore{kv: kv, bucket: name}, nil
	}
	// An existing bucket is used as it is: updating it would need a
	// permission that only ccm serve's user has in a deployment
	// (deploy/nats/accounts.conf), and could scale it down to the replica
	// count of a client's flags.
	gctx, explain := guard(ctx, l.nc, jsAPI)
	kv, err := l.js.KeyValue(gctx, name)
	if err = explain(err); err == nil {
		return &SnapshotStore{kv: kv, bucket: name}, nil
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("open snapshot bucket %s: %w", name, err)
	}
	gctx, explain = guard(ctx, l.nc, jsAPI)
	kv, err = l.js.CreateOrUpdateKeyValue(gctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "ccm-ledger: snapshots of the projections, one per meeting (a cache of stream " + l.cfg.Stream + ")",
		History:     1,
		Storage:     jetstream.FileStorage,
		Compression: true,
		Replicas:    l.cfg.Replicas,
	})
	switch err = explain(err); {
	case errors.Is(err, ErrPermissionDenied):
		// A user who may not create the bucket (a recorder or an auditor
		// before ccm serve first ran) works without snapshots, as on a
		// read-only log.
		return &SnapshotStore{bucket: name}, nil
	case err != nil:
		return nil, fmt.Errorf("open snapshot bucket %s: %w", name, err)
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
