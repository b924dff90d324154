package projector

// HoldState takes the projector's state as a publish does, for as long as
// a test wants: release gives it back.
func HoldState(p *Projector) (release func()) {
	p.mu.Lock()
	return p.mu.Unlock
}
