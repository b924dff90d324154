package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDate(t *testing.T) {
	for _, tt := range []struct {
		given string
		y     int
		m     time.Month
		d     int
	}{
		{"2012-04-23", 2012, time.April, 23},
		{"2008-05-30", 2008, time.May, 30},
		{"2012-02-29", 2012, time.February, 29},
		{"2000-02-29", 2000, time.February, 29},
		{"1970-01-01", 1970, time.January, 1},
		{"1969-12-31", 1969, time.December, 31},
		{"1900-03-01", 1900, time.March, 1},
		{"0000-01-01", 0, time.January, 1},
		{"9999-12-31", 9999, time.December, 31},
	} {
		got, err := ParseDate(tt.given)
		require.NoError(t, err, "ParseDate(%q)", tt.given)
		assert.False(t, got.IsZero(), "ParseDate(%q) is a day, not the zero Date", tt.given)
		y, m, d := got.YMD()
		assert.Equal(t, []int{tt.y, int(tt.m), tt.d}, []int{y, int(m), d}, "YMD of ParseDate(%q)", tt.given)
		assert.Equal(t, tt.y, got.Year())
		assert.Equal(t, tt.given, got.String(), "String of ParseDate(%q)", tt.given)
		assert.Equal(t, time.Date(tt.y, tt.m, tt.d, 0, 0, 0, 0, time.UTC), got.Time(), "Time of ParseDate(%q)", tt.given)
		assert.Equal(t, MakeDate(tt.y, tt.m, tt.d), got, "MakeDate agrees with ParseDate(%q)", tt.given)
	}

	for _, bad := range []string{
		"", "2012-4-23", "2012-04-3", "23/04/2012", "2012/04/23", "20120423", "12-04-23",
		"2011-02-30", "2012-02-30", "1900-02-29", "2012-13-01", "2012-00-10", "2012-04-00", "2012-04-31",
		"2012-04-23T00:00:00Z", " 2012-04-23", "2012-04-23 ", "+012-04-23", "2012-04-2x", "２０１２-04-23",
	} {
		_, err := ParseDate(bad)
		assert.Error(t, err, "ParseDate(%q)", bad)
	}
	assert.Panics(t, func() { MustDate("2011-02-30") })
}

func TestDateZero(t *testing.T) {
	var zero Date
	assert.True(t, zero.IsZero())
	assert.Equal(t, "", zero.String())
	b, err := json.Marshal(zero)
	require.NoError(t, err)
	assert.Equal(t, "null", string(b))

	d := MustDate("2012-04-23")
	require.NoError(t, json.Unmarshal([]byte("null"), &d))
	assert.True(t, d.IsZero(), "null reads as the zero Date")

	// No day of the years the wire format can write is the zero Date, not
	// even the days around the Unix epoch.
	for _, s := range []string{"0000-01-01", "1969-12-31", "1970-01-01", "1970-01-02"} {
		assert.False(t, MustDate(s).IsZero(), "%s must not be the zero Date", s)
	}
}

func TestDateJSON(t *testing.T) {
	for _, s := range []string{"2012-09-14", "1969-12-31", "1970-01-01", "0000-01-01", "9999-12-31"} {
		d := MustDate(s)
		b, err := json.Marshal(d)
		require.NoError(t, err)
		assert.Equal(t, `"`+s+`"`, string(b))
		var back Date
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, d, back, "round trip of %s", s)
	}

	// Inside a struct, as in the payloads.
	var m struct {
		Start Date `json:"start"`
		End   Date `json:"end,omitempty"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"start":"2012-09-11"}`), &m))
	assert.Equal(t, MustDate("2012-09-11"), m.Start)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	assert.Equal(t, `{"start":"2012-09-11"}`, string(b), "a zero Date is omitted with omitempty")

	// JSON escapes are read like in any other string.
	var d Date
	require.NoError(t, json.Unmarshal([]byte(`"\u0032012-09-14"`), &d))
	assert.Equal(t, MustDate("2012-09-14"), d)

	for _, bad := range []string{`20120914`, `"2012-09-31"`, `"14.09.2012"`, `true`, `["2012-09-14"]`, `""`} {
		err := json.Unmarshal([]byte(bad), &d)
		assert.Error(t, err, "unmarshal %s", bad)
	}
	assert.Error(t, d.UnmarshalJSON([]byte(`"2012-09-14`)), "unterminated string")
	assert.Error(t, d.UnmarshalJSON([]byte(`"`)), "a lone quote")
}

