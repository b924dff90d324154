package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Date is a civil date in the proleptic Gregorian calendar, used for the
// valid time of events (the day something happened in the world). It counts
// days from 0000-01-01, which is Date 1, so that the zero Date, which means
// "no date", is no day of the years 0000 to 9999 that ParseDate reads.
// Dates compare with the ordinary operators, and the difference of two
// Dates is a number of days.
type Date int32

// unixDate is the Date of 1970-01-01: the days from 0000-01-01 to the Unix
// epoch, plus one.
const unixDate = 719528 + 1

// MakeDate returns the Date of year y, month m, day d. Out-of-range months
// and days are normalised as time.Date does. Years before 0 and after 9999
// are outside the range of Date.
func MakeDate(y int, m time.Month, d int) Date {
	return DateOf(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
}

// DateOf returns the UTC calendar day of t.
func DateOf(t time.Time) Date {
	t = t.UTC()
	days := t.Unix() / 86400
	if t.Unix() < 0 && t.Unix()%86400 != 0 {
		days--
	}
	return Date(days + unixDate)
}

// ParseDate parses a date written YYYY-MM-DD. It rejects any other layout
// and impossible days such as 2011-02-30.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, fmt.Errorf("%q is not a date of the form YYYY-MM-DD", s)
	}
	d, ok := parseYMD(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a valid date", s)
	}
	return d, nil
}

// parseYMD reads YYYY-MM-DD without allocating; false for anything else.
func parseYMD[S string | []byte](s S) (Date, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, m, d := digits(s[0:4]), digits(s[5:7]), digits(s[8:10])
	if y < 0 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return Date(daysFromCivil(y, m, d) + unixDate), true
}

// digits reads an unsigned decimal field; -1 when it is not all digits.
func digits[S string | []byte](s S) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to y-m-d in the proleptic
// Gregorian calendar (H. Hinnant's algorithm), without time.Time: parsing
// dates is on the path of every imported event.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// MustDate is ParseDate for literals known to be valid; it panics otherwise.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// IsZero reports whether d is the zero Date, which stands for "no date".
func (d Date) IsZero() bool { return d == 0 }

// Time returns midnight UTC at the start of d.
func (d Date) Time() time.Time {
	return time.Unix((int64(d)-unixDate)*86400, 0).UTC()
}

// YMD returns the year, month and day of d.
func (d Date) YMD() (int, time.Month, int) { return d.Time().Date() }

// Year returns the year of d.
func (d Date) Year() int { return d.Time().Year() }

// AddDate returns d shifted by years, months and days, normalised as
// time.Time.AddDate does (2012-02-29 plus one year is 2013-03-01).
func (d Date) AddDate(years, months, days int) Date {
	return DateOf(d.Time().AddDate(years, months, days))
}

// FirstOfMonth returns the first day of the month of d.
func (d Date) FirstOfMonth() Date {
	y, m, _ := d.YMD()
	return MakeDate(y, m, 1)
}

// String formats d as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d == 0 {
		return ""
	}
	return d.Time().Format(time.DateOnly)
}

// MarshalJSON writes d as "YYYY-MM-DD", or null for the zero Date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d == 0 {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 12)
	b = append(b, '"')
	b = d.Time().AppendFormat(b, time.DateOnly)
	return append(b, '"'), nil
}

// UnmarshalJSON reads "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = 0
		return nil
	}
	var s string
	if len(b) < 2 || b[0] != '"' || json.Unmarshal(b, &s) != nil {
		return fmt.Errorf("%s is not a date string", b)
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
