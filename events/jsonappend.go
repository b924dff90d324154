package events

import (
	"strconv"
	"unicode/utf8"
)

// The canonical JSON of payloads and envelopes is written by hand: it is on
// the path of every import and every append, where encoding/json's
// reflection cost more than the rest of the work. The output is byte for
// byte what encoding/json.Marshal writes for the same values (a test checks
// it), because the canonical data is hashed into derived event ids.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it: HTML-sensitive characters, control characters, U+2028,
// U+2029 escaped; invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendDate(dst []byte, d Date) []byte {
	if d == 0 {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = d.Time().AppendFormat(dst, "2006-01-02")
	return append(dst, '"')
}

// payloadJSON is implemented by every payload: its canonical JSON.
type payloadJSON interface {
	appendJSON(dst []byte) []byte
}

func (Empty) appendJSON(dst []byte) []byte { return append(dst, "{}"...) }

func (p *Deposit) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"instrument":`...)
	dst = appendJSONString(dst, string(p.Instrument))
	return append(dst, '}')
}

func (p *Quantities) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	sep := false
	if p.Munitions != nil {
		dst = append(dst, `"munitions":`...)
		dst = strconv.AppendInt(dst, *p.Munitions, 10)
		sep = true
	}
	if p.Submunitions != nil {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"submunitions":`...)
		dst = strconv.AppendInt(dst, *p.Submunitions, 10)
	}
	return append(dst, '}')
}

func (p *Contamination) appendJSON(dst []byte) []byte {
	if p.HostilitiesEnded == 0 {
		return append(dst, "{}"...)
	}
	dst = append(dst, `{"hostilities_ended":`...)
	dst = appendDate(dst, p.HostilitiesEnded)
	return append(dst, '}')
}

func (p *Report) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"kind":`...)
	dst = appendJSONString(dst, string(p.Kind))
	if p.Year != 0 {
		dst = append(dst, `,"year":`...)
		dst = strconv.AppendInt(dst, int64(p.Year), 10)
	}
	return append(dst, '}')
}

func (p *Legislation) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"status":`...)
	dst = appendJSONString(dst, string(p.Status))
	return append(dst, '}')
}

func (p *Extension) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"article":`...)
	dst = strconv.AppendInt(dst, int64(p.Article), 10)
	dst = append(dst, `,"until":`...)
	dst = appendDate(dst, p.Until)
	return append(dst, '}')
}

func (p *Assistance) appendJSON(dst []byte) []byte {
	if len(p.Areas) == 0 { // omitempty drops a nil and an empty list
		return append(dst, "{}"...)
	}
	dst = append(dst, `{"areas":[`...)
	for i, a := range p.Areas {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, a)
	}
	return append(dst, "]}"...)
}

func (p *Meeting) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"code":`...)
	dst = appendJSONString(dst, p.Code)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, p.Name)
	dst = append(dst, `,"city":`...)
	dst = appendJSONString(dst, p.City)
	dst = append(dst, `,"start":`...)
	dst = appendDate(dst, p.Start)
	dst = append(dst, `,"end":`...)
	dst = appendDate(dst, p.End)
	return append(dst, '}')
}

func (p *Retraction) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"event":"`...)
	dst = append(dst, p.Event.String()...)
	dst = append(dst, `","reason":`...)
	dst = appendJSONString(dst, p.Reason)
	return append(dst, '}')
}

// appendStored appends the stored form of e: the wire object without seq
// and recorded, fields in the wire order.
func (e Envelope) appendStored(dst []byte) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, e.ID.String()...)
	dst = append(dst, `","type":`...)
	dst = appendJSONString(dst, string(e.Type))
	if e.State != "" {
		dst = append(dst, `,"state":`...)
		dst = appendJSONString(dst, e.State)
	}
	dst = append(dst, `,"date":`...)
	dst = appendDate(dst, e.Date)
	if e.Precision != Day {
		dst = append(dst, `,"precision":`...)
		dst = appendJSONString(dst, string(e.Precision))
	}
	if data := e.Data(); len(data) > 0 {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, e.Source)
	return append(dst, '}')
}
