//go:build race

package main

// slow stretches the time bounds of the fault tests under the race
// detector, which makes the ledger and the servers several times slower.
const slow = 4
