package events_test

import (
	"fmt"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// Decode reads one line of the JSON Lines format. The line has no id, so
// the id is derived from its content: importing it again yields the same
// event.
func ExampleDecode() {
	line := `{"type":"deposited","state":"SWE","date":"2012-04-23","data":{"instrument":"ratification"},"source":"UN depositary notification; SEED fn 138 (Sweden 23/04/2012)"}`
	e, err := events.Decode([]byte(line))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Type, e.State, e.Date)
	fmt.Println(e.Payload.(*events.Deposit).Instrument)
	fmt.Println(e.ID)
	fmt.Println(e.Subject())

	meeting := `{"type":"meeting-held","date":"2012-09-14","data":{"code":"3MSP","name":"Third Meeting of States Parties","city":"Oslo","start":"2012-09-11","end":"2012-09-14"},"source":"SEED para 8; meetings.csv 3MSP"}`
	m, err := events.Decode([]byte(meeting))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Subject())

	_, err = events.Decode([]byte(`{"type":"deposited","state":"SWE","date":"2012-4-23","data":{"instrument":"ratification"},"source":"UNTC"}`))
	fmt.Println(err)
	// Output:
	// deposited SWE 2012-04-23
	// ratification
	// aea78634-fad9-5936-8b96-c6f7ea1324ec
	// ccm.events.SWE.deposited
	// ccm.events.convention.meeting-held
	// date: "2012-4-23" is not a date of the form YYYY-MM-DD
}
