package projector

import (
	"context"
	"sync"
)

// HoldState keeps the goroutine that owns the projector's state busy, as a
// publish waiting on the server does, for as long as a test wants: release
// gives it back (a second call does nothing). The projector must be
// following the log.
func HoldState(p *Projector) (release func()) {
	held, done := make(chan struct{}), make(chan struct{})
	go func() {
		_ = p.do(context.Background(), func() error {
			close(held)
			<-done
			return nil
		})
	}()
	<-held
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