func TestDateArithmetic(t *testing.T) {
	for _, tt := range []struct {
		from         string
		y, m, d      int
		want, reason string
	}{
		{"2012-02-29", 1, 0, 0, "2013-03-01", "no 29 February in 2013: normalised as time.AddDate"},
		{"2012-02-29", 4, 0, 0, "2016-02-29", "leap year to leap year"},
		{"2012-02-28", 0, 0, 1, "2012-02-29", "leap day"},
		{"2011-02-28", 0, 0, 1, "2011-03-01", "no leap day"},
		{"2010-08-01", 8, 0, 0, "2018-08-01", "Art. 3 deadline of the first States Parties"},
		{"2010-08-01", 10, 0, 0, "2020-08-01", "Art. 4 deadline of the first States Parties"},
		{"2010-08-01", 0, 0, 180, "2011-01-28", "Art. 7(1) initial report due (Niger: 28 Jan 2011)"},
		{"2010-02-16", 0, 6, 0, "2010-08-16", "six months"},
		{"2011-01-31", 0, 1, 0, "2011-03-03", "31 February normalised"},
		{"2012-09-14", 0, 0, -365, "2011-09-15", "backwards across a leap day"},
		{"1970-01-01", 0, 0, -1, "1969-12-31", "across the Unix epoch"},
		{"1969-12-31", 0, 0, 1, "1970-01-01", "across the Unix epoch"},
		{"1960-02-28", 0, 0, 2, "1960-03-01", "leap year before 1970"},
	} {
		got := MustDate(tt.from).AddDate(tt.y, tt.m, tt.d)
		assert.Equal(t, tt.want, got.String(), "%s + %dy%dm%dd: %s", tt.from, tt.y, tt.m, tt.d, tt.reason)
	}

	for _, tt := range []struct{ in, want string }{
		{"2010-02-16", "2010-02-01"},
		{"2012-02-29", "2012-02-01"},
		{"2012-12-31", "2012-12-01"},
		{"2012-09-01", "2012-09-01"},
		{"1969-12-31", "1969-12-01"},
	} {
		assert.Equal(t, tt.want, MustDate(tt.in).FirstOfMonth().String(), "FirstOfMonth(%s)", tt.in)
	}

	// Entry into force of a deposit after the 30th (Art. 17(2)): the first
	// day of the sixth month after the month of deposit.
	assert.Equal(t, "2012-10-01", MustDate("2012-04-23").FirstOfMonth().AddDate(0, 6, 0).String(), "Sweden's entry into force")
}

func TestDateCompare(t *testing.T) {
	oslo, end := MustDate("2012-09-11"), MustDate("2012-09-14")
	assert.Less(t, oslo, end)
	assert.Greater(t, end, oslo)
	assert.Equal(t, Date(3), end-oslo, "the difference of two Dates is days")
	assert.Equal(t, end, oslo+3)
	assert.Equal(t, MustDate("2013-09-14")-end, Date(365))
	assert.Equal(t, MustDate("2012-09-14")-MustDate("2011-09-14"), Date(366), "2012 is a leap year")
	assert.Less(t, MustDate("1969-12-31"), MustDate("1970-01-01"))
	assert.Equal(t, Date(1), MustDate("1970-01-01")-MustDate("1969-12-31"))
	assert.Less(t, MustDate("0000-01-01"), MustDate("1969-12-31"))
	assert.Less(t, Date(0), MustDate("0000-01-01"), "the zero Date is before every day")
	assert.True(t, Adoption < MustDate("2008-12-03") && MustDate("2008-05-29") < Adoption)
}

