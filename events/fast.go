package events

import (
	"bytes"
	"encoding/binary"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/valyala/fastjson"
)

// Decoding without reflection. Every import line and every event read back
// from the log is decoded, so this is the hottest code of the ledger:
// encoding/json took more than half of a rebuild. The fast decoders below
// use a pooled fastjson parser and read each known field by hand.
//
// For input (decodeFast) the fast path is only an accelerator: it accepts a
// line only when it is sure the precise decoder (decode) would accept it
// and produce the same event; anything unusual (escapes, nulls, duplicate
// keys, invalid UTF-8, control characters, a number fastjson reads more
// leniently than JSON allows, any problem at all) is handed to the precise
// decoder, which says exactly what is wrong. A differential fuzz test holds
// the two to that.

var parsers fastjson.ParserPool

// decodeFast decodes a line the precise decoder would accept; ok is false
// when the line must go to the precise decoder.
func decodeFast(line []byte) (e Envelope, ok bool) {
	if !plainText(line) {
		return Envelope{}, false
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(line)
	if err != nil || v.Type() != fastjson.TypeObject {
		return Envelope{}, false
	}
	o, _ := v.Object()
	var (
		id, typ, date, data *fastjson.Value
		fail                bool
		seen                uint16
	)
	o.Visit(func(key []byte, v *fastjson.Value) {
		var bit uint16
		switch string(key) {
		case "id":
			bit, id = 1, v
		case "type":
			bit, typ = 2, v
		case "state":
			bit = 4
			s, ok := internState(v)
			e.State, fail = s, fail || !ok
		case "date":
			bit, date = 8, v
		case "data":
			bit, data = 16, v
		case "source":
			bit = 32
			s, ok := str(v)
			e.Source, fail = s, fail || !ok
		case "precision":
			bit = 1 << 8
			s, ok := str(v)
			p, known := ParsePrecision(s)
			e.Precision, fail = p, fail || !ok || !known
		case "seq", "recorded":
			bit = 64
			if key[0] == 'r' {
				bit = 128
			}
			fail = fail || !plainValue(v)
		default:
			fail = true
		}
		if seen&bit != 0 {
			fail = true // a duplicate key: encoding/json keeps the last
		}
		seen |= bit
	})
	if fail || typ == nil || date == nil {
		return Envelope{}, false
	}
	t, ok := internType(typ)
	if !ok {
		return Envelope{}, false
	}
	e.Type = t
	sp := specs[e.Type]
	if sp.fast == nil {
		return Envelope{}, false
	}
	if e.Date, ok = dateBytes(date); !ok {
		return Envelope{}, false
	}
	if id != nil {
		s, ok := str(id)
		if !ok || len(s) != 36 {
			return Envelope{}, false
		}
		if e.ID, err = uuid.Parse(s); err != nil || e.ID == uuid.Nil {
			return Envelope{}, false
		}
	}
	if len(e.checkEnvelope()) > 0 {
		return Envelope{}, false
	}
	pl, ok := sp.fast(data)
	if !ok || len(pl.check(&e)) > 0 || !visibleTexts(e.Source, pl) {
		return Envelope{}, false
	}
	e.Payload = pl
	if len(e.seal(e.ID != uuid.Nil, len(line))) > 0 {
		return Envelope{}, false
	}
	return e, true
}

// hasASCIIControl reports whether b has a byte below 0x20 or 0x7f, eight
// bytes at a time (the tests of "Bit Twiddling Hacks", S. E. Anderson: a
// byte below n, a byte equal to zero).
func hasASCIIControl(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; len(b) >= 8; b = b[8:] {
		x := binary.LittleEndian.Uint64(b)
		below := (x - ones*0x20) &^ x & highs
		y := x ^ (ones * 0x7f)
		del := (y - ones) &^ y & highs
		if below|del != 0 {
			return true
		}
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// visibleTexts reports whether the source and every non-empty text of a
// payload has a visible character: of the rules of input text, the one
// plainText leaves to check.
func visibleTexts(source string, p Payload) bool {
	if !visible(source) {
		return false
	}
	if tx, ok := p.(texter); ok {
		for _, f := range tx.texts() {
			if f.value != "" && !visible(f.value) {
				return false
			}
		}
	}
	return true
}

// plainText reports whether a line is valid UTF-8 without a backslash or a
// control character (U+0000–U+001F, U+007F–U+009F): fastjson does not
// reject raw control characters in strings and unescapes on a best-effort
// basis, and encoding/json replaces invalid UTF-8, so other lines go to the
// precise decoder.
func plainText(line []byte) bool {
	if bytes.IndexByte(line, '\\') >= 0 || !utf8.Valid(line) {
		return false
	}
	if hasASCIIControl(line) {
		return false
	}
	for i := bytes.IndexByte(line, 0xc2); i >= 0; i = bytes.IndexByte(line, 0xc2) {
		if line[i+1] < 0xa0 { // valid UTF-8: 0xc2 0x80–0x9f is U+0080–U+009F
			return false
		}
		line = line[i+2:]
	}
	return true
}

// internType returns the event type a JSON string names, without
// allocating; false for an unknown type or another kind of value.
func internType(v *fastjson.Value) (Type, bool) {
	if v.Type() != fastjson.TypeString {
		return "", false
	}
	b, _ := v.StringBytes()
	t, ok := typeNames[string(b)]
	return t, ok
}

var typeNames = func() map[string]Type {
	m := make(map[string]Type, len(typeOrder))
	for _, t := range typeOrder {
		m[string(t)] = t
	}
	return m
}()

// internState returns a State's code from the built-in table without
// allocating, or a copy of an unknown one (which the checks then reject).
func internState(v *fastjson.Value) (string, bool) {
	if v.Type() != fastjson.TypeString {
		return "", false
	}
	b, _ := v.StringBytes()
	if c, ok := stateIndex.byISO3[string(b)]; ok {
		return c.ISO3, true
	}
	return string(b), true
}

// dateBytes reads a JSON string holding a date without allocating.
func dateBytes(v *fastjson.Value) (Date, bool) {
	if v.Type() != fastjson.TypeString {
		return 0, false
	}
	b, _ := v.StringBytes()
	return parseYMD(b)
}

// str returns a JSON string's value; false for any other kind of value.
func str(v *fastjson.Value) (string, bool) {
	if v.Type() != fastjson.TypeString {
		return "", false
	}
	b, _ := v.StringBytes()
	return string(b), true
}

// plainValue reports whether v is a string or a number written as JSON
// allows (fastjson also reads "+1", "1.", "nan", "inf"): values whose
// contents the fast path may ignore.
func plainValue(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeString:
		return true
	case fastjson.TypeNumber:
		return strictNumber(v.String())
	}
	return false
}

// strictNumber reports whether s is a number in JSON's grammar.
func strictNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

// integer returns an integer field written as a plain JSON integer (no
// fraction, no exponent), as encoding/json reads into an int.
func integer(v *fastjson.Value) (int64, bool) {
	if v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	s := v.String()
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && !(i == 0 && c == '-') {
			return 0, false
		}
	}
	if !strictNumber(s) {
		return 0, false
	}
	n, err := v.Int64()
	return n, err == nil
}

func date(v *fastjson.Value) (Date, bool) { return dateBytes(v) }

// fields visits the fields of a payload object; f returns false for a field
// the payload does not have or a value of the wrong kind. ok is false for
// anything but an object whose every field f accepted once.
func fields(v *fastjson.Value, f func(key string, v *fastjson.Value) bool) bool {
	if v == nil {
		return true
	}
	o, err := v.Object()
	if err != nil {
		return false
	}
	ok := true
	var seen [8]string // payloads have at most five fields
	n := 0
	o.Visit(func(key []byte, v *fastjson.Value) {
		if !ok {
			return
		}
		k := string(key)
		for _, s := range seen[:n] {
			if s == k {
				ok = false // a duplicate key: encoding/json keeps the last
				return
			}
		}
		if n == len(seen) || !f(k, v) {
			ok = false
			return
		}
		seen[n] = k
		n++
	})
	return ok
}

func fastEmpty(v *fastjson.Value) (Payload, bool) {
	if v == nil {
		return Empty{}, true
	}
	o, err := v.Object()
	return Empty{}, err == nil && o.Len() == 0
}

func fastDeposit(v *fastjson.Value) (Payload, bool) {
	p := &Deposit{}
	return p, fields(v, func(k string, v *fastjson.Value) bool {
		s, ok := str(v)
		p.Instrument = Instrument(s)
		return k == "instrument" && ok
	})
}

func fastQuantities(requireBoth bool) func(*fastjson.Value) (Payload, bool) {
	return func(v *fastjson.Value) (Payload, bool) {
		p := &Quantities{requireBoth: requireBoth}
		return p, fields(v, func(k string, v *fastjson.Value) bool {
			n, ok := integer(v)
			switch k {
			case "munitions":
				p.Munitions = &n
			case "submunitions":
				p.Submunitions = &n
			default:
				return false
			}
			return ok
		})
	}
}

func fastContamination(v *fastjson.Value) (Payload, bool) {
	p := &Contamination{}
	return p, fields(v, func(k string, v *fastjson.Value) bool {
		d, ok := date(v)
		p.HostilitiesEnded = d
		return k == "hostilities_ended" && ok
	})
}

func fastReport(v *fastjson.Value) (Payload, bool) {
	p := &Report{}
	return p, fields(v, func(k string, v *fastjson.Value) bool {
		switch k {
		case "kind":
			s, ok := str(v)
			p.Kind = ReportKind(s)
			return ok
		case "year":
			n, ok := integer(v)
			p.Year = int(n)
			return ok && int64(p.Year) == n
		}
		return false
	})
}

func fastLegislation(v *fastjson.Value) (Payload, bool) {
	p := &Legislation{}
	return p, fields(v, func(k string, v *fastjson.Value) bool {
		s, ok := str(v)
		p.Status = LegislationState(s)
		return k == "status" && ok
	})
}

func fastExtension(v *fastjson.Value) (Payload, bool) {
	p := &Extension{}
	return p, fields(v, func(k string, v *fastjson.Value) bool {
		switch k {
		case "article":
			n, ok := integer(v)
			p.Article = int(n)
			return ok && int64(p.Article) == n
		case "until":
			d, ok := date(v)
			p.Until = d
			return ok
		}
		return false
	})
}

func fastCoverage(v *fastjson.Value) (Payload, bool) {
	p := &Coverage{}
	return p, fields(v, func(k string, v *fastjson.Value) bool {
		switch k {
		case "facts":
			s, ok := str(v)
			p.Facts = FactClass(s)
			return ok
		case "through":
			d, ok := date(v)
			p.Through = d
			return ok
		}
		return false
	})
}

func fastAssistance(v *fastjson.Value) (Payload, bool) {
	p := &Assistance{}
	ok := fields(v, func(k string, v *fastjson.Value) bool {
		if k != "areas" {
			return false
		}
		arr, err := v.Array()
		if err != nil {
			return false
		}
		for _, a := range arr {
			s, ok := str(a)
			if !ok {
				return false
			}
			p.Areas = append(p.Areas, s)
		}
		return true
	})
	p.normalize()
	return p, ok
}

func fastMeeting(v *fastjson.Value) (Payload, bool) {
	p := &Meeting{}
	return p, fields(v, func(k string, v *fastjson.Value) bool {
		var ok bool
		switch k {
		case "code":
			p.Code, ok = str(v)
		case "name":
			p.Name, ok = str(v)
		case "city":
			p.City, ok = str(v)
		case "start":
			p.Start, ok = date(v)
		case "end":
			p.End, ok = date(v)
		}
		return ok
	})
}

func fastRetraction(v *fastjson.Value) (Payload, bool) {
	p := &Retraction{}
	return p, fields(v, func(k string, v *fastjson.Value) bool {
		switch k {
		case "event":
			s, ok := str(v)
			if !ok {
				return false
			}
			u, err := uuid.Parse(s)
			p.Event = u
			return err == nil
		case "reason":
			var ok bool
			p.Reason, ok = str(v)
			return ok
		}
		return false
	})
}

// decodeStoredFast decodes an event read back from the log; ok is false when
// the body needs the general decoder.
func decodeStoredFast(body []byte, seq uint64, recorded time.Time) (Envelope, bool) {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject {
		return Envelope{}, false
	}
	e := Envelope{Seq: seq, Recorded: recorded}
	var data *fastjson.Value
	ok := true
	o, _ := v.Object()
	o.Visit(func(key []byte, v *fastjson.Value) {
		var good bool
		switch string(key) {
		case "id":
			if v.Type() == fastjson.TypeString {
				b, _ := v.StringBytes()
				e.ID, err = uuid.ParseBytes(b)
				good = err == nil
			}
		case "type":
			e.Type, good = internType(v)
		case "state":
			e.State, good = internState(v)
		case "date":
			e.Date, good = dateBytes(v)
		case "data":
			data, good = v, true
		case "source":
			e.Source, good = str(v)
		case "precision":
			var s string
			if s, good = str(v); good {
				e.Precision, good = ParsePrecision(s)
			}
		default:
			good = true
		}
		ok = ok && good
	})
	sp, known := specs[e.Type]
	if !ok || !known || sp.fast == nil {
		return Envelope{}, false
	}
	pl, ok := sp.fast(data)
	if !ok {
		return Envelope{}, false
	}
	e.Payload = pl
	return e, true
}
