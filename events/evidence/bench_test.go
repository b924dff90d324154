package evidence

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/record"
	"github.com/ccm-ledger/ccm-ledger/projections/synth"
)

// The benchmarks of the evidence's parts; `ccm bench --only evidence`
// measures them together on a live log.
//
//	go test ./events/evidence -run XXX -bench . -benchtime=200ms

// benchRecorded is the record time of stored message seq in the benchmarks.
func benchRecorded(seq uint64) time.Time {
	return time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC).Add(time.Duration(seq) * time.Millisecond)
}

// storedMessages returns evs as the log stores them, from sequence 1.
func storedMessages(evs []events.Envelope) []Message {
	msgs := make([]Message, len(evs))
	for i, e := range evs {
		seq := uint64(i + 1)
		msgs[i] = Message{Seq: seq, Recorded: benchRecorded(seq), Subject: e.Subject(), Data: e.StoredJSON()}
	}
	return msgs
}

func recordMessages(b *testing.B) []Message {
	b.Helper()
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	if err != nil {
		b.Fatal(err)
	}
	return storedMessages(evs)
}

func meanData(msgs []Message) int64 {
	var n int
	for _, m := range msgs {
		n += len(m.Data)
	}
	return int64(n / len(msgs))
}

// BenchmarkTreeAppend: one leaf added to a growing tree (with the parents
// it completes: one hash on average).
func BenchmarkTreeAppend(b *testing.B) {
	leaves := make([]Hash, 1024)
	for i := range leaves {
		leaves[i] = leafN(i)
	}
	var t Tree
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t.Append(leaves[i%len(leaves)])
	}
}

// BenchmarkLeafOf: the leaf of a stored event, as the notary and the live
// check compute it for every message (decode, canonical form, SHA-256);
// over the events of the bundled record, and of a synthetic ledger (the
// events of ccm bench). The parts: decoding, encoding the canonical form,
// hashing.
func BenchmarkLeafOf(b *testing.B) {
	for _, c := range []struct {
		name string
		msgs func(*testing.B) []Message
	}{
		{"record", recordMessages},
		{"synth", func(*testing.B) []Message { return storedMessages(synth.Generate(20_000, 42)) }},
	} {
		msgs := c.msgs(b)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(meanData(msgs))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				LeafOf(msgs[i%len(msgs)])
			}
		})
		b.Run(c.name+"/DecodeMessage", func(b *testing.B) {
			b.SetBytes(meanData(msgs))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m := msgs[i%len(msgs)]
				if _, q := events.DecodeMessage(m.Subject, m.Data, m.Seq, m.Recorded); q != nil {
					b.Fatal(q)
				}
			}
		})
		decoded := make([]events.Envelope, len(msgs))
		for i, m := range msgs {
			decoded[i], _ = events.DecodeMessage(m.Subject, m.Data, m.Seq, m.Recorded)
		}
		b.Run(c.name+"/StoredJSON", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				decoded[i%len(decoded)].StoredJSON()
			}
		})
		datas := make([][]byte, len(msgs))
		for i, m := range msgs {
			datas[i] = LeafData(m)
		}
		b.Run(c.name+"/LeafHash", func(b *testing.B) {
			b.SetBytes(int64(len(datas[0])))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				LeafHash(datas[i%len(datas)])
			}
		})
	}
}

// bigTree is a tree of a million leaves, the event of bigEvent at
// sequence bigSeq, and a checkpoint of it.
var bigTree = sync.OnceValues(func() (*Tree, error) {
	var t Tree
	e := bigEvent()
	for i := 0; i < bigSize; i++ {
		if uint64(i) == bigSeq-1 {
			t.Append(LeafHash(EventLeafData(e)))
			continue
		}
		t.Append(leafN(i))
	}
	return &t, nil
})

const (
	bigSize = 1_000_000
	bigSeq  = 777_777
)

