package projections

// StatusSubjects exposes statusSubjects to the tests.
var StatusSubjects = statusSubjects
