package natstest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/natstest"
)

const (
	tamperAccount = "$G" // the global account of a server without accounts
	tamperStream  = "TAMPER"
	tamperMsgs    = 200
)

// tamperStore is a stopped server's file store holding tamperMsgs
// messages of stream tamperStream, and what was published.
type tamperStore struct {
	dir      string
	payloads [][]byte // payloads[i] is the payload of sequence i+1
	headers  []nats.Header
}

// tamperLayout shapes the stream's blocks: one block (the ledger's
// configuration, no byte limit: 8 MB blocks), or several small ones.
type tamperLayout struct {
	name     string
	maxBytes int64 // 0 for no limit
	pad      int   // filler in each payload
}

var (
	tamperOneBlock    = tamperLayout{name: "one block", pad: 40}
	tamperSmallBlocks = tamperLayout{name: "small blocks", maxBytes: 120_000, pad: 350} // 32 kB blocks
)

// newTamperStore runs a server, publishes tamperMsgs JSON payloads on
// t.<n> (every third one with headers) and stops the server.
func newTamperStore(t *testing.T, layout tamperLayout) *tamperStore {
	t.Helper()
	srv := natstest.RunServer(t)
	js := srv.JetStream(t)
	ctx := tamperCtx(t)
	maxBytes := int64(-1)
	if layout.maxBytes > 0 {
		maxBytes = layout.maxBytes
	}
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        tamperStream,
		Subjects:    []string{"t.>"},
		Storage:     jetstream.FileStorage,
		MaxBytes:    maxBytes,
		AllowDirect: true,
	})
	require.NoError(t, err)
	ts := &tamperStore{dir: srv.Options().StoreDir}
	for i := 1; i <= tamperMsgs; i++ {
		m := nats.NewMsg(fmt.Sprintf("t.%d", i%7))
		m.Data = fmt.Appendf(nil, `{"seq":%d,"kind":"event","amount":%d,"note":"%s"}`, i, i*37%1000, strings.Repeat("x", layout.pad))
		if i%3 == 0 {
			m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("id-%d", i))
			m.Header.Set("X-Tamper", "yes")
		}
		ack, err := js.PublishMsg(ctx, m)
		require.NoError(t, err)
		require.Equal(t, uint64(i), ack.Sequence)
		ts.payloads = append(ts.payloads, m.Data)
		ts.headers = append(ts.headers, m.Header)
	}
	srv.Stop()
	msgs := ts.msgsDir()
	blks, err := filepath.Glob(filepath.Join(msgs, "*.blk"))
	require.NoError(t, err)
	if layout.maxBytes > 0 {
		require.Greater(t, len(blks), 2, "%s: several blocks in %s", layout.name, msgs)
	} else {
		require.Len(t, blks, 1, "%s: one block in %s", layout.name, msgs)
	}
	require.FileExists(t, filepath.Join(msgs, "index.db"), "the server writes its stream state at shutdown")
	return ts
}

