package jslog_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
)

func TestSnapshotStore(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	l := openLog(t, srv)
	s, err := jslog.CreateSnapshots(ctx, l)
	require.NoError(t, err)
	assert.Equal(t, jslog.SnapshotBucket, s.Bucket(), "bucket of the default stream")

	_, found, err := s.Get(ctx, "3MSP._meta")
	require.NoError(t, err)
	assert.False(t, found, "Get of a key never put")
	keys, err := s.Keys(ctx)
	require.NoError(t, err)
	assert.Empty(t, keys, "Keys of an empty bucket")

	require.NoError(t, s.Put(ctx, "3MSP._meta", []byte("one")))
	require.NoError(t, s.Put(ctx, "3MSP.SWE", []byte("two")))
	require.NoError(t, s.Put(ctx, "3MSP.SWE", []byte("three")))
	v, found, err := s.Get(ctx, "3MSP.SWE")
	require.NoError(t, err)
	assert.True(t, found, "Get after Put")
	assert.Equal(t, "three", string(v), "Get returns the last value put")
	keys, err = s.Keys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"3MSP.SWE", "3MSP._meta"}, keys, "Keys")

	require.NoError(t, s.Delete(ctx, "3MSP.SWE"))
	require.NoError(t, s.Delete(ctx, "never.put"), "Delete of an absent key")
	_, found, err = s.Get(ctx, "3MSP.SWE")
	require.NoError(t, err)
	assert.False(t, found, "Get after Delete")
	keys, err = s.Keys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"3MSP._meta"}, keys, "Keys after Delete")

	// One revision per key, on file storage.
	kv, err := srv.JetStream(t).KeyValue(ctx, jslog.SnapshotBucket)
	require.NoError(t, err)
	st, err := kv.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.History(), "history of the bucket")
	assert.Equal(t, jetstream.FileStorage, st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Storage, "storage of the bucket")

	// The bucket survives a restart of the server.
	srv2 := srv.Restart(t)
	s2, err := jslog.OpenSnapshots(ctx, openLog(t, srv2))
	require.NoError(t, err)
	v, found, err = s2.Get(ctx, "3MSP._meta")
	require.NoError(t, err)
	assert.True(t, found, "a key after a restart")
	assert.Equal(t, "one", string(v), "a value after a restart")
}

func TestSnapshotStoreOfAReadOnlyLog(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunServer(t)
	openLog(t, srv) // creates the stream
	ro, err := jslog.Open(ctx, srv.Conn(t), jslog.Config{})
	require.NoError(t, err)
	s, err := jslog.OpenSnapshots(ctx, ro)
	require.NoError(t, err, "a read-only log without a snapshot bucket")
	_, found, err := s.Get(ctx, "3MSP._meta")
	require.NoError(t, err)
	assert.False(t, found, "Get without a bucket")
	require.ErrorIs(t, s.Put(ctx, "3MSP._meta", []byte("x")), jslog.ErrReadOnlySnapshots, "Put without a bucket")

	w, err := jslog.CreateSnapshots(ctx, openLog(t, srv))
	require.NoError(t, err)
	require.NoError(t, w.Put(ctx, "3MSP._meta", []byte("x")))
	s, err = jslog.OpenSnapshots(ctx, ro)
	require.NoError(t, err)
	v, found, err := s.Get(ctx, "3MSP._meta")
	require.NoError(t, err)
	assert.True(t, found && string(v) == "x", "a read-only log reads an existing bucket: got %q, %v", v, found)
}
