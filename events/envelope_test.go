package events

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// problemsOf returns the field errors an error of Decode or ReadAll carries.
func problemsOf(err error) []*FieldError {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie.Problems
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return nil
}

func TestDecodeRejects(t *testing.T) {
	const retractionID = "9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70"
	tests := []struct {
		name   string
		given  string // one line of input
		field  string // then: the field of the (first) problem
		reason string // and a fragment of its reason
	}{
		// The envelope.
		{"unknown envelope field",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden","country":"Sweden"}`,
			"country", "is not a field of an event"},
		{"envelope field in another case",
			`{"Type":"signed","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"Type", "is not a field of an event"},
		{"missing type",
			`{"state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"type", "is required"},
		{"unknown type",
			`{"type":"ratified","state":"SWE","date":"2012-04-23","source":"MON-CP Sweden"}`,
			"type", `"ratified" is not an event type`},
		{"type not a string",
			`{"type":7,"state":"SWE","date":"2012-04-23","source":"MON-CP Sweden"}`,
			"type", "must be a string"},
		{"missing state for a State event",
			`{"type":"signed","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"state", "is required for signed"},
		{"empty state for a State event",
			`{"type":"signed","state":"","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"state", "is required for signed"},
		{"state present on meeting-held",
			`{"type":"meeting-held","state":"NOR","date":"2012-09-14","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"state", "must be absent: meeting-held is a Convention-wide event"},
		{"lowercase state code",
			`{"type":"signed","state":"swe","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"state", `"swe" is not the ISO 3166-1 alpha-3 code of a State`},
		{"unknown state code",
			`{"type":"signed","state":"XSW","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"state", `"XSW" is not the ISO 3166-1 alpha-3 code`},
		{"state given by name",
			`{"type":"signed","state":"Sweden","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"state", `"Sweden" is not the ISO 3166-1 alpha-3 code`},
		{"state not a string",
			`{"type":"signed","state":752,"date":"2008-12-03","source":"MON-CP Sweden"}`,
			"state", "must be a string"},
		{"date without leading zeros",
			`{"type":"deposited","state":"SWE","date":"2012-4-23","data":{"instrument":"ratification"},"source":"UN depositary notification"}`,
			"date", `"2012-4-23" is not a date of the form YYYY-MM-DD`},
		{"date day first",
			`{"type":"deposited","state":"SWE","date":"23/04/2012","data":{"instrument":"ratification"},"source":"UN depositary notification"}`,
			"date", `"23/04/2012" is not a date of the form YYYY-MM-DD`},
		{"date with a time",
			`{"type":"deposited","state":"SWE","date":"2012-04-23T00:00:00Z","data":{"instrument":"ratification"},"source":"UN depositary notification"}`,
			"date", "is not a date of the form YYYY-MM-DD"},
		{"impossible date",
			`{"type":"signed","state":"SWE","date":"2011-02-30","source":"MON-CP Sweden"}`,
			"date", `"2011-02-30" is not a valid date`},
		{"date before the adoption",
			`{"type":"signed","state":"SWE","date":"2008-05-29","source":"MON-CP Sweden"}`,
			"date", "2008-05-29 is before the Convention's adoption on 2008-05-30"},
		{"missing date",
			`{"type":"signed","state":"SWE","source":"MON-CP Sweden"}`,
			"date", "is required (YYYY-MM-DD)"},
		{"date as number",
			`{"type":"signed","state":"SWE","date":20081203,"source":"MON-CP Sweden"}`,
			"date", "must be a string"},
		{"missing source",
			`{"type":"signed","state":"SWE","date":"2008-12-03"}`,
			"source", "is required"},
		{"blank source",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":"   "}`,
			"source", "has no visible character: every fact needs a source a reader can check"},
		{"source of a zero width space",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":"\u200b"}`,
			"source", "has no visible character"},
		{"source of format characters and spaces",
			"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"\ufeff \u2060\u00a0\u3000\"}",
			"source", "has no visible character"},
		{"source of a tab",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":" \t"}`,
			"source", "contains the control character U+0009"},
		{"source with a NUL",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP\u0000 Sweden"}`,
			"source", "contains the control character U+0000"},
		{"source with a raw DEL",
			"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"MON-CP\x7f Sweden\"}",
			"source", "contains the control character U+007F"},
		{"source with a raw C1 control",
			"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"MON-CP\u0085 Sweden\"}",
			"source", "contains the control character U+0085"},
		{"source with a line feed",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP\nSweden"}`,
			"source", "contains the control character U+000A"},
		{"source with invalid UTF-8",
			"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"MON-CP Sweden \xff\"}",
			"source", "invalid UTF-8 at byte 76"},
		{"source of invalid UTF-8 only",
			"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"\xc3\"}",
			"source", "invalid UTF-8 at byte 62"},
		{"source with a lone surrogate escape",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP \ud800 Sweden"}`,
			"source", `the escape \ud800 at byte 69 is half of a surrogate pair`},
		{"source with a reversed surrogate pair",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP \udc00\ud800"}`,
			"source", `the escape \udc00 at byte 69`},
		{"invalid UTF-8 outside any string",
			"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\xff\"source\":\"MON-CP Sweden\"}",
			"", "invalid UTF-8 at byte 52"},
		{"invalid UTF-8 after the object",
			"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"MON-CP Sweden\"}\xfe",
			"", "invalid UTF-8 at byte 77"},
		{"invalid UTF-8 in a key",
			"{\"type\":\"signed\",\"state\":\"SWE\",\"date\":\"2008-12-03\",\"source\":\"MON-CP Sweden\",\"x\xff\":1}",
			"x\uFFFD", "invalid UTF-8 at byte 79 in the key"},
		{"recorded with a control character",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden","recorded":"2026-01-01T00:00:00Z\u0007"}`,
			"recorded", "contains the control character U+0007"},
		{"state given twice",
			`{"type":"signed","state":"DEU","date":"2008-12-03","source":"MON-CP Sweden","state":"ITA"}`,
			"state", "given twice"},
		{"state given twice, once escaped",
			`{"type":"signed","state":"DEU","date":"2008-12-03","source":"MON-CP Sweden","st\u0061te":"DEU"}`,
			"state", "given twice"},
		{"type given thrice",
			`{"type":"signed","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden","type":"signed"}`,
			"type", "given twice"},
		{"source not a string",
			`{"type":"signed","state":"SWE","date":"2008-12-03","source":["MON-CP"]}`,
			"source", "must be a string"},
		{"bad id",
			`{"id":"not-a-uuid","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"id", `"not-a-uuid" is not a UUID`},
		{"id in braces",
			`{"id":"{9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70}","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"id", "is not a UUID"},
		{"id without dashes",
			`{"id":"9b2f4d7e3c1a4e8ba6d52f0e1c9b8a70","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"id", "is not a UUID"},
		{"nil uuid",
			`{"id":"00000000-0000-0000-0000-000000000000","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"id", "must not be the nil UUID: omit the id to derive it from the content, or give a random (version 4) id"},
		// The id Sweden's ratification derives to (ExampleDecode), taken
		// for another fact.
		{"a derived id of other content",
			`{"id":"aea78634-fad9-5936-8b96-c6f7ea1324ec","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"id", "aea78634-fad9-5936-8b96-c6f7ea1324ec is a name-based (version 5) id, but not the one derived from this event's content: omit the id to derive it from the content, or give a random (version 4) id"},
		{"a version 5 id of another namespace",
			`{"id":"886313e1-3b8a-5372-9b90-0c9aee199e5d","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"id", "is a name-based (version 5) id, but not the one derived"},
		{"id not a string",
			`{"id":12,"type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`,
			"id", "must be a string"},

		// The data object.
		{"unknown data field",
			`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification","depositary":"UN"},"source":"UN depositary notification"}`,
			"data.depositary", "is not a field of this event type"},
		{"data field in another case",
			`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"Instrument":"ratification"},"source":"UN depositary notification"}`,
			"data.Instrument", "is not a field of this event type"},
		{"data on a type without data",
			`{"type":"signed","state":"SWE","date":"2008-12-03","data":{"instrument":"ratification"},"source":"MON-CP Sweden"}`,
			"data.instrument", "it carries no data"},
		{"data field given twice",
			`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification","instrument":"accession"},"source":"UN depositary notification"}`,
			"data.instrument", "given twice"},
		{"data given twice",
			`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"UN depositary notification","data":{"instrument":"ratification"}}`,
			"data", "given twice"},
		{"data that is not an object",
			`{"type":"deposited","state":"SWE","date":"2012-04-23","data":"ratification","source":"UN depositary notification"}`,
			"data", "must be an object"},
		{"data that is a list",
			`{"type":"stockpile-declared","state":"SWE","date":"2012-04-23","data":[1385,27050],"source":"MON-CP"}`,
			"data", "must be an object"},
		{"data that is not an object on a type without data",
			`{"type":"signed","state":"SWE","date":"2008-12-03","data":true,"source":"MON-CP Sweden"}`,
			"data", "must be an object"},
		{"instrument missing",
			`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{},"source":"UN depositary notification"}`,
			"data.instrument", "is required"},
		{"instrument invalid",
			`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"signature"},"source":"UN depositary notification"}`,
			"data.instrument", `"signature" is not one of ratification, acceptance, approval, accession`},
		{"instrument in upper case",
			`{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"Ratification"},"source":"UN depositary notification"}`,
			"data.instrument", `"Ratification" is not one of`},
		{"munitions as string",
			`{"type":"stockpile-declared","state":"MDA","date":"2010-02-16","data":{"munitions":"1385"},"source":"MON-CP Moldova"}`,
			"data.munitions", "must be an integer"},
		{"munitions as fraction",
			`{"type":"stockpile-declared","state":"MDA","date":"2010-02-16","data":{"munitions":1385.5},"source":"MON-CP Moldova"}`,
			"data.munitions", "must be an integer"},
		{"munitions beyond int64",
			`{"type":"stockpile-declared","state":"MDA","date":"2010-02-16","data":{"munitions":9223372036854775808},"source":"MON-CP Moldova"}`,
			"data.munitions", "must be an integer"},
		{"negative munitions",
			`{"type":"stockpile-declared","state":"MDA","date":"2010-02-16","data":{"munitions":-1},"source":"MON-CP Moldova"}`,
			"data.munitions", "must not be negative"},
		{"negative submunitions retained",
			`{"type":"retention-declared","state":"SWE","date":"2012-09-14","data":{"submunitions":-3},"source":"SEED fn 37"}`,
			"data.submunitions", "must not be negative"},
		{"stockpile-destroyed missing counts",
			`{"type":"stockpile-destroyed","state":"MDA","date":"2010-07-29","data":{"munitions":1385},"source":"MON-CP Moldova"}`,
			"data.submunitions", "is required"},
		{"hostilities_ended after date",
			`{"type":"contamination-declared","state":"LAO","date":"2010-08-01","data":{"hostilities_ended":"2010-08-02"},"source":"SEED fn 43"}`,
			"data.hostilities_ended", "is after the event's date"},
		{"hostilities_ended as number",
			`{"type":"contamination-declared","state":"LAO","date":"2010-08-01","data":{"hostilities_ended":1975},"source":"SEED fn 43"}`,
			"data.hostilities_ended", "must be a date string (YYYY-MM-DD)"},
		{"hostilities_ended impossible",
			`{"type":"contamination-declared","state":"LAO","date":"2010-08-01","data":{"hostilities_ended":"2009-02-29"},"source":"SEED fn 43"}`,
			"data.hostilities_ended", `"2009-02-29" is not a valid date`},
		{"report kind missing",
			`{"type":"report-submitted","state":"LAO","date":"2011-01-25","data":{},"source":"MON-CP Lao PDR 2012"}`,
			"data.kind", "is required (initial or annual)"},
		{"report kind invalid",
			`{"type":"report-submitted","state":"LAO","date":"2011-01-25","data":{"kind":"final"},"source":"MON-CP Lao PDR 2012"}`,
			"data.kind", `"final" is not one of initial, annual`},
		{"annual without year",
			`{"type":"report-submitted","state":"LAO","date":"2012-03-22","data":{"kind":"annual"},"source":"MON-CP Lao PDR Sep 2012"}`,
			"data.year", "is required for an annual report"},
		{"initial with year",
			`{"type":"report-submitted","state":"LAO","date":"2011-01-25","data":{"kind":"initial","year":2010},"source":"MON-CP Lao PDR 2012"}`,
			"data.year", "is only given for an annual report"},
		{"annual year after the submission year",
			`{"type":"report-submitted","state":"LAO","date":"2012-03-22","data":{"kind":"annual","year":2013},"source":"MON-CP Lao PDR Sep 2012"}`,
			"data.year", "2013 is after the year the report was submitted"},
		{"annual year before the adoption",
			`{"type":"report-submitted","state":"LAO","date":"2012-03-22","data":{"kind":"annual","year":2007},"source":"MON-CP Lao PDR Sep 2012"}`,
			"data.year", "2007 is before the Convention's adoption"},
		{"year as string",
			`{"type":"report-submitted","state":"LAO","date":"2012-03-22","data":{"kind":"annual","year":"2011"},"source":"MON-CP Lao PDR Sep 2012"}`,
			"data.year", "must be an integer"},
		{"legislation status invalid",
			`{"type":"legislation-status","state":"SWE","date":"2012-04-04","data":{"status":"enacted"},"source":"MON-CP Sweden"}`,
			"data.status", `"enacted" is not one of in-progress, adopted, deemed-adequate`},
		{"legislation status missing",
			`{"type":"legislation-status","state":"SWE","date":"2012-04-04","source":"MON-CP Sweden"}`,
			"data.status", "is required"},
		{"extension article 5",
			`{"type":"extension-granted","state":"CHL","date":"2021-09-21","data":{"article":5,"until":"2022-06-01"},"source":"rules.md"}`,
			"data.article", "must be 3 or 4"},
		{"extension article missing",
			`{"type":"extension-granted","state":"CHL","date":"2021-09-21","data":{"until":"2022-06-01"},"source":"rules.md"}`,
			"data.article", "must be 3 or 4"},
		{"extension until before date",
			`{"type":"extension-granted","state":"CHL","date":"2021-09-21","data":{"article":4,"until":"2021-06-01"},"source":"rules.md"}`,
			"data.until", "must be after the date the extension was granted"},
		{"extension until on the date",
			`{"type":"extension-granted","state":"CHL","date":"2021-09-21","data":{"article":4,"until":"2021-09-21"},"source":"rules.md"}`,
			"data.until", "must be after the date the extension was granted"},
		{"extension until missing",
			`{"type":"extension-granted","state":"CHL","date":"2021-09-21","data":{"article":4},"source":"rules.md"}`,
			"data.until", "is required"},
		{"extension until in another layout",
			`{"type":"extension-granted","state":"CHL","date":"2021-09-21","data":{"article":4,"until":"1 Jun 2022"},"source":"rules.md"}`,
			"data.until", `"1 Jun 2022" is not a date of the form YYYY-MM-DD`},
		{"assistance area empty",
			`{"type":"assistance-requested","state":"LAO","date":"2012-09-14","data":{"areas":["clearance",""]},"source":"SEED fn 107"}`,
			"data.areas[1]", "must not be empty"},
		{"assistance area blank",
			`{"type":"assistance-requested","state":"LAO","date":"2012-09-14","data":{"areas":["clearance"," "]},"source":"SEED fn 107"}`,
			"data.areas[1]", "has no visible character"},
		{"assistance area with a control character",
			`{"type":"assistance-requested","state":"LAO","date":"2012-09-14","data":{"areas":["clearance\u001b[31m"]},"source":"SEED fn 107"}`,
			"data.areas[0]", "contains the control character U+001B"},
		{"assistance area with invalid UTF-8",
			"{\"type\":\"assistance-requested\",\"state\":\"LAO\",\"date\":\"2012-09-14\",\"data\":{\"areas\":[\"clearance\",\"victim\xe2\x80assistance\"]},\"source\":\"SEED fn 107\"}",
			"data.areas[1]", "invalid UTF-8 at byte 102"},
		{"assistance areas not strings",
			`{"type":"assistance-requested","state":"LAO","date":"2012-09-14","data":{"areas":["clearance",7]},"source":"SEED fn 107"}`,
			"data.areas", "must be a list of strings"},
		{"assistance areas a string",
			`{"type":"assistance-provided","state":"SWE","date":"2012-09-14","data":{"areas":"stockpile-destruction"},"source":"SEED fn 111"}`,
			"data.areas", "must be a list of strings"},
		{"meeting end not the date",
			`{"type":"meeting-held","date":"2012-09-11","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"date", "must equal data.end"},
		{"meeting start after end",
			`{"type":"meeting-held","date":"2012-09-11","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-14","end":"2012-09-11"},"source":"SEED para 8"}`,
			"data.start", "is after data.end"},
		{"meeting start missing",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":"Oslo","end":"2012-09-14"},"source":"SEED para 8"}`,
			"data.start", "is required"},
		{"meeting end missing",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-11"},"source":"SEED para 8"}`,
			"data.end", "is required"},
		{"meeting code in lower case",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3msp","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"data.code", `"3msp" is not a meeting code`},
		{"meeting code with a space",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3 MSP","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"data.code", "is not a meeting code"},
		{"meeting code starting with a dash",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"-3MSP","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"data.code", "is not a meeting code"},
		{"meeting with a blank name",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"\u200b\u200b","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"data.name", "has no visible character"},
		{"meeting city with a control character",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":"Oslo\u0000","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"data.city", "contains the control character U+0000"},
		{"meeting city blank",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":" ","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"data.city", "has no visible character"},
		{"meeting name with invalid UTF-8",
			"{\"type\":\"meeting-held\",\"date\":\"2012-09-14\",\"data\":{\"code\":\"3MSP\",\"name\":\"Third Meeting\xa0\",\"city\":\"Oslo\",\"start\":\"2012-09-11\",\"end\":\"2012-09-14\"},\"source\":\"SEED para 8\"}",
			"data.name", "invalid UTF-8 at byte 87"},
		{"meeting without name",
			`{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8"}`,
			"data.name", "is required"},
		{"retraction without event",
			`{"type":"retracted","state":"BDI","date":"2009-12-25","data":{"reason":"misprint"},"source":"states.csv BDI"}`,
			"data.event", "is required (the id of the retracted event)"},
		{"retraction without reason",
			`{"type":"retracted","state":"BDI","date":"2009-12-25","data":{"event":"c1aba441-e723-5881-970b-8e8c67a2237a"},"source":"states.csv BDI"}`,
			"data.reason", "is required"},
		{"retraction with a blank reason",
			`{"type":"retracted","state":"BDI","date":"2009-12-25","data":{"event":"c1aba441-e723-5881-970b-8e8c67a2237a","reason":"  "},"source":"states.csv BDI"}`,
			"data.reason", "has no visible character"},
		{"retraction with a control character in its reason",
			`{"type":"retracted","state":"BDI","date":"2009-12-25","data":{"event":"c1aba441-e723-5881-970b-8e8c67a2237a","reason":"misprint\r"},"source":"states.csv BDI"}`,
			"data.reason", "contains the control character U+000D"},
		{"retraction naming its event twice",
			`{"type":"retracted","state":"BDI","date":"2009-12-25","data":{"event":"c1aba441-e723-5881-970b-8e8c67a2237a","reason":"misprint","event":"c1aba441-e723-5881-970b-8e8c67a2237b"},"source":"states.csv BDI"}`,
			"data.event", "given twice"},
		{"retraction naming itself",
			`{"id":"` + retractionID + `","type":"retracted","state":"BDI","date":"2009-12-25","data":{"event":"` + retractionID + `","reason":"misprint"},"source":"states.csv BDI"}`,
			"data.event", "names the retraction itself"},
		{"retraction of a malformed id",
			`{"type":"retracted","state":"BDI","date":"2009-12-25","data":{"event":"c1aba441","reason":"misprint"},"source":"states.csv BDI"}`,
			"data.event", "must be a UUID string"},
		{"retraction event as number",
			`{"type":"retracted","state":"BDI","date":"2009-12-25","data":{"event":42,"reason":"misprint"},"source":"states.csv BDI"}`,
			"data.event", "must be a UUID string"},

		// Not an event at all.
		{"list", `["signed","SWE","2008-12-03"]`, "", "not a JSON object but a JSON array"},
		{"string", `"signed"`, "", "not a JSON object but a JSON string"},
		{"null", `null`, "", "not a JSON object"},
		{"truncated", `{"type":"signed","state":"SWE"`, "", "not a JSON object: unexpected end of JSON input"},
		{"two objects", `{"type":"signed"} {"type":"signed"}`, "", "not a JSON object: invalid character '{' after top-level value"},
		{"nested too deep", `{"type":"signed","data":` + strings.Repeat("[", 200_000), "", "exceeded max depth"},
		{"empty", ``, "", "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// when
			e, err := Decode([]byte(tt.given))
			// then
			require.Error(t, err, "Decode(%s) = %+v, want an error on %q", tt.given, e, tt.field)
			assert.Equal(t, Envelope{}, e, "no event on error")
			assert.ErrorIs(t, err, ErrInvalid, "Decode(%s)", tt.given)
			var fe *FieldError
			require.ErrorAs(t, err, &fe, "Decode(%s) = %v", tt.given, err)
			assert.Equal(t, tt.field, fe.Field, "field of %v for %s", err, tt.given)
			assert.Contains(t, fe.Reason, tt.reason, "reason of %v for %s", err, tt.given)
			assert.Zero(t, fe.Line, "Decode has no line numbers")
			assert.Len(t, problemsOf(err), 1, "Decode(%s) reports one problem, got %v", tt.given, err)
		})
	}
}

// TestDecodeReportsEveryProblem: given a line with many faults, when it is
// decoded, then each fault is reported once, in field order.
func TestDecodeReportsEveryProblem(t *testing.T) {
	line := `{"type":"deposited","date":"2008-01-01","source":"","extra":1,"note":"x","data":{"instrument":"signature"}}`
	_, err := Decode([]byte(line))
	require.Error(t, err)
	var ie *InputError
	require.ErrorAs(t, err, &ie, "several problems are an *InputError: %v", err)
	var got []string
	for _, p := range ie.Problems {
		got = append(got, p.Field)
	}
	assert.Equal(t, []string{"extra", "note", "state", "date", "source", "data.instrument"}, got, "fields of %v", err)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.True(t, strings.HasPrefix(err.Error(), "6 problems in input:\n  extra: "), "message %q", err.Error())

	// Both missing counts of a destruction are named.
	_, err = Decode([]byte(`{"type":"stockpile-destroyed","state":"MDA","date":"2010-07-29","source":"MON-CP Moldova"}`))
	require.Error(t, err)
	assert.Equal(t, "2 problems in input:\n  data.munitions: is required\n  data.submunitions: is required", err.Error())

	// A badly typed field is reported once, not again as missing.
	_, err = Decode([]byte(`{"type":"signed","state":"SWE","date":20081203,"source":1}`))
	require.Error(t, err)
	assert.Equal(t, "2 problems in input:\n  date: must be a string\n  source: must be a string", err.Error())

	// Every unknown data field is named, in order.
	_, err = Decode([]byte(`{"type":"signed","state":"SWE","date":"2008-12-03","source":"s","data":{"b":1,"a":2}}`))
	require.Error(t, err)
	assert.Equal(t, "2 problems in input:\n"+
		"  data.a: is not a field of this event type (it carries no data)\n"+
		"  data.b: is not a field of this event type (it carries no data)", err.Error())
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		given string
		then  func(t *testing.T, e Envelope)
	}{
		{"signed with empty data",
			`{"type":"signed","state":"SWE","date":"2008-12-03","data":{},"source":"MON-CP Sweden"}`,
			func(t *testing.T, e Envelope) { assert.Equal(t, Empty{}, e.Payload) }},
		{"signed with null data",
			`{"type":"signed","state":"SWE","date":"2008-12-03","data":null,"source":"MON-CP Sweden"}`,
			func(t *testing.T, e Envelope) { assert.Nil(t, e.Data()) }},
		{"meeting with null state and empty city",
			`{"type":"meeting-held","state":null,"date":"2011-06-30","data":{"code":"IS2011","name":"Intersessional meetings 2011","city":"","start":"2011-06-27","end":"2011-06-30"},"source":"meetings_found.csv IS2011"}`,
			func(t *testing.T, e Envelope) {
				assert.Equal(t, "", e.State)
				assert.Equal(t, &Meeting{Code: "IS2011", Name: "Intersessional meetings 2011", Start: MustDate("2011-06-27"), End: MustDate("2011-06-30")}, e.Payload)
			}},
		{"meeting starting before the adoption",
			`{"type":"meeting-held","date":"2008-05-30","data":{"code":"DUBLIN-DC","name":"Dublin Diplomatic Conference on Cluster Munitions","city":"Dublin","start":"2008-05-19","end":"2008-05-30"},"source":"meetings.csv DUBLIN-DC"}`,
			func(t *testing.T, e Envelope) { assert.Equal(t, MustDate("2008-05-19"), e.Payload.(*Meeting).Start) }},
		{"retraction of a Convention-wide event has no state",
			`{"type":"retracted","date":"2012-09-14","data":{"event":"65d3f747-76ea-57ba-b39d-43e819bf76b5","reason":"duplicate"},"source":"s"}`,
			func(t *testing.T, e Envelope) { assert.Equal(t, ConventionScope, e.Scope()) }},
		{"dated on the adoption",
			`{"type":"legislation-status","state":"AUT","date":"2008-05-30","data":{"status":"adopted"},"source":"MON-CP Austria 2012/2014"}`,
			func(t *testing.T, e Envelope) { assert.Equal(t, Adoption, e.Date) }},
		{"hostilities ended before 1970",
			`{"type":"contamination-declared","state":"LAO","date":"2010-08-01","data":{"hostilities_ended":"1969-12-31"},"source":"s"}`,
			func(t *testing.T, e Envelope) {
				assert.Equal(t, &Contamination{HostilitiesEnded: MakeDate(1969, 12, 31)}, e.Payload)
				assert.JSONEq(t, `{"hostilities_ended":"1969-12-31"}`, string(e.Data()))
			}},
		{"stockpile declared without counts",
			`{"type":"stockpile-declared","state":"SWE","date":"2012-04-23","source":"SEED fn 22"}`,
			func(t *testing.T, e Envelope) { assert.Equal(t, &Quantities{}, e.Payload) }},
		{"zero counts",
			`{"type":"stockpile-destroyed","state":"SWE","date":"2012-04-23","data":{"munitions":0,"submunitions":0},"source":"s"}`,
			func(t *testing.T, e Envelope) { assert.JSONEq(t, `{"munitions":0,"submunitions":0}`, string(e.Data())) }},
		{"empty list of areas is no areas",
			`{"type":"assistance-requested","state":"GNB","date":"2012-09-14","data":{"areas":[]},"source":"SEED fn 99"}`,
			func(t *testing.T, e Envelope) { assert.Equal(t, &Assistance{}, e.Payload) }},
		{"upper-case id",
			`{"id":"9B2F4D7E-3C1A-4E8B-A6D5-2F0E1C9B8A70","type":"signed","state":"SWE","date":"2008-12-03","source":"s"}`,
			func(t *testing.T, e Envelope) {
				assert.Equal(t, uuid.MustParse("9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70"), e.ID)
			}},
		{"seq and recorded of an export are ignored",
			`{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"signed","state":"SWE","date":"2008-12-03","source":"s","seq":17,"recorded":"2026-01-01T00:00:00Z"}`,
			func(t *testing.T, e Envelope) {
				assert.Zero(t, e.Seq)
				assert.True(t, e.Recorded.IsZero())
			}},
		{"surrounding white space",
			" \t{\"type\":\"signed\", \"state\":\"SWE\",\n\"date\":\"2008-12-03\",\"source\":\"s\"}  ",
			func(t *testing.T, e Envelope) { assert.Equal(t, Signed, e.Type) }},
		{"escaped characters in strings",
			`{"type":"extension-granted","state":"CHL","date":"2021-09-21","data":{"article":4,"until":"\u0032022-06-01"},"source":"rules.md \u00a74"}`,
			func(t *testing.T, e Envelope) {
				assert.Equal(t, MustDate("2022-06-01"), e.Payload.(*Extension).Until)
				assert.Equal(t, "rules.md §4", e.Source)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.given))
			require.NoError(t, err, "Decode(%s)", tt.given)
			assert.NotEqual(t, uuid.Nil, e.ID, "every decoded event has an id")
			tt.then(t, e)
		})
	}
}

// TestDecodeDerivesMissingID: given a line without id, the id is the
// DeriveID of its content, whatever the order of keys and the spacing.
func TestDecodeDerivesMissingID(t *testing.T) {
	a, err := Decode([]byte(`{"type":"report-submitted","state":"LAO","date":"2012-03-22","data":{"kind":"annual","year":2011},"source":"MON-CP Lao PDR Sep 2012"}`))
	require.NoError(t, err)
	b, err := Decode([]byte(`{ "source": "MON-CP Lao PDR Sep 2012", "data": { "year": 2011, "kind": "annual" }, "date": "2012-03-22", "state": "LAO", "type": "report-submitted" }`))
	require.NoError(t, err)
	want := DeriveID(ReportSubmitted, "LAO", MustDate("2012-03-22"), []byte(`{"kind":"annual","year":2011}`), "MON-CP Lao PDR Sep 2012")
	assert.Equal(t, want, a.ID)
	assert.Equal(t, a, b, "the same fact written two ways")
}

func TestDeriveID(t *testing.T) {
	const source = "UN depositary notification; SEED fn 138 (Sweden 23/04/2012)"
	data := []byte(`{"instrument":"ratification"}`)
	date := MustDate("2012-04-23")
	base := DeriveID(Deposited, "SWE", date, data, source)

	t.Run("same content, same id", func(t *testing.T) {
		assert.Equal(t, base, DeriveID(Deposited, "SWE", date, append([]byte(nil), data...), source))
	})

	t.Run("fixed id of a fixed event", func(t *testing.T) {
		// Guards the namespace and the canonical form: a change here gives
		// every imported fact a new identity.
		assert.Equal(t, "aea78634-fad9-5936-8b96-c6f7ea1324ec", base.String())
		assert.Equal(t, uuid.Version(5), base.Version())
		assert.Equal(t, uuid.RFC4122, base.Variant())
		assert.Equal(t, "77c2912d-1845-5060-9d6d-0fc15a76feb4",
			DeriveID(Signed, "SWE", MustDate("2008-12-03"), nil, "MON-CP Sweden; CMC 2012-04-24; government.se (states.csv: signed 3 Dec 2008)").String())
	})

	t.Run("any change of content, another id", func(t *testing.T) {
		variants := map[string]uuid.UUID{
			"base":   base,
			"type":   DeriveID(WithdrawalNotified, "SWE", date, data, source),
			"state":  DeriveID(Deposited, "NOR", date, data, source),
			"date":   DeriveID(Deposited, "SWE", date+1, data, source),
			"data":   DeriveID(Deposited, "SWE", date, []byte(`{"instrument":"acceptance"}`), source),
			"nodata": DeriveID(Deposited, "SWE", date, nil, source),
			"source": DeriveID(Deposited, "SWE", date, data, source+"."),
			// The separators keep fields apart: moving a byte from one
			// field to the next changes the id.
			"shifted": DeriveID(Deposited, "SW", date, append([]byte("E"), data...), source),
		}
		seen := map[uuid.UUID]string{}
		for name, id := range variants {
			if other, dup := seen[id]; dup {
				t.Errorf("variants %q and %q have the same id %s", name, other, id)
			}
			seen[id] = name
		}
	})

	t.Run("explicit ids are kept", func(t *testing.T) {
		id := uuid.MustParse("9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70")
		e, err := New(id, Deposited, "SWE", date, &Deposit{Instrument: Ratification}, source)
		require.NoError(t, err)
		assert.Equal(t, id, e.ID, "New")
		d, err := Decode([]byte(`{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"` + source + `"}`))
		require.NoError(t, err)
		assert.Equal(t, id, d.ID, "Decode")
		assert.Equal(t, e, d)
	})
}

func TestNew(t *testing.T) {
	date := MustDate("2012-09-14")

	t.Run("derives the id Decode derives", func(t *testing.T) {
		// A fact recorded through New and the same fact imported from a
		// line must be one event: the same payload value and the same id.
		for _, tt := range []struct {
			typ  Type
			p    Payload
			line string
		}{
			{AssistanceRequested, nil, `{"type":"assistance-requested","state":"GNB","date":"2012-09-14","source":"SEED fn 99"}`},
			{AssistanceRequested, &Assistance{Areas: []string{}}, `{"type":"assistance-requested","state":"GNB","date":"2012-09-14","data":{"areas":[]},"source":"SEED fn 99"}`},
			{StockpileDeclared, nil, `{"type":"stockpile-declared","state":"GNB","date":"2012-09-14","source":"SEED fn 99"}`},
			{RetentionDeclared, Empty{}, `{"type":"retention-declared","state":"GNB","date":"2012-09-14","data":{},"source":"SEED fn 99"}`},
			{ContaminationDeclared, nil, `{"type":"contamination-declared","state":"GNB","date":"2012-09-14","data":null,"source":"SEED fn 99"}`},
			{VictimsDeclared, nil, `{"type":"victims-declared","state":"GNB","date":"2012-09-14","data":{},"source":"SEED fn 99"}`},
		} {
			e, err := New(uuid.Nil, tt.typ, "GNB", date, tt.p, "SEED fn 99")
			require.NoError(t, err, "New(%s, %#v)", tt.typ, tt.p)
			d, err := Decode([]byte(tt.line))
			require.NoError(t, err, "Decode(%s)", tt.line)
			assert.Equal(t, d, e, "New(%s, %#v) and Decode(%s)", tt.typ, tt.p, tt.line)
		}
	})

	t.Run("rejects the payload of another type", func(t *testing.T) {
		for _, tt := range []struct {
			typ   Type
			p     Payload
			field string
		}{
			{Deposited, &Quantities{Munitions: count(1)}, "data.munitions"},
			{Deposited, &Quantities{}, "data.instrument"},
			{Signed, &Deposit{Instrument: Ratification}, "data.instrument"},
			{ReportSubmitted, &Legislation{Status: LegislationAdopted}, "data.status"},
			{MeetingHeld, &Retraction{Event: uuid.New(), Reason: "x"}, "data.event"},
		} {
			_, err := New(uuid.Nil, tt.typ, stateFor(tt.typ), date, tt.p, "s")
			require.Error(t, err, "New(%s, %#v)", tt.typ, tt.p)
			assert.ErrorIs(t, err, ErrInvalid)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field, "New(%s, %#v): %v", tt.typ, tt.p, err)
		}
	})

	t.Run("checks the payload", func(t *testing.T) {
		_, err := New(uuid.Nil, StockpileDestroyed, "MDA", date, &Quantities{Munitions: count(1385)}, "s")
		var fe *FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "data.submunitions", fe.Field)
		assert.Equal(t, "is required", fe.Reason)

		_, err = New(uuid.Nil, ExtensionGranted, "CHL", date, &Extension{Article: 4, Until: date}, "s")
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "data.until", fe.Field)
	})

	t.Run("checks the envelope", func(t *testing.T) {
		_, err := New(uuid.Nil, Signed, "Sweden", 0, nil, "")
		require.Error(t, err)
		var got []string
		for _, p := range problemsOf(err) {
			got = append(got, p.Field)
		}
		assert.Equal(t, []string{"state", "date", "source"}, got, "New: %v", err)

		_, err = New(uuid.Nil, Type("ratified"), "SWE", date, nil, "s")
		var fe *FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "type", fe.Field)
	})
}

// TestNewChecksWhatDecodeChecks: given the parts of an event that no line
// could carry, when New builds it, then it refuses it as Decode would.
func TestNewChecksWhatDecodeChecks(t *testing.T) {
	date := MustDate("2012-09-14")
	meeting := func(name string) *Meeting {
		return &Meeting{Code: "3MSP", Name: name, City: "Oslo", Start: MustDate("2012-09-11"), End: date}
	}
	other := DeriveID(Deposited, "SWE", MustDate("2012-04-23"), []byte(`{"instrument":"ratification"}`), "UNTC")
	tests := []struct {
		name   string
		id     uuid.UUID
		typ    Type
		p      Payload
		source string
		field  string // then
		reason string
	}{
		{"source with invalid UTF-8", uuid.Nil, Signed, nil, "MON-CP \xff", "source", "invalid UTF-8 at byte 8"},
		{"source with a control character", uuid.Nil, Signed, nil, "MON-CP\x00", "source", "contains the control character U+0000"},
		{"source of a zero width space", uuid.Nil, Signed, nil, "\u200b", "source", "has no visible character"},
		{"meeting name with invalid UTF-8", uuid.Nil, MeetingHeld, meeting("Third\xc3"), "s", "data.name", "invalid UTF-8 at byte 6"},
		{"meeting name of a word joiner", uuid.Nil, MeetingHeld, meeting("\u2060"), "s", "data.name", "has no visible character"},
		{"retraction reason with an escape sequence", uuid.Nil, Retracted, &Retraction{Event: other, Reason: "\x1b[2J"}, "s", "data.reason", "contains the control character U+001B"},
		{"assistance area with invalid UTF-8", uuid.Nil, AssistanceProvided, &Assistance{Areas: []string{"clearance", "a\xffb"}}, "s", "data.areas[1]", "invalid UTF-8 at byte 2"},
		{"the derived id of another fact", other, Signed, nil, "s", "id", other.String() + " is a name-based (version 5) id, but not the one derived from this event's content: omit the id"},
		{"a version 5 id of another namespace", uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://example.org/1")), Signed, nil, "s", "id", "is a name-based (version 5) id"},
		{"a source too long to store", uuid.Nil, Signed, nil, strings.Repeat("x", MaxStoredBytes), "", "once stored; at most 1044480"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.id, tt.typ, stateFor(tt.typ), date, tt.p, tt.source)
			require.Error(t, err, "New = %+v", e)
			assert.ErrorIs(t, err, ErrInvalid)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field, "%v", err)
			assert.Contains(t, fe.Reason, tt.reason)
			assert.Len(t, problemsOf(err), 1, "%v", err)
		})
	}

	t.Run("its own derived id is fine", func(t *testing.T) {
		e, err := New(uuid.Nil, Signed, "SWE", date, nil, "s")
		require.NoError(t, err)
		again, err := New(e.ID, Signed, "SWE", date, nil, "s")
		require.NoError(t, err)
		assert.Equal(t, e, again)
	})
}

// TestStoredSize: the log's message limit counts the stored form and the
// headers the log adds, so validation bounds the stored form.
func TestStoredSize(t *testing.T) {
	date := MustDate("2008-12-03")
	e, err := New(uuid.Nil, Signed, "SWE", date, nil, "x")
	require.NoError(t, err)
	room := MaxStoredBytes - len(e.StoredJSON()) + 1 // the longest source that fits

	t.Run("given an event that just fits, New and Decode accept it", func(t *testing.T) {
		e, err := New(uuid.Nil, Signed, "SWE", date, nil, strings.Repeat("x", room))
		require.NoError(t, err)
		assert.Len(t, e.StoredJSON(), MaxStoredBytes)
		line, err := e.MarshalJSON()
		require.NoError(t, err)
		_, err = Decode(line)
		assert.NoError(t, err)
	})

	t.Run("given one byte more, New and Decode refuse it", func(t *testing.T) {
		want := &FieldError{Reason: "the event is 1044481 bytes once stored; at most 1044480: shorten its source or data"}
		_, err := New(uuid.Nil, Signed, "SWE", date, nil, strings.Repeat("x", room+1))
		assert.Equal(t, want, err)
		// Without its id the line is shorter than what is stored.
		line := `{"type":"signed","state":"SWE","date":"2008-12-03","source":"` + strings.Repeat("x", room+1) + `"}`
		require.Less(t, len(line), MaxStoredBytes)
		_, err = Decode([]byte(line))
		assert.Equal(t, want, err)
	})

	t.Run("given a short line that escaping makes long, Decode refuses it", func(t *testing.T) {
		// '<' is stored as \u003c: six bytes for one.
		line := `{"type":"signed","state":"SWE","date":"2008-12-03","source":"` + strings.Repeat("<", MaxStoredBytes/6+1) + `"}`
		require.Less(t, len(line), MaxLineBytes/5)
		_, err := Decode([]byte(line))
		var fe *FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "", fe.Field)
		assert.Contains(t, fe.Reason, "bytes once stored; at most 1044480")
		_, err = ReadAll(strings.NewReader(line + "\n"))
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, 1, fe.Line)
	})

	t.Run("the headers fit in the allowance", func(t *testing.T) {
		// The headers of the log (jslog): the event id, the stream, the
		// expected last sequence, subject and message id, and an atomic
		// batch's id, sequence and commit, with NATS/1.0 and CRLFs.
		id := e.ID.String()
		hdr := "NATS/1.0\r\n" +
			"Nats-Msg-Id: " + id + "\r\n" +
			"Nats-Expected-Stream: " + strings.Repeat("S", 32) + "\r\n" +
			"Nats-Expected-Last-Sequence: 18446744073709551615\r\n" +
			"Nats-Expected-Last-Subject-Sequence: 18446744073709551615\r\n" +
			"Nats-Expected-Last-Subject-Sequence-Subject: " + ScopeFilter("convention") + "\r\n" +
			"Nats-Expected-Last-Msg-Id: " + id + "\r\n" +
			"Nats-Batch-Id: " + id + "\r\n" +
			"Nats-Batch-Sequence: 1000\r\n" +
			"Nats-Batch-Commit: 1\r\n\r\n"
		assert.Less(t, 4*len(hdr), HeaderAllowance, "a margin of four times the headers")
		assert.Equal(t, MaxLineBytes, MaxStoredBytes+HeaderAllowance)
	})
}

func stateFor(t Type) string {
	if t.ConventionWide() {
		return ""
	}
	return "SWE"
}

func TestTypes(t *testing.T) {
	types := Types()
	require.Len(t, types, 18)
	seen := map[Type]bool{}
	for _, typ := range types {
		assert.True(t, typ.Known(), "%s", typ)
		assert.False(t, seen[typ], "%s listed twice", typ)
		seen[typ] = true
		assert.Equal(t, typ == MeetingHeld || typ == CoverageDeclared, typ.ConventionWide(), "ConventionWide(%s)", typ)
	}
	assert.False(t, Type("ratified").Known())
	assert.False(t, Type("").Known())
	types[0] = "changed"
	assert.Equal(t, Signed, Types()[0], "Types returns a copy")
}

func TestSubjects(t *testing.T) {
	evs := goldenEvents(t)
	assert.Equal(t, "ccm.events.SWE.deposited", evs[Deposited].Subject())
	assert.Equal(t, "SWE", evs[Deposited].Scope())
	assert.Equal(t, "ccm.events.convention.meeting-held", evs[MeetingHeld].Subject())
	assert.Equal(t, ConventionScope, evs[MeetingHeld].Scope())
	assert.Equal(t, "ccm.events.BDI.retracted", evs[Retracted].Subject())
	assert.Equal(t, "ccm.events.LTU.withdrawal-notified", Subject("LTU", WithdrawalNotified))
	assert.Equal(t, "ccm.events.SWE.>", ScopeFilter("SWE"))
	assert.Equal(t, "ccm.events.convention.>", ScopeFilter(ConventionScope))

	for typ, e := range evs {
		scope, ok := ScopeOfSubject(e.Subject())
		assert.True(t, ok, "ScopeOfSubject(%s)", e.Subject())
		assert.Equal(t, e.Scope(), scope, "scope of the %s subject %s", typ, e.Subject())
		assert.True(t, strings.HasPrefix(e.Subject(), strings.TrimSuffix(ScopeFilter(scope), ">")), "%s is under %s", e.Subject(), ScopeFilter(scope))
	}

	for _, tt := range []struct {
		subject string
		scope   string
		ok      bool
	}{
		{"ccm.events.SWE.deposited", "SWE", true},
		{"ccm.events.convention.meeting-held", ConventionScope, true},
		{"ccm.events.SWE", "", false},
		{"ccm.events..deposited", "", false},
		{"ccm.compliance.SWE.deadline-missed", "", false},
		{"ccm.eventsSWE.deposited", "", false},
		{"", "", false},
	} {
		scope, ok := ScopeOfSubject(tt.subject)
		assert.Equal(t, tt.ok, ok, "ScopeOfSubject(%q) ok", tt.subject)
		assert.Equal(t, tt.scope, scope, "ScopeOfSubject(%q)", tt.subject)
	}
}

func TestDecodeStoredFailsOnNonEvents(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"not JSON", `{"id":`, "stored event 7: "},
		{"unknown type", `{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"ratified","state":"SWE","date":"2012-04-23","source":"s"}`, `stored event 7: unknown type "ratified"`},
		{"bad id", `{"id":"x","type":"signed","state":"SWE","date":"2008-12-03","source":"s"}`, "stored event 7: id: "},
		{"bad data", `{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":1},"source":"s"}`, "stored event 7: data.instrument: must be a string"},
		{"bad date", `{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"signed","state":"SWE","date":"2008-13-03","source":"s"}`, "stored event 7: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeStored([]byte(tt.body), 7, time.Time{})
			require.Error(t, err, "DecodeStored(%s)", tt.body)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestFieldErrorMessages(t *testing.T) {
	assert.Equal(t, "line 3: data.year: is required", (&FieldError{Line: 3, Field: "data.year", Reason: "is required"}).Error())
	assert.Equal(t, "state: is required", (&FieldError{Field: "state", Reason: "is required"}).Error())
	assert.Equal(t, "line 2: not a JSON object", (&FieldError{Line: 2, Reason: "not a JSON object"}).Error())

	one := &InputError{Problems: []*FieldError{{Line: 1, Field: "type", Reason: "is required"}}}
	assert.Equal(t, "line 1: type: is required", one.Error())
	two := &InputError{Problems: []*FieldError{{Line: 1, Field: "type", Reason: "is required"}, {Line: 4, Field: "date", Reason: "is required"}}}
	assert.Equal(t, "2 problems in input:\n  line 1: type: is required\n  line 4: date: is required", two.Error())
	assert.ErrorIs(t, two, ErrInvalid)
	var fe *FieldError
	require.ErrorAs(t, two, &fe)
	assert.Equal(t, 1, fe.Line, "errors.As finds the first problem")
	assert.False(t, errors.Is(two, ErrConflict))
}

// TestDecodeStoredReadsWhatEarlierVersionsStored: given stored bodies that
// the input rules now refuse but earlier versions validated and stored,
// when they are read back, then they decode as they were stored.
func TestDecodeStoredReadsWhatEarlierVersionsStored(t *testing.T) {
	squatted := `{"id":"aea78634-fad9-5936-8b96-c6f7ea1324ec","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden"}`
	for _, body := range []string{
		`{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"signed","state":"SWE","date":"2008-12-03","source":"MON-CP Sweden;\tCMC"}`,
		`{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"signed","state":"SWE","date":"2008-12-03","source":"\u200b"}`,
		`{"id":"9b2f4d7e-3c1a-4e8b-a6d5-2f0e1c9b8a70","type":"retracted","state":"SWE","date":"2013-01-10","data":{"event":"aea78634-fad9-5936-8b96-c6f7ea1324ec","reason":"line one\nline two"},"source":"s"}`,
		squatted,
	} {
		_, err := Decode([]byte(body))
		require.Error(t, err, "the input rules refuse %s", body)
		e, err := DecodeStored([]byte(body), 3, time.Unix(1700000000, 0))
		require.NoError(t, err, "DecodeStored(%s)", body)
		assert.JSONEq(t, body, string(e.StoredJSON()), "read back as stored")
	}
}
