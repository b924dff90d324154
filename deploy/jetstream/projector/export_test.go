package projector

import "sync"

// HoldState takes the projector's state as a publish does, for as long as
// a test wants: release gives it back (a second call does nothing).
func HoldState(p *Projector) (release func()) {
	p.mu.Lock()
	var once sync.Once
	return func() { once.Do(p.mu.Unlock) }
}
