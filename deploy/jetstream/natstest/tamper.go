package natstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/minio/highwayhash"
	"github.com/nats-io/nats-server/v2/server"
)

// Tampering with a JetStream file store.
//
// The ledger claims that an edit of its stream is evident even to someone
// who can write the server's files. nats-server does not give that by
// itself: each record of a block file carries a HighwayHash-64 checksum,
// but its key is derived from public names (the stream name and the block
// index), so it detects accidents, not attacks. The helpers below edit a
// stopped server's file store as such an attacker would, so that the
// tamper-evidence tests can show what the server then serves and that the
// ledger's own checks, not the server's, catch it.
//
// The on-disk format is that of the nats-server in go.mod (v2.15,
// server/filestore.go), for a stream without compression or encryption:
//
//   - <storeDir>/jetstream/<account>/streams/<stream>/msgs/<index>.blk are
//     the message blocks, records back to back. A record is
//     rl(4, little-endian; the high bit set when it has headers) seq(8)
//     ts(8) subject_len(2) subject [headers_len(4) headers] payload
//     checksum(8), rl counting every byte of it. The sequence has bit 62
//     set in a delete tombstone and bit 63 in an erased record.
//   - The checksum is HighwayHash-64 of seq, ts, subject, headers and
//     payload, keyed with SHA-256("<stream>-<index>") (msgBlock.hh).
//   - msgs/index.db is the server's snapshot of the stream state, written
//     at shutdown. It ends with the last block's index, the last block's
//     last checksum (the checksum of its last record) and a HighwayHash-64
//     of everything before, keyed with SHA-256("<stream>"). At start-up
//     the server trusts it if that hash holds and the last block still
//     ends with that checksum; otherwise, or without it, it rebuilds the
//     state by scanning every block, truncating a block at its first bad
//     record (losing that record and the ones after it in the block).
//     Records are checked against their checksum only when read, unless
//     the blocks are scanned.
//
// A key file (meta.key, msgs/<index>.key) means an encrypted stream and a
// compression other than none in meta.inf (or a block that starts with the
// "cmp" header) a compressed one: the helpers refuse both.
//
// The server must be stopped while a helper runs; start it again on the
// same store directory afterwards.

const (
	streamsDir = "streams"
	msgsDir    = "msgs"
	stateFile  = "index.db"
	metaFile   = "meta.inf"
	metaKey    = "meta.key"

	recHdrSize  = 22 // rl(4) seq(8) ts(8) subject_len(2)
	recHashSize = highwayhash.Size64
	headersBit  = 1 << 31 // in rl
	erasedBit   = 1 << 63 // in seq
	tombBit     = 1 << 62 // in seq
	maxRecord   = 32 << 20
)

// ErrUnsupportedStore marks a stream whose file store is encrypted or
// compressed: its blocks cannot be edited in place by these helpers.
var ErrUnsupportedStore = errors.New("encrypted or compressed file store")

// StreamDir returns the directory of stream's file store in account (the
// global account of a server without accounts is "$G") under storeDir,
// the server's StoreDir option.
func StreamDir(storeDir, account, stream string) string {
	return filepath.Join(storeDir, server.JetStreamStoreDir, account, streamsDir, stream)
}

// EditMessage rewrites the payload of the message with stream sequence seq
// in place, as an attacker who knows the file format would: edit is given
// a copy of the payload (headers excluded) to change, in place and so at
// the same length; the record is written back with its checksum
// recomputed, and, when the record is the last one of the last block, the
// last checksum recorded in index.db is updated and index.db rehashed. On
// restart the server accepts the stream state as it is and serves the
// edited payload as if it had always been stored: nothing in the file
// store tells the edit apart. An edit that changes nothing is refused, as
// a tamper test that tampers nothing would pass for the wrong reason.
func EditMessage(storeDir, account, stream string, seq uint64, edit func(payload []byte)) error {
	st, err := openStore(storeDir, account, stream)
	if err != nil {
		return err
	}
	r, err := st.find(seq)
	if err != nil {
		return err
	}
	old := r.payload()
	payload := bytes.Clone(old)
	edit(payload)
	if bytes.Equal(payload, old) {
		return fmt.Errorf("tamper: edit of message %d in %s changed nothing", seq, r.blk.path)
	}
	rec := bytes.Clone(r.rec())
	copy(rec[r.payloadOff:], payload)
	oldSum := bytes.Clone(rec[len(rec)-recHashSize:])
	newSum := recordChecksum(stream, r.blk.index, rec)
	copy(rec[len(rec)-recHashSize:], newSum)
	if err := writeAt(r.blk.path, r.off, rec); err != nil {
		return err
	}
	return st.fixStateChecksum(oldSum, newSum)
}