func TestDateOf(t *testing.T) {
	// Every day from 1960 to 1980, at the start, the middle and the last
	// second of the day: DateOf rounds down also for negative Unix times.
	start := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := DateOf(start) - 1
	for day := start; day.Year() < 1981; day = day.AddDate(0, 0, 1) {
		want := day.Format(time.DateOnly)
		for _, t0 := range []time.Time{day, day.Add(12 * time.Hour), day.Add(24*time.Hour - time.Nanosecond)} {
			got := DateOf(t0)
			if got.String() != want {
				t.Fatalf("DateOf(%s) = %s, want %s", t0.Format(time.RFC3339Nano), got, want)
			}
		}
		if got := DateOf(day); got != prev+1 {
			t.Fatalf("DateOf(%s) = %d, want the day after %d", want, got, prev)
		}
		prev = DateOf(day)
		if d := MustDate(want); d.Time() != day {
			t.Fatalf("Time of %s = %s", want, d.Time())
		}
	}

	// The UTC day of a time elsewhere.
	kiribati := time.FixedZone("UTC+14", 14*3600)
	assert.Equal(t, "2012-04-23", DateOf(time.Date(2012, 4, 24, 1, 0, 0, 0, kiribati)).String())
	hawaii := time.FixedZone("UTC-10", -10*3600)
	assert.Equal(t, "1970-01-01", DateOf(time.Date(1969, 12, 31, 20, 0, 0, 0, hawaii)).String())
	assert.Equal(t, "1969-12-31", DateOf(time.Unix(-1, 0)).String())
	assert.Equal(t, "1970-01-01", DateOf(time.Unix(0, 0)).String())
	assert.Equal(t, "1969-12-31", DateOf(time.Unix(-86400, 0)).String())
	assert.Equal(t, "1969-12-30", DateOf(time.Unix(-86401, 0)).String())
}

func TestMakeDateNormalises(t *testing.T) {
	for _, tt := range []struct {
		y    int
		m    time.Month
		d    int
		want string
	}{
		{2011, time.February, 30, "2011-03-02"},
		{2012, time.February, 30, "2012-03-01"},
		{2012, 13, 1, "2013-01-01"},
		{2012, 0, 1, "2011-12-01"},
		{2012, time.March, 0, "2012-02-29"},
		{2012, time.January, -1, "2011-12-30"},
		{2010, time.August, 1 + 180, "2011-01-28"},
		{1970, time.January, 0, "1969-12-31"},
	} {
		assert.Equal(t, tt.want, MakeDate(tt.y, tt.m, tt.d).String(), "MakeDate(%d, %d, %d)", tt.y, tt.m, tt.d)
	}
}

// TestParseDateAgreesWithTime holds the hand-written parser to time.Parse,
// on every day of three centuries and on impossible days.
func TestParseDateAgreesWithTime(t *testing.T) {
	for day := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2200; day = day.AddDate(0, 0, 1) {
		s := day.Format(time.DateOnly)
		d, err := ParseDate(s)
		require.NoError(t, err, s)
		require.Equal(t, DateOf(day), d, s)
		require.Equal(t, s, d.String())
	}
	for _, s := range []string{"2011-02-29", "2012-02-30", "2012-13-01", "2012-00-10", "2012-04-31", "2012-04-00", "0000-00-00", "20a2-01-01", "2012-0a-01", "+012-01-01", "2012-1 -01"} {
		_, err := ParseDate(s)
		_, terr := time.Parse(time.DateOnly, s)
		require.Equal(t, terr != nil, err != nil, "%s: time.Parse says %v, ParseDate %v", s, terr, err)
	}
	for _, s := range []string{"0000-01-01", "1600-02-29", "9999-12-31"} {
		d, err := ParseDate(s)
		require.NoError(t, err, s)
		tt, _ := time.Parse(time.DateOnly, s)
		require.Equal(t, DateOf(tt), d, s)
	}
}
