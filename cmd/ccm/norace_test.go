//go:build !race

package main

// slow stretches the time bounds of the fault tests (see race_test.go).
const slow = 1
