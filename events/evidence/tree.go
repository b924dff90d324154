package evidence

import (
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// Tree is the Merkle tree of the log, held whole: the leaves, and the hash
// of every perfect subtree above them (about twice the leaves: 64 bytes an
// event). Appending a leaf hashes at most one node a level; a root, an
// inclusion or a consistency proof of any size up to Size reads O(log n)
// nodes. It is not safe for concurrent use.
type Tree struct {
	// levels[k][i] covers the leaves [i·2^k, (i+1)·2^k).
	levels [][]Hash
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 {
	if len(t.levels) == 0 {
		return 0
	}
	return uint64(len(t.levels[0]))
}

// Append adds a leaf hash, and the parents it completes.
func (t *Tree) Append(leaf Hash) {
	if len(t.levels) == 0 {
		t.levels = append(t.levels, nil)
	}
	t.levels[0] = append(t.levels[0], leaf)
	for k := 0; len(t.levels[k])%2 == 0; k++ {
		n := len(t.levels[k])
		var parent Hash
		copy(parent[:], hasher.HashChildren(t.levels[k][n-2][:], t.levels[k][n-1][:]))
		if k+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		t.levels[k+1] = append(t.levels[k+1], parent)
	}
}

// Grow makes room for n more leaves at every level, so that a tree built
// to a known size is not copied as it grows.
func (t *Tree) Grow(n uint64) {
	if len(t.levels) == 0 {
		t.levels = append(t.levels, nil)
	}
	for k, per := 0, n; per > 0; k, per = k+1, per/2 {
		if k == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		t.levels[k] = slices.Grow(t.levels[k], int(per))
	}
}

// Leaf returns the hash of leaf i.
func (t *Tree) Leaf(i uint64) Hash { return t.levels[0][i] }

func (t *Tree) node(id compact.NodeID) ([]byte, error) {
	if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
		return nil, fmt.Errorf("no node %d/%d in a tree of %d leaves", id.Level, id.Index, t.Size())
	}
	h := t.levels[id.Level][id.Index]
	return h[:], nil
}

func (t *Tree) nodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		out[i] = append([]byte(nil), h...)
	}
	return out, nil
}

var ranges = compact.RangeFactory{Hash: hasher.HashChildren}

// Root returns the root hash of the tree of the first size leaves.
func (t *Tree) Root(size uint64) (Hash, error) {
	var root Hash
	if size > t.Size() {
		return root, fmt.Errorf("root of %d leaves: the tree has %d", size, t.Size())
	}
	if size == 0 {
		copy(root[:], hasher.EmptyRoot())
		return root, nil
	}
	hashes, err := t.nodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return root, err
	}
	r, err := ranges.NewRange(0, size, hashes)
	if err != nil {
		return root, err
	}
	h, err := r.GetRootHash(nil)
	copy(root[:], h)
	return root, err
}

// InclusionProof returns the proof that leaf index is in the tree of size
// leaves.
func (t *Tree) InclusionProof(index, size uint64) ([][]byte, error) {
	if size > t.Size() {
		return nil, fmt.Errorf("inclusion proof in %d leaves: the tree has %d", size, t.Size())
	}
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.rehash(n)
}

// ConsistencyProof returns the proof that the tree of size2 leaves extends
// the tree of size1.
func (t *Tree) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if size2 > t.Size() {
		return nil, fmt.Errorf("consistency proof to %d leaves: the tree has %d", size2, t.Size())
	}
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.rehash(n)
}

func (t *Tree) rehash(n proof.Nodes) ([][]byte, error) {
	hashes, err := t.nodes(n.IDs)
	if err != nil {
		return nil, err
	}
	return n.Rehash(hashes, hasher.HashChildren)
}

// VerifyInclusion checks that leaf is at index in the tree of size leaves
// whose root is root.
func VerifyInclusion(index, size uint64, leaf Hash, p [][]byte, root Hash) error {
	return proof.VerifyInclusion(hasher, index, size, leaf[:], p, root[:])
}

// VerifyConsistency checks that the tree of size2 leaves with root2 extends
// the tree of size1 leaves with root1.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 Hash) error {
	return proof.VerifyConsistency(hasher, size1, size2, p, root1[:], root2[:])
}
