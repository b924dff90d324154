package aggregates_test

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// Sweden signed the Convention at Oslo on 3 December 2008 and ratified it
// on 23 April 2012. Having signed, it could not accede (Art. 16).
func ExampleState_Decide() {
	const source = "MON-CP; CMC 2012-04-24; government.se (states.csv)"
	signed, err := events.New(uuid.Nil, events.Signed, "SWE", events.MustDate("2008-12-03"), nil, source)
	if err != nil {
		panic(err)
	}
	sweden := aggregates.NewState("SWE")
	sweden.Apply(signed)

	conv := aggregates.Convention{EntryIntoForce: events.MustDate("2010-08-01"), ThirtiethDeposit: events.MustDate("2010-02-16")}
	today := events.MustDate("2026-06-30")

	accession, err := events.New(uuid.Nil, events.Deposited, "SWE", events.MustDate("2012-04-23"),
		&events.Deposit{Instrument: events.Accession}, source)
	if err != nil {
		panic(err)
	}
	err = sweden.Decide(accession, conv, today)
	var r *aggregates.Rejection
	if errors.As(err, &r) {
		fmt.Println("rejected:", r.Rule)
	}
	fmt.Println("a rejection:", errors.Is(err, events.ErrRejected))

	ratification, err := events.New(uuid.Nil, events.Deposited, "SWE", events.MustDate("2012-04-23"),
		&events.Deposit{Instrument: events.Ratification}, source)
	if err != nil {
		panic(err)
	}
	fmt.Println("ratification:", sweden.Decide(ratification, conv, today))
	fmt.Println("in force for Sweden from", conv.EntryIntoForceFor(ratification.Date))
	// Output:
	// rejected: accession-by-signatory
	// a rejection: true
	// ratification: <nil>
	// in force for Sweden from 2012-10-01
}