// FlipByte inverts (XOR 0xFF) the byte at offset in the payload of the
// message with stream sequence seq, as a careless attacker or a failing
// disk would, leaving the record's checksum as it was. It also removes
// index.db, so that the server rebuilds its state from the blocks at
// start-up, as after a crash, rather than trusting the stream state
// written at shutdown: it then finds the bad record and drops it, with the
// records after it in its block.
func FlipByte(storeDir, account, stream string, seq uint64, offset int) error {
	st, err := openStore(storeDir, account, stream)
	if err != nil {
		return err
	}
	r, err := st.find(seq)
	if err != nil {
		return err
	}
	if offset < 0 || offset >= r.payloadLen() {
		return fmt.Errorf("tamper: offset %d is outside the %d-byte payload of message %d in %s", offset, r.payloadLen(), seq, r.blk.path)
	}
	at := r.off + int64(r.payloadOff+offset)
	if err := writeAt(r.blk.path, at, []byte{r.buf[at] ^ 0xff}); err != nil {
		return err
	}
	return st.removeState()
}

// TruncateLastBlock cuts n bytes off the end of the stream's last block
// file, as a crash in the middle of a write or an attacker hiding the
// latest messages would. Like FlipByte it removes index.db, so that the
// server scans the blocks at start-up.
func TruncateLastBlock(storeDir, account, stream string, n int64) error {
	st, err := openStore(storeDir, account, stream)
	if err != nil {
		return err
	}
	blks, err := st.blocks()
	if err != nil {
		return err
	}
	last := blks[len(blks)-1]
	size, err := fileSize(last.path)
	if err != nil {
		return err
	}
	if n <= 0 || n > size {
		return fmt.Errorf("tamper: cannot cut %d bytes off %s (%d bytes)", n, last.path, size)
	}
	if err := os.Truncate(last.path, size-n); err != nil {
		return fmt.Errorf("tamper: truncate %s: %w", last.path, err)
	}
	return st.removeState()
}

// ZeroRange overwrites n bytes of the stream's first block file with
// zeros from offset, as a lost disk sector would. Like FlipByte it removes
// index.db, so that the server scans the blocks at start-up. MessageOffset
// finds the offset of a message.
func ZeroRange(storeDir, account, stream string, offset, n int64) error {
	st, err := openStore(storeDir, account, stream)
	if err != nil {
		return err
	}
	blks, err := st.blocks()
	if err != nil {
		return err
	}
	first := blks[0]
	size, err := fileSize(first.path)
	if err != nil {
		return err
	}
	if offset < 0 || n <= 0 || offset > size-n {
		return fmt.Errorf("tamper: range [%d, %d) is not inside %s (%d bytes)", offset, offset+n, first.path, size)
	}
	if err := writeAt(first.path, offset, make([]byte, n)); err != nil {
		return err
	}
	return st.removeState()
}

// MessageOffset returns the block file holding the message with stream
// sequence seq, the offset of its payload in that file and the payload's
// length, for a test that tampers with the bytes itself (ZeroRange, a
// hand-made edit).
func MessageOffset(storeDir, account, stream string, seq uint64) (block string, offset int64, n int, err error) {
	st, err := openStore(storeDir, account, stream)
	if err != nil {
		return "", 0, 0, err
	}
	r, err := st.find(seq)
	if err != nil {
		return "", 0, 0, err
	}
	return r.blk.path, r.off + int64(r.payloadOff), r.payloadLen(), nil
}

// store is a stream's file store on disk.
type store struct {
	dir    string // the stream directory
	msgs   string // its msgs directory
	stream string
}

