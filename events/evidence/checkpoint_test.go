package evidence

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckpointSignOpen(t *testing.T) {
	origin := Origin("CCM")
	priv, pub, err := NewKey(origin)
	require.NoError(t, err)
	root := LeafHash([]byte("x"))
	at := time.Date(2012, 9, 14, 17, 30, 5, 999, time.UTC)
	cp, err := Sign(priv, origin, 451, root, 451, at)
	require.NoError(t, err)
	assert.Contains(t, cp.Text(), "ccm-ledger/CCM\n451\n")
	assert.Contains(t, cp.Text(), "last-seq 451\ntime 2012-09-14T17:30:05Z")

	got, err := Open(cp.Note, origin, pub)
	require.NoError(t, err)
	assert.Equal(t, uint64(451), got.Size)
	assert.Equal(t, root, got.Root)
	assert.Equal(t, at.Truncate(time.Second), got.Time)

	// Another key, or one changed byte of the text, is not this ledger's.
	_, otherPub, err := NewKey(origin)
	require.NoError(t, err)
	_, err = Open(cp.Note, origin, otherPub)
	assert.ErrorIs(t, err, ErrNotSigned)
	edited := bytes.Replace(cp.Note, []byte("\n451\n"), []byte("\n452\n"), 1)
	_, err = Open(edited, origin, pub)
	assert.ErrorIs(t, err, ErrNotSigned)

	// A key made for another origin cannot sign for this one.
	otherPriv, _, err := NewKey("ccm-ledger/OTHER")
	require.NoError(t, err)
	_, err = Sign(otherPriv, origin, 1, root, 1, at)
	assert.Error(t, err)
}

func TestPublicKeyOfPrivate(t *testing.T) {
	priv, pub, err := NewKey(Origin("CCM"))
	require.NoError(t, err)
	got, err := PublicKey(priv)
	require.NoError(t, err)
	assert.Equal(t, pub, got)
}
