package projections

// SetPartSize sets the largest value written under one snapshot key, for
// the tests of split values, and returns a function that restores it.
func SetPartSize(n int) (restore func()) {
	old := partSize
	partSize = n
	return func() { partSize = old }
}