// openStore checks that the stream directory holds a file store the
// helpers can edit: there, named stream, neither encrypted nor compressed.
func openStore(storeDir, account, stream string) (*store, error) {
	st := &store{dir: StreamDir(storeDir, account, stream), stream: stream}
	st.msgs = filepath.Join(st.dir, msgsDir)
	if _, err := os.Stat(st.msgs); err != nil {
		return nil, fmt.Errorf("tamper: no file store of stream %s in account %s: %w", stream, account, err)
	}
	if _, err := os.Stat(filepath.Join(st.dir, metaKey)); err == nil {
		return nil, fmt.Errorf("tamper: %s: %w (key file %s)", st.dir, ErrUnsupportedStore, metaKey)
	}
	if keys, _ := filepath.Glob(filepath.Join(st.msgs, "*.key")); len(keys) > 0 {
		return nil, fmt.Errorf("tamper: %s: %w (key file %s)", st.dir, ErrUnsupportedStore, filepath.Base(keys[0]))
	}
	meta := filepath.Join(st.dir, metaFile)
	b, err := os.ReadFile(meta)
	if err != nil {
		return nil, fmt.Errorf("tamper: %w", err)
	}
	var info server.FileStreamInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("tamper: %s is not a stream configuration (encrypted?): %w", meta, err)
	}
	if info.Name != stream {
		return nil, fmt.Errorf("tamper: %s names stream %q, not %q", meta, info.Name, stream)
	}
	if info.Compression != server.NoCompression {
		return nil, fmt.Errorf("tamper: %s: %w (compression %s)", meta, ErrUnsupportedStore, info.Compression)
	}
	return st, nil
}

// block is a block file.
type block struct {
	index uint32
	path  string
}

// blocks returns the block files in index order, the order of the
// stream.
func (st *store) blocks() ([]block, error) {
	entries, err := os.ReadDir(st.msgs)
	if err != nil {
		return nil, fmt.Errorf("tamper: %w", err)
	}
	var blks []block
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".blk") {
			continue
		}
		var index uint32
		if n, err := fmt.Sscanf(name, "%d.blk", &index); err != nil || n != 1 || fmt.Sprintf("%d.blk", index) != name {
			continue
		}
		blks = append(blks, block{index: index, path: filepath.Join(st.msgs, name)})
	}
	if len(blks) == 0 {
		return nil, fmt.Errorf("tamper: no block file in %s", st.msgs)
	}
	slices.SortFunc(blks, func(a, b block) int { return int(int64(a.index) - int64(b.index)) })
	return blks, nil
}

// record is a message record found in a block.
type record struct {
	blk        block
	buf        []byte // the whole block file
	off        int64  // of the record in buf
	rl         int    // record length, checksum included
	payloadOff int    // of the payload in the record
}

func (r *record) rec() []byte     { return r.buf[r.off : r.off+int64(r.rl)] }
func (r *record) payload() []byte { return r.rec()[r.payloadOff : r.rl-recHashSize] }
func (r *record) payloadLen() int { return r.rl - recHashSize - r.payloadOff }

// find returns the record of the message with stream sequence seq: the
// first record of that sequence in the blocks, as the server reads it,
// neither a delete tombstone nor erased. It checks the record's checksum,
// so that a change in the server's format or key derivation fails here
// rather than in a test that expects the server to accept an edit.
func (st *store) find(seq uint64) (*record, error) {
	if seq == 0 || seq&(erasedBit|tombBit) != 0 {
		return nil, fmt.Errorf("tamper: %d is not a stream sequence", seq)
	}
	blks, err := st.blocks()
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	for _, blk := range blks {
		buf, err := os.ReadFile(blk.path)
		if err != nil {
			return nil, fmt.Errorf("tamper: %w", err)
		}
		if len(buf) >= 4 && string(buf[:3]) == "cmp" && server.StoreCompression(buf[3]) == server.S2Compression {
			return nil, fmt.Errorf("tamper: %s: %w (compressed block)", blk.path, ErrUnsupportedStore)
		}
		for off := 0; off < len(buf); {
			bad := func(reason string, args ...any) error {
				return fmt.Errorf("tamper: %s: bad record at offset %d (looking for message %d): %s", blk.path, off, seq, fmt.Sprintf(reason, args...))
			}
			if len(buf)-off < recHdrSize+recHashSize {
				return nil, bad("%d bytes left, less than a record", len(buf)-off)
			}
			hdr := buf[off : off+recHdrSize]
			rl := le.Uint32(hdr[0:])
			hasHeaders := rl&headersBit != 0
			rl &^= headersBit
			slen := int(le.Uint16(hdr[20:]))
			if rl > maxRecord || int(rl) < recHdrSize+recHashSize || int(rl) > len(buf)-off {
				return nil, bad("record length %d, %d bytes left", rl, len(buf)-off)
			}
			payloadOff := recHdrSize + slen
			if hasHeaders {
				if payloadOff+4 > int(rl)-recHashSize {
					return nil, bad("subject length %d overruns the record (%d bytes)", slen, rl)
				}
				payloadOff += 4 + int(le.Uint32(buf[off+payloadOff:]))
			}
			if payloadOff > int(rl)-recHashSize {
				return nil, bad("subject and headers overrun the record (%d bytes)", rl)
			}
			if rseq := le.Uint64(hdr[4:]); rseq == seq {
				r := &record{blk: blk, buf: buf, off: int64(off), rl: int(rl), payloadOff: payloadOff}
				rec := r.rec()
				if want := recordChecksum(st.stream, blk.index, rec); !bytes.Equal(rec[len(rec)-recHashSize:], want) {
					return nil, bad("the checksum of message %d does not match (a changed file format or key derivation?)", seq)
				}
				return r, nil
			}
			off += int(rl)
		}
	}
	return nil, fmt.Errorf("tamper: no message %d in the blocks of %s", seq, st.msgs)
}

