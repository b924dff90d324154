package projections

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/events"
)

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"ccm.events.SWE.>", "ccm.events.SWE.signed", true},
		{"ccm.events.SWE.>", "ccm.events.SWE.a.b", true},
		{"ccm.events.SWE.>", "ccm.events.SWE", false},
		{"ccm.events.SWE.>", "ccm.events.SWEDEN.signed", false},
		{"ccm.events.SWE.>", "ccm.events.NOR.signed", false},
		{"ccm.events.*.deposited", "ccm.events.NOR.deposited", true},
		{"ccm.events.*.deposited", "ccm.events.convention.deposited", true},
		{"ccm.events.*.deposited", "ccm.events.NOR.deposited.x", false},
		{"ccm.events.*.deposited", "ccm.events.deposited", false},
		{"ccm.events.*.deposited", "ccm.events.NOR.signed", false},
		{"ccm.events.NOR.signed", "ccm.events.NOR.signed", true},
		{"ccm.events.NOR.signed", "ccm.events.NOR.signed2", false},
		{">", "ccm", true},
		{"*", "ccm", true},
		{"*", "ccm.events", false},
	} {
		assert.Equal(t, tc.want, subjectMatches(tc.filter, tc.subject), "%s against %s", tc.filter, tc.subject)
	}
	assert.True(t, matchesAny(statusSubjects("SWE"), "ccm.events.NOR.retracted"))
	assert.False(t, matchesAny(statusSubjects("SWE"), "ccm.events.NOR.report-submitted"))
}

func TestDerivedID(t *testing.T) {
	e, err := events.New(uuid.Nil, events.Signed, "SWE", events.MustDate("2008-12-03"), nil, "test")
	require.NoError(t, err)
	assert.True(t, derivedID(e))
	given, err := events.New(uuid.New(), events.Signed, "SWE", events.MustDate("2008-12-03"), nil, "test")
	require.NoError(t, err)
	assert.False(t, derivedID(given), "a random id")
	other := e
	other.Type = events.Deposited
	other.Payload = &events.Deposit{Instrument: events.Ratification}
	assert.False(t, derivedID(other), "the id of another fact")
}
