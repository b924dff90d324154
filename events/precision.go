package events

import "strconv"

// Precision says how well an event's date is known. The date of an event
// is always the latest day its source allows (a month is dated at its last
// day, a year at 31 December, a bound at the bound); the precision gives
// the earliest, so that a comparison with a deadline can say on time or
// late only when every day in between agrees.
//
// On the wire it is the optional field "precision"; absent (or "day")
// means the day is known, as for every event written before the field
// existed. A precision other than the day is part of the event's content:
// it enters the derived id.
type Precision string

const (
	// Day: the date is the day it happened.
	Day Precision = ""
	// Month: the source gives the month; the date is its last day.
	Month Precision = "month"
	// Year: the source gives the year; the date is 31 December.
	Year Precision = "year"
	// OnOrBefore: the source says only that it happened by the date.
	OnOrBefore Precision = "on-or-before"
)

// Precisions returns the precisions a line may give, as written.
func Precisions() []string { return []string{"day", string(Month), string(Year), string(OnOrBefore)} }

// ParsePrecision reads the wire form; "day" is Day.
func ParsePrecision(s string) (Precision, bool) {
	switch p := Precision(s); p {
	case "day":
		return Day, true
	case Month, Year, OnOrBefore:
		return p, true
	}
	return "", false
}

// String is the wire form ("day" for Day).
func (p Precision) String() string {
	if p == Day {
		return "day"
	}
	return string(p)
}

// Earliest is the first day the event may have happened on, given its date
// (the latest): the first of the month, 1 January, or the Convention's
// adoption for a bound.
func (p Precision) Earliest(date Date) Date {
	switch p {
	case Month:
		return date.FirstOfMonth()
	case Year:
		return MustDate(strconv.Itoa(date.Year()) + "-01-01")
	case OnOrBefore:
		return min(Adoption, date)
	}
	return date
}

// checkPrecision reports a date that is not the latest day its precision
// allows.
func checkPrecision(p Precision, date Date) []fieldProblem {
	if date == 0 {
		return nil
	}
	next := date.AddDate(0, 0, 1)
	_, month, day := date.YMD()
	switch {
	case p == Month && next.FirstOfMonth() != next:
		return []fieldProblem{{"date", date.String() + " is not the last day of its month: an event known to the month is dated at its last day"}}
	case p == Year && (month != 12 || day != 31):
		return []fieldProblem{{"date", date.String() + " is not 31 December: an event known to the year is dated at its last day"}}
	}
	return nil
}
