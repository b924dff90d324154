package projections

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// encodeFacts writes a State's facts in a compact binary form, much
// faster to read back than JSON: the State and the revision, then for each
// fact its id (16 bytes), type, date, precision, sequence, data, source,
// and a flag byte: 0 for a live fact, 1 followed by the id and sequence of
// its retraction.
func encodeFacts(v stateValue) []byte {
	b := make([]byte, 0, 64+len(v.Facts)*96)
	str := func(s []byte) []byte {
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	b = append(b, factsFormat)
	b = str([]byte(v.State))
	b = binary.AppendUvarint(b, v.Rev)
	b = binary.AppendUvarint(b, uint64(len(v.Facts)))
	for _, f := range v.Facts {
		b = append(b, f.ID[:]...)
		b = str([]byte(f.Type))
		b = binary.AppendVarint(b, int64(f.Date))
		b = str([]byte(f.Precision))
		b = binary.AppendUvarint(b, f.Seq)
		b = str(f.Data)
		b = str([]byte(f.Source))
		if f.RetractedBy == "" {
			b = append(b, 0)
			continue
		}
		by := uuid.MustParse(f.RetractedBy)
		b = append(b, 1)
		b = append(b, by[:]...)
		b = binary.AppendUvarint(b, f.RetractedSeq)
	}
	return b
}

// factsFormat is the version of the binary form of facts (3: with the
// precision of dates).
const factsFormat = 3

// errShortFacts is the error of a truncated binary form of facts.
var errShortFacts = errors.New("truncated facts")

func decodeFacts(b []byte) (stateValue, error) {
	var v stateValue
	if len(b) == 0 || b[0] != factsFormat {
		return v, errors.New("not facts of a known format")
	}
	b = b[1:]
	var bad bool
	uv := func() uint64 {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return x
	}
	bytesOf := func(n uint64) []byte {
		if bad || uint64(len(b)) < n {
			bad = true
			return nil
		}
		s := b[:n:n]
		b = b[n:]
		return s
	}
	str := func() []byte { return bytesOf(uv()) }
	v.State = string(str())
	v.Rev = uv()
	n := uv()
	if bad || n > uint64(len(b)) {
		return v, errShortFacts
	}
	v.Facts = make([]factRec, 0, n)
	for range n {
		var f factRec
		copy(f.ID[:], bytesOf(16))
		f.Type = events.Type(str())
		d, k := binary.Varint(b)
		if k <= 0 {
			return v, errShortFacts
		}
		b = b[k:]
		f.Date = events.Date(d)
		f.Precision = string(str())
		f.Seq = uv()
		if data := str(); len(data) > 0 {
			f.Data = data
		}
		f.Source = string(str())
		switch flag := bytesOf(1); {
		case bad:
		case flag[0] == 1:
			var by uuid.UUID
			copy(by[:], bytesOf(16))
			f.RetractedBy, f.RetractedSeq = by.String(), uv()
		case flag[0] != 0:
			return v, fmt.Errorf("fact %s: bad retraction flag %d", f.ID, flag[0])
		}
		if bad {
			return v, errShortFacts
		}
		v.Facts = append(v.Facts, f)
	}
	if len(b) != 0 {
		return v, fmt.Errorf("%d bytes after the facts", len(b))
	}
	return v, nil
}