// recordChecksum is the checksum the server stores at the end of rec, a
// well-formed record of block index of stream: HighwayHash-64 of its
// sequence, timestamp, subject, headers and payload, keyed with SHA-256 of
// "<stream>-<index>". The lengths in the record are not covered.
func recordChecksum(stream string, index uint32, rec []byte) []byte {
	le := binary.LittleEndian
	key := sha256.Sum256(fmt.Appendf(nil, "%s-%d", stream, index))
	h, _ := highwayhash.New64(key[:]) // a 32-byte key is never refused
	h.Write(rec[4:20])                // seq, ts
	body := rec[recHdrSize : len(rec)-recHashSize]
	slen := int(le.Uint16(rec[20:]))
	h.Write(body[:slen]) // subject
	body = body[slen:]
	if le.Uint32(rec[0:])&headersBit != 0 {
		body = body[4:] // the headers' length
	}
	h.Write(body) // headers and payload
	return h.Sum(nil)
}

// stateChecksum is the hash at the end of index.db: HighwayHash-64 of the
// rest of the file, keyed with SHA-256 of the stream name.
func stateChecksum(stream string, body []byte) []byte {
	key := sha256.Sum256([]byte(stream))
	h, _ := highwayhash.New64(key[:])
	h.Write(body)
	return h.Sum(nil)
}

// fixStateChecksum replaces, in index.db, the last block's last checksum
// oldSum by newSum and rehashes the file, so that the server still trusts
// the stream state after the edit of that record. It leaves alone an
// index.db that records another checksum (the edit is not of the last
// record, which the server does not check at start-up) or whose hash does
// not hold (the server discards it anyway and scans the blocks).
func (st *store) fixStateChecksum(oldSum, newSum []byte) error {
	fn := filepath.Join(st.msgs, stateFile)
	buf, err := os.ReadFile(fn)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("tamper: %w", err)
	}
	if len(buf) < 2*recHashSize {
		return nil
	}
	body, sum := buf[:len(buf)-recHashSize], buf[len(buf)-recHashSize:]
	lchk := body[len(body)-recHashSize:]
	if !bytes.Equal(sum, stateChecksum(st.stream, body)) || !bytes.Equal(lchk, oldSum) {
		return nil
	}
	copy(lchk, newSum)
	copy(sum, stateChecksum(st.stream, body))
	return writeAt(fn, 0, buf)
}

// removeState removes index.db, so that the server rebuilds the stream
// state from the blocks at start-up.
func (st *store) removeState() error {
	fn := filepath.Join(st.msgs, stateFile)
	if err := os.Remove(fn); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tamper: %w", err)
	}
	return nil
}

// writeAt writes b at offset of the existing file path and syncs it.
func writeAt(path string, offset int64, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("tamper: %w", err)
	}
	_, err = f.WriteAt(b, offset)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tamper: write %s: %w", path, err)
	}
	return nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("tamper: %w", err)
	}
	return fi.Size(), nil
}
