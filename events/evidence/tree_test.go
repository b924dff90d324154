package evidence

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func leafN(i int) Hash {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return LeafHash(b[:])
}

// referenceRoot is the RFC 6962 root computed from the leaves alone, the
// plain way (the library's compact range, leaf by leaf).
func referenceRoot(t *testing.T, leaves []Hash) Hash {
	t.Helper()
	r := ranges.NewEmptyRange(0)
	for _, l := range leaves {
		require.NoError(t, r.Append(l[:], nil))
	}
	h, err := r.GetRootHash(nil)
	require.NoError(t, err)
	var out Hash
	copy(out[:], h)
	return out
}

// Every root, inclusion and consistency proof of every size the tree held
// verifies, and the roots are those of RFC 6962.
func TestTreeRootsAndProofs(t *testing.T) {
	var tree Tree
	var leaves []Hash
	empty, err := tree.Root(0)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(nil), empty, "the root of no leaf is the hash of nothing (RFC 6962)")
	roots := []Hash{empty}
	for i := 0; i < 70; i++ {
		tree.Append(leafN(i))
		leaves = append(leaves, leafN(i))
		root, err := tree.Root(tree.Size())
		require.NoError(t, err)
		require.Equal(t, referenceRoot(t, leaves), root, "root of %d leaves", len(leaves))
		roots = append(roots, root)
	}
	for size := uint64(1); size <= tree.Size(); size++ {
		for index := uint64(0); index < size; index++ {
			p, err := tree.InclusionProof(index, size)
			require.NoError(t, err)
			require.NoError(t, VerifyInclusion(index, size, leaves[index], p, roots[size]), "leaf %d in %d", index, size)
			if index != (index+1)%size {
				assert.Error(t, VerifyInclusion((index+1)%size, size, leaves[index], p, roots[size]), "leaf %d at another index", index)
			}
		}
		for size1 := uint64(0); size1 <= size; size1++ {
			p, err := tree.ConsistencyProof(size1, size)
			require.NoError(t, err)
			require.NoError(t, VerifyConsistency(size1, size, p, roots[size1], roots[size]), "%d to %d", size1, size)
		}
	}
}

// A proof from another tree, or a leaf changed, does not verify.
func TestTreeProofsFailOnOtherLeaves(t *testing.T) {
	var a, b Tree
	for i := 0; i < 33; i++ {
		a.Append(leafN(i))
		if i == 17 {
			b.Append(leafN(1000))
		} else {
			b.Append(leafN(i))
		}
	}
	ra, _ := a.Root(33)
	rb, _ := b.Root(33)
	assert.NotEqual(t, ra, rb)
	p, err := b.InclusionProof(17, 33)
	require.NoError(t, err)
	assert.Error(t, VerifyInclusion(17, 33, leafN(1000), p, ra), "b's leaf against a's root")
	cp, err := b.ConsistencyProof(10, 33)
	require.NoError(t, err)
	r10, _ := a.Root(10)
	assert.Error(t, VerifyConsistency(10, 33, cp, r10, ra), "a tree that changed a leaf after 10 does not extend it")
}

// Proofs of a large tree stay small: under 2 KB with 1,000,000 leaves.
func TestProofSize(t *testing.T) {
	var tree Tree
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1_000_000; i++ {
		tree.Append(leafN(i))
	}
	index := rng.Uint64N(tree.Size())
	p, err := tree.InclusionProof(index, tree.Size())
	require.NoError(t, err)
	assert.LessOrEqual(t, len(p), 20, "log2 of a million")
}