// restart starts a server on the store and returns the stream and a
// connection.
func (ts *tamperStore) restart(t *testing.T) (jetstream.Stream, *nats.Conn) {
	t.Helper()
	srv := natstest.RunServer(t, natstest.StoreDir(ts.dir))
	nc := srv.Conn(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(tamperCtx(t), tamperStream)
	require.NoError(t, err, "the stream after the restart")
	return s, nc
}

// msgsDir is the directory of the stream's blocks.
func (ts *tamperStore) msgsDir() string {
	return filepath.Join(natstest.StreamDir(ts.dir, tamperAccount, tamperStream), "msgs")
}

func tamperCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tamperState returns the stream's state as the server reports it.
func tamperState(t *testing.T, s jetstream.Stream) jetstream.StreamState {
	t.Helper()
	info, err := s.Info(tamperCtx(t))
	require.NoError(t, err)
	return info.State
}

// tamperAPIGet fetches seq with the stream's message get API
// ($JS.API.STREAM.MSG.GET), as opposed to the direct get that
// Stream.GetMsg uses on a stream with AllowDirect.
func tamperAPIGet(t *testing.T, nc *nats.Conn, seq uint64) ([]byte, error) {
	t.Helper()
	req, _ := json.Marshal(map[string]uint64{"seq": seq})
	resp, err := nc.Request("$JS.API.STREAM.MSG.GET."+tamperStream, req, 5*time.Second)
	require.NoError(t, err)
	var r struct {
		Message *struct {
			Data []byte `json:"data"`
		} `json:"message"`
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(resp.Data, &r))
	if r.Error != nil {
		return nil, fmt.Errorf("%s", r.Error.Description)
	}
	require.NotNil(t, r.Message)
	return r.Message.Data, nil
}

// tamperReadAll reads the stream from the start with an ordered consumer and
// returns the payloads by sequence.
func tamperReadAll(t *testing.T, s jetstream.Stream) map[uint64][]byte {
	t.Helper()
	ctx := tamperCtx(t)
	n := tamperState(t, s).Msgs
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	got := map[uint64][]byte{}
	for uint64(len(got)) < n {
		batch, err := c.Fetch(int(n)-len(got), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		var k int
		for m := range batch.Messages() {
			md, err := m.Metadata()
			require.NoError(t, err)
			got[md.Sequence.Stream] = m.Data()
			k++
		}
		require.NoError(t, batch.Error())
		require.Positive(t, k, "no progress reading the stream (%d of %d)", len(got), n)
	}
	return got
}

// assertIntact asserts that every message read but except is the one
// published.
func (ts *tamperStore) assertIntact(t *testing.T, got map[uint64][]byte, except uint64) {
	t.Helper()
	for seq, data := range got {
		if seq != except {
			assert.Equal(t, string(ts.payloads[seq-1]), string(data), "message %d", seq)
		}
	}
}

func TestTamperEditMessage(t *testing.T) {
	for _, layout := range []tamperLayout{tamperOneBlock, tamperSmallBlocks} {
		for _, seq := range []uint64{1, 100, 150, tamperMsgs} { // 150 has headers, 200 is the last record
			t.Run(fmt.Sprintf("%s/seq %d", layout.name, seq), func(t *testing.T) {
				ts := newTamperStore(t, layout)
				want := ts.payloads[seq-1]
				edited := bytes.Replace(want, fmt.Appendf(nil, `"amount":%d`, seq*37%1000), fmt.Appendf(nil, `"amount":%d`, (seq*37+1)%1000), 1)
				require.NotEqual(t, want, edited)
				require.Len(t, edited, len(want))

				block, off, n, err := natstest.MessageOffset(ts.dir, tamperAccount, tamperStream, seq)
				require.NoError(t, err)
				require.Equal(t, len(want), n)
				before, err := os.ReadFile(block)
				require.NoError(t, err)

				var given int
				require.NoError(t, natstest.EditMessage(ts.dir, tamperAccount, tamperStream, seq, func(p []byte) {
					given = len(p)
					assert.Equal(t, string(want), string(p), "edit gets the payload alone, without subject or headers")
					copy(p, edited)
				}))
				assert.Equal(t, len(want), given)

				// Only the payload and the checksum after it have changed.
				after, err := os.ReadFile(block)
				require.NoError(t, err)
				require.Len(t, after, len(before))
				end := int(off) + n
				assert.Equal(t, before[:off], after[:off], "%s before the payload", block)
				assert.Equal(t, string(edited), string(after[off:end]), "%s: the payload", block)
				assert.NotEqual(t, before[end:end+8], after[end:end+8], "%s: the record's checksum is recomputed", block)
				assert.Equal(t, before[end+8:], after[end+8:], "%s after the record", block)
				require.FileExists(t, filepath.Join(ts.msgsDir(), "index.db"), "the edit keeps the stream state")
				assertTamperStateMatchesLastBlock(t, ts.msgsDir())

				s, nc := ts.restart(t)
				st := tamperState(t, s)
				assert.Equal(t, uint64(tamperMsgs), st.Msgs, "the server does not notice the edit")
				assert.Equal(t, uint64(tamperMsgs), st.LastSeq)
				assert.Zero(t, st.NumDeleted)

				m, err := s.GetMsg(tamperCtx(t), seq)
				require.NoError(t, err, "direct get of the edited message")
				assert.Equal(t, string(edited), string(m.Data))
				assert.Equal(t, fmt.Sprintf("t.%d", seq%7), m.Subject)
				if h := ts.headers[seq-1]; len(h) > 0 {
					assert.Equal(t, h.Get(jetstream.MsgIDHeader), m.Header.Get(jetstream.MsgIDHeader), "the headers are left alone")
				}
				data, err := tamperAPIGet(t, nc, seq)
				require.NoError(t, err, "message get API of the edited message")
				assert.Equal(t, string(edited), string(data))
				got := tamperReadAll(t, s)
				assert.Equal(t, string(edited), string(got[seq]), "a consumer gets the edited message")
				ts.assertIntact(t, got, seq)
			})
		}
	}
}

// assertTamperStateMatchesLastBlock checks the condition under which the
// server trusts index.db at start-up (besides its own hash): the last
// checksum it records is the last 8 bytes of the last block.
func assertTamperStateMatchesLastBlock(t *testing.T, msgs string) {
	t.Helper()
	state, err := os.ReadFile(filepath.Join(msgs, "index.db"))
	require.NoError(t, err)
	blks, err := filepath.Glob(filepath.Join(msgs, "*.blk"))
	require.NoError(t, err)
	last, lastIndex := "", -1
	for _, b := range blks {
		var i int
		_, err := fmt.Sscanf(filepath.Base(b), "%d.blk", &i)
		require.NoError(t, err)
		if i > lastIndex {
			last, lastIndex = b, i
		}
	}
	blk, err := os.ReadFile(last)
	require.NoError(t, err)
	assert.Equal(t, blk[len(blk)-8:], state[len(state)-16:len(state)-8], "index.db records the last checksum of %s", last)
}

// assertLost checks what the server serves after damage to the blocks:
// fewer messages than published, none of them seq, and the others as
// published.
func (ts *tamperStore) assertLost(t *testing.T, seq uint64) (st jetstream.StreamState) {
	t.Helper()
	s, nc := ts.restart(t)
	st = tamperState(t, s)
	assert.Less(t, st.Msgs, uint64(tamperMsgs), "the server drops damaged messages")
	_, err := s.GetMsg(tamperCtx(t), seq)
	assert.ErrorIs(t, err, jetstream.ErrMsgNotFound, "direct get of message %d", seq)
	_, err = tamperAPIGet(t, nc, seq)
	assert.Error(t, err, "message get API of message %d", seq)
	got := tamperReadAll(t, s)
	assert.NotContains(t, got, seq)
	ts.assertIntact(t, got, 0)
	return st
}

func TestTamperFlipByte(t *testing.T) {
	for _, layout := range []tamperLayout{tamperOneBlock, tamperSmallBlocks} {
		for _, seq := range []uint64{100, 150, tamperMsgs} {
			t.Run(fmt.Sprintf("%s/seq %d", layout.name, seq), func(t *testing.T) {
				ts := newTamperStore(t, layout)
				block, off, n, err := natstest.MessageOffset(ts.dir, tamperAccount, tamperStream, seq)
				require.NoError(t, err)
				require.Equal(t, len(ts.payloads[seq-1]), n)
				before, err := os.ReadFile(block)
				require.NoError(t, err)

				require.NoError(t, natstest.FlipByte(ts.dir, tamperAccount, tamperStream, seq, 10))
				after, err := os.ReadFile(block)
				require.NoError(t, err)
				require.Len(t, after, len(before))
				for i := range after {
					if i == int(off)+10 {
						require.Equal(t, before[i]^0xff, after[i], "the byte at payload offset 10")
					} else {
						require.Equal(t, before[i], after[i], "byte %d of %s", i, block)
					}
				}
				require.Equal(t, ts.payloads[seq-1][10]^0xff, after[off+10])
				assert.NoFileExists(t, filepath.Join(ts.msgsDir(), "index.db"))

				ts.assertLost(t, seq)
			})
		}
	}
}

func TestTamperTruncateLastBlock(t *testing.T) {
	for _, layout := range []tamperLayout{tamperOneBlock, tamperSmallBlocks} {
		t.Run(layout.name, func(t *testing.T) {
			ts := newTamperStore(t, layout)
			require.NoError(t, natstest.TruncateLastBlock(ts.dir, tamperAccount, tamperStream, 10))
			ts.assertLost(t, tamperMsgs)
		})
	}
}

func TestTamperZeroRange(t *testing.T) {
	for _, layout := range []tamperLayout{tamperOneBlock, tamperSmallBlocks} {
		t.Run(layout.name+"/a payload", func(t *testing.T) {
			ts := newTamperStore(t, layout)
			first, _, _, err := natstest.MessageOffset(ts.dir, tamperAccount, tamperStream, 1)
			require.NoError(t, err)
			block, off, _, err := natstest.MessageOffset(ts.dir, tamperAccount, tamperStream, 20)
			require.NoError(t, err)
			require.Equal(t, first, block, "message 20 is in the first block")
			require.NoError(t, natstest.ZeroRange(ts.dir, tamperAccount, tamperStream, off, 16))
			ts.assertLost(t, 20)
		})
		t.Run(layout.name+"/the block's start", func(t *testing.T) {
			ts := newTamperStore(t, layout)
			require.NoError(t, natstest.ZeroRange(ts.dir, tamperAccount, tamperStream, 0, 64))
			st := ts.assertLost(t, 1)
			if layout.maxBytes > 0 {
				assert.Positive(t, st.Msgs, "the later blocks are kept")
			}
		})
	}
}

func TestTamperRefuses(t *testing.T) {
	ts := newTamperStore(t, tamperOneBlock)
	noEdit := func([]byte) {}
	flip := func(p []byte) { p[0] ^= 1 }

	err := natstest.EditMessage(ts.dir, tamperAccount, tamperStream, tamperMsgs+1, flip)
	assert.ErrorContains(t, err, "no message 201")
	err = natstest.EditMessage(ts.dir, tamperAccount, "OTHER", 1, flip)
	assert.ErrorContains(t, err, "no file store of stream OTHER")
	err = natstest.EditMessage(ts.dir, tamperAccount, tamperStream, 1, noEdit)
	assert.ErrorContains(t, err, "changed nothing")
	err = natstest.FlipByte(ts.dir, tamperAccount, tamperStream, 1, len(ts.payloads[0]))
	assert.ErrorContains(t, err, "outside the")
	err = natstest.TruncateLastBlock(ts.dir, tamperAccount, tamperStream, 1<<40)
	assert.ErrorContains(t, err, "cannot cut")
	err = natstest.ZeroRange(ts.dir, tamperAccount, tamperStream, 1<<40, 1)
	assert.ErrorContains(t, err, "is not inside")

	// A key file marks an encrypted store.
	key := filepath.Join(natstest.StreamDir(ts.dir, tamperAccount, tamperStream), "meta.key")
	require.NoError(t, os.WriteFile(key, make([]byte, 64), 0o600))
	err = natstest.EditMessage(ts.dir, tamperAccount, tamperStream, 1, flip)
	assert.ErrorIs(t, err, natstest.ErrUnsupportedStore)
	assert.ErrorContains(t, err, "meta.key")
	require.NoError(t, os.Remove(key))

	// None of the refusals above changed the store.
	s, _ := ts.restart(t)
	assert.Equal(t, uint64(tamperMsgs), tamperState(t, s).Msgs)
	ts.assertIntact(t, tamperReadAll(t, s), 0)
}

func TestTamperRefusesCompressed(t *testing.T) {
	srv := natstest.RunServer(t)
	js := srv.JetStream(t)
	ctx := tamperCtx(t)
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: tamperStream, Subjects: []string{"t.>"}, Storage: jetstream.FileStorage,
		Compression: jetstream.S2Compression,
	})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "t.1", []byte(`{"seq":1}`))
	require.NoError(t, err)
	dir := srv.Options().StoreDir
	srv.Stop()

	err = natstest.EditMessage(dir, tamperAccount, tamperStream, 1, func(p []byte) { p[0] ^= 1 })
	assert.ErrorIs(t, err, natstest.ErrUnsupportedStore)
	assert.ErrorContains(t, err, "compression S2")
}
