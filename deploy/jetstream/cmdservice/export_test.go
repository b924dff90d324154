package cmdservice

// SetPartBytes makes import parts at most n bytes until the returned
// function is called.
func SetPartBytes(n int) func() {
	old := partBytes
	partBytes = n
	return func() { partBytes = old }
}
