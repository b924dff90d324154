package events

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The rules for input text (a source, a meeting's name, a retraction's
// reason, ...): valid UTF-8 without control characters, so that what a
// reader sees is what was given and every id derives from the text shown;
// and at least one character a reader can see. Whether a field may be
// empty is the rule of its event (checkEnvelope, Payload.check).

// textField is one free-text value of an event, named as on the wire.
type textField struct {
	name string
	// item is 1 + the position of the value in the list called name; 0 for
	// a field of its own.
	item  int
	value string
	// why is added to the reason of a value without a visible character.
	why string
}

func (f textField) path() string {
	if f.item == 0 {
		return f.name
	}
	return f.name + "[" + strconv.Itoa(f.item-1) + "]"
}

// checkTexts returns the problems of the non-empty free-text fields given,
// at most one each.
func checkTexts(fs ...textField) []fieldProblem {
	var probs []fieldProblem
	for _, f := range fs {
		switch r := textProblem(f.value); {
		case f.value == "":
		case r != "":
			probs = append(probs, fieldProblem{f.path(), r})
		case !visible(f.value):
			probs = append(probs, fieldProblem{f.path(), "has no visible character" + f.why})
		}
	}
	return probs
}

// textProblem says why s cannot be text: invalid UTF-8 (bytes counted from
// 1) or a control character (U+0000–U+001F, U+007F–U+009F); "" when it can.
func textProblem(s string) string {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fmt.Sprintf("contains the control character %U", rune(c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Sprintf("invalid UTF-8 at byte %d", i+1)
		case unicode.IsControl(r):
			return fmt.Sprintf("contains the control character %U", r)
		}
		i += size
	}
	return ""
}

// visible reports whether s has a letter, mark, number, punctuation or
// symbol: spaces, format characters (U+200B, U+FEFF, U+2060, ...) and
// controls alone show nothing.
func visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < utf8.RuneSelf {
			if c > ' ' && c != 0x7f {
				return true
			}
			continue
		}
		for _, r := range s[i:] {
			if unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) {
				return true
			}
		}
		return false
	}
	return false
}
