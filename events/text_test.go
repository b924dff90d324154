package events

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVisible(t *testing.T) {
	for _, tt := range []struct {
		given string
		then  bool
	}{
		{"", false},
		{"   ", false},
		{"\u00a0\u2003\u3000", false},       // no-break, em and ideographic spaces
		{"\u200b\ufeff\u2060\u00ad", false}, // format characters
		{"\u2028\u2029", false},             // line and paragraph separators
		{"\ue000", false},                   // private use
		{"\x00\x1f\x7f\u0085\u009f", false}, // controls
		{"a", true},                         // letter
		{"\u200b\u0301", true},              // a combining mark
		{"7", true},                         // number
		{"\u00a0.", true},                   // punctuation
		{"\u200b\u20ac", true},              // symbol (€)
		{"Genève", true},                    // letters beyond ASCII
		{"\u200bMON-CP\u200b", true},        // invisible around visible
		{"\U0001f4dc", true},                // a symbol outside the BMP (scroll)
	} {
		assert.Equal(t, tt.then, visible(tt.given), "visible(%+q)", tt.given)
	}
}

func TestTextProblem(t *testing.T) {
	for _, tt := range []struct {
		given, then string
	}{
		{"", ""},
		{"MON-CP Sweden; Genève \u200b\u2028 §4 \U0001f4dc", ""},
		{"\ufffd", ""}, // the replacement character itself is text
		{"a\x00", "contains the control character U+0000"},
		{"a\tb", "contains the control character U+0009"},
		{"a\x7f", "contains the control character U+007F"},
		{"a\u0085", "contains the control character U+0085"},
		{"a\u009f", "contains the control character U+009F"},
		{"ab\xff", "invalid UTF-8 at byte 3"},
		{"\xe2\x82", "invalid UTF-8 at byte 1"},     // a truncated €
		{"\xed\xa0\x80", "invalid UTF-8 at byte 1"}, // an encoded surrogate
		{"\xc0\xaf", "invalid UTF-8 at byte 1"},     // an overlong '/'
		{"a\xff\x00", "invalid UTF-8 at byte 2"},    // the first problem
	} {
		assert.Equal(t, tt.then, textProblem(tt.given), "textProblem(%+q)", tt.given)
	}
}
