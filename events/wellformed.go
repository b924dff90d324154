package events

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// wellFormed finds in a line what encoding/json would let through with
// another meaning: invalid UTF-8 and escaped lone surrogates, which it
// replaces with U+FFFD, and keys given twice, of which it keeps the last.
// Each problem is named by its key path (source, data.name, data.areas[1];
// the whole line outside strings); bytes are counted from 1. The scan
// stops at the first syntax error, which encoding/json reports;
// utf8Outside is true when the line is no JSON because of invalid UTF-8
// outside any string.
func wellFormed(line []byte) (probs []fieldProblem, utf8Outside bool) {
	var (
		path [4]step
		keys [16][]byte
	)
	s := scanner{b: line, path: path[:0], keys: keys[:0]}
	s.value()
	if s.space(); !s.stop && s.i < len(s.b) {
		s.fail()
	}
	return s.probs, s.utf8Outside
}

// scanner walks a JSON value just closely enough to know the key path of
// every string. Paths are built only for a problem.
type scanner struct {
	b           []byte
	i           int
	path        []step   // from the line to the value being scanned
	keys        [][]byte // the keys of the objects being scanned
	probs       []fieldProblem
	stop        bool // a syntax error: encoding/json will say which
	utf8Outside bool
}

// step is one key (index < 0) or one list index of a path.
type step struct {
	key   []byte
	index int
}

func (s *scanner) report(reason string) {
	var b strings.Builder
	for i, st := range s.path {
		switch {
		case st.index >= 0:
			b.WriteString("[" + strconv.Itoa(st.index) + "]")
		case i > 0:
			b.WriteByte('.')
			fallthrough
		default:
			b.WriteString(s.key(st.key))
		}
	}
	s.probs = append(s.probs, fieldProblem{b.String(), reason})
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// maxDepth bounds the nesting the scan follows, as encoding/json does (it
// refuses a deeper line).
const maxDepth = 10000

func (s *scanner) value() {
	s.space()
	if s.i >= len(s.b) || len(s.path) > maxDepth {
		s.stop = true
		return
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.object()
	case c == '[':
		s.array()
	case c == '"':
		if bad := s.str(""); bad != "" {
			s.report(bad)
		}
	case c >= utf8.RuneSelf:
		s.fail()
	default: // a number, true, false or null
		for s.i < len(s.b) && s.b[s.i] < utf8.RuneSelf && !isDelim(s.b[s.i]) {
			s.i++
		}
	}
}

// fail stops the scan at a byte that cannot be there, saying so only when
// it is invalid UTF-8.
func (s *scanner) fail() {
	s.stop = true
	if s.i < len(s.b) && s.b[s.i] >= utf8.RuneSelf {
		if r, size := utf8.DecodeRune(s.b[s.i:]); r == utf8.RuneError && size == 1 {
			s.probs = append(s.probs, fieldProblem{"", fmt.Sprintf("invalid UTF-8 at byte %d", s.i+1)})
			s.utf8Outside = true
		}
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ':', ' ', '\t', '\r', '\n', '"', '{', '[':
		return true
	}
	return false
}

func (s *scanner) expect(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	s.fail()
	return false
}

// closes consumes the closing byte c of a list or an object, or the comma
// before its next member; it reports whether c was found.
func (s *scanner) closes(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	s.expect(',')
	return false
}

// empty consumes the closing byte c of an empty list or object.
func (s *scanner) empty(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) object() {
	s.i++ // {
	first := len(s.keys)
	defer func() { s.keys = s.keys[:first] }()
	if s.empty('}') {
		return
	}
	for !s.stop {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			s.fail()
			return
		}
		start := s.i
		bad := s.str(" in the key")
		quoted := s.b[start:s.i]
		if s.stop || !s.expect(':') {
			return
		}
		s.path = append(s.path, step{key: quoted, index: -1})
		if bad != "" {
			s.report(bad)
		}
		s.member(first, quoted)
		s.value()
		s.path = s.path[:len(s.path)-1]
		if s.stop || s.closes('}') {
			return
		}
	}
}

// member notes a key of the object whose keys start at first, reporting it
// the second time it is given.
func (s *scanner) member(first int, quoted []byte) {
	n := 0
	for _, k := range s.keys[first:] {
		if sameKey(k, quoted) {
			n++
		}
	}
	if n == 1 {
		s.report("given twice")
	}
	s.keys = append(s.keys, quoted)
}

func sameKey(a, b []byte) bool {
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return bytes.Equal(a, b)
	}
	var ka, kb string
	return json.Unmarshal(a, &ka) == nil && json.Unmarshal(b, &kb) == nil && ka == kb
}

// key returns the value of a quoted key as encoding/json reads it.
func (s *scanner) key(quoted []byte) string {
	if bytes.IndexByte(quoted, '\\') >= 0 {
		var k string
		if json.Unmarshal(quoted, &k) == nil {
			return k
		}
	}
	return strings.ToValidUTF8(string(quoted[1:len(quoted)-1]), "\uFFFD")
}

func (s *scanner) array() {
	s.i++ // [
	if s.empty(']') {
		return
	}
	for n := 0; !s.stop; n++ {
		s.path = append(s.path, step{index: n})
		s.value()
		s.path = s.path[:len(s.path)-1]
		if s.stop || s.closes(']') {
			return
		}
	}
}

// str scans a string from its opening quote and returns its first problem.
// where is said of a byte in it (" in the key").
func (s *scanner) str(where string) string {
	s.i++ // "
	var bad string
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return bad
		case c == '\\':
			var r string
			s.i, r = s.escape(where)
			bad = cmp.Or(bad, r)
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 && bad == "" {
				bad = fmt.Sprintf("invalid UTF-8 at byte %d%s", s.i+1, where)
			}
			s.i += size
		}
	}
	s.stop = true
	return bad
}

// escape checks the escape at s.i; it returns the index after it and what
// is wrong with it. A surrogate escape must be half of a pair.
func (s *scanner) escape(where string) (int, string) {
	i := s.i
	if i+1 >= len(s.b) {
		return len(s.b), ""
	}
	if s.b[i+1] != 'u' {
		return i + 2, ""
	}
	r, ok := hex4(s.b[i+2:])
	if !ok {
		return i + 2, "" // a syntax error
	}
	if !utf16.IsSurrogate(r) {
		return i + 6, ""
	}
	if r < 0xdc00 && i+7 < len(s.b) && s.b[i+6] == '\\' && s.b[i+7] == 'u' {
		if r2, ok := hex4(s.b[i+8:]); ok && utf16.DecodeRune(r, r2) != utf8.RuneError {
			return i + 12, ""
		}
	}
	return i + 6, fmt.Sprintf("the escape %s at byte %d%s is half of a surrogate pair, not a character", s.b[i:i+6], i+1, where)
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