func bigEvent() events.Envelope {
	evs, _, err := events.ReadLines(bytes.NewReader(record.JSONL()))
	if err != nil {
		panic(err)
	}
	e := evs[len(evs)/2]
	e.Seq, e.Recorded = bigSeq, benchRecorded(bigSeq)
	return e
}

func tree(b *testing.B) *Tree {
	b.Helper()
	t, err := bigTree()
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkRoot: the root of the tree of a million leaves (what the notary
// signs, and what the check compares with every checkpoint).
func BenchmarkRoot(b *testing.B) {
	t := tree(b)
	b.ResetTimer()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := t.Root(bigSize - uint64(i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInclusionProof: the inclusion proof of one leaf in the tree of a
// million leaves (ccm prove).
func BenchmarkInclusionProof(b *testing.B) {
	t := tree(b)
	b.ResetTimer()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := t.InclusionProof(uint64(i*7919)%bigSize, bigSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyProof: a proof of an event of the bundled record in a
// log of a million messages, checked with the public key alone (ccm verify
// --proof, without reading the file); the proof's size as ccm prove writes
// it, in proof-bytes.
func BenchmarkVerifyProof(b *testing.B) {
	t := tree(b)
	origin := Origin("CCM")
	priv, pub, err := NewKey(origin)
	if err != nil {
		b.Fatal(err)
	}
	root, err := t.Root(bigSize)
	if err != nil {
		b.Fatal(err)
	}
	c, err := Sign(priv, origin, bigSize, root, bigSize, benchRecorded(bigSize))
	if err != nil {
		b.Fatal(err)
	}
	e := bigEvent()
	p, err := Prove(t, Message{Seq: e.Seq, Recorded: e.Recorded, Subject: e.Subject(), Data: e.StoredJSON()}, e, c)
	if err != nil {
		b.Fatal(err)
	}
	j, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := VerifyProof(p, pub); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(j)+1), "proof-bytes")
	b.ReportMetric(float64(len(p.Inclusion)), "hashes")
}

// BenchmarkVerifyExport: the verification of an export from the public
// key alone (ccm verify --file), per event: a synthetic ledger of 20,000
// events with a checkpoint every 1000, as ccm serve signs.
func BenchmarkVerifyExport(b *testing.B) {
	const n, every = 20_000, 1000
	evs := synth.Generate(n, 42)
	origin := Origin("CCM")
	priv, pub, err := NewKey(origin)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	x := NewExportWriter(&buf)
	var stored []Stored
	var last *Checkpoint
	for i, e := range evs {
		e.Seq, e.Recorded = uint64(i+1), benchRecorded(uint64(i+1))
		if err := x.Event(Message{Seq: e.Seq, Recorded: e.Recorded, Subject: e.Subject(), Data: e.StoredJSON()}, e); err != nil {
			b.Fatal(err)
		}
		if e.Seq%every == 0 || i == n-1 {
			root, err := x.tree.Root(e.Seq)
			if err != nil {
				b.Fatal(err)
			}
			c, err := Sign(priv, origin, e.Seq, root, e.Seq, e.Recorded.Add(time.Second))
			if err != nil {
				b.Fatal(err)
			}
			s := Stored{Note: string(c.Note)}
			if last != nil {
				s.From = last.Size
				if s.Consistency, err = x.tree.ConsistencyProof(last.Size, e.Seq); err != nil {
					b.Fatal(err)
				}
			}
			stored, last = append(stored, s), &c
		}
	}
	if _, _, err := x.Close(stored); err != nil {
		b.Fatal(err)
	}
	export := buf.Bytes()
	b.SetBytes(int64(len(export)))
	b.ResetTimer()
	b.ReportAllocs()
	for b.Loop() {
		r, err := VerifyExport(bytes.NewReader(export), pub)
		if err != nil || r.Err() != nil || r.Messages != n {
			b.Fatal(err, r.Err(), r.Messages)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/event")
}
