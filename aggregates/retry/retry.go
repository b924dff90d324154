// Package retry is the one way the ledger tries an operation again: after
// a concurrency conflict (decide again), a leader election or a lost
// connection (append again). Each Policy names its bounds, every wait ends
// with the context, and an error marked Permanent is never retried.
//
// It is a thin layer over github.com/cenkalti/backoff/v5: exponential,
// jittered pauses with a bound on attempts and on elapsed time.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy bounds the attempts of one kind of operation.
type Policy struct {
	// Name says what is retried, for errors: "decide again after a
	// conflict".
	Name string
	// MaxAttempts bounds the attempts, the first included (0: no bound).
	MaxAttempts uint
	// MaxElapsed bounds the time from the first attempt to the start of
	// the last (0: no bound).
	MaxElapsed time.Duration
	// First is the pause after the first failure; each next pause is up
	// to twice the one before, at most Longest, with ±50 % jitter.
	First, Longest time.Duration
}

// The policies of the ledger.
var (
	// Conflict: a command decided again after another writer appended to
	// the same State first, or while a replicated stream still replicates
	// that writer's append. Pauses of 5 ms doubling to 1 s spread racing
	// writers apart.
	Conflict = Policy{Name: "decide again after a concurrency conflict", MaxAttempts: 20, MaxElapsed: 30 * time.Second, First: 5 * time.Millisecond, Longest: time.Second}
	// Transient: an append resumed after a failure that a wait can fix (a
	// leader election, a lost connection, an acknowledgement not received).
	Transient = Policy{Name: "append again after a transient failure", MaxAttempts: 8, MaxElapsed: time.Minute, First: 100 * time.Millisecond, Longest: 5 * time.Second}
	// Connect: connecting while no server answers, until the context ends.
	Connect = Policy{Name: "connect again", First: 500 * time.Millisecond, Longest: 2 * time.Second}
	// Restart: a long-running loop (the projector) started over after a
	// failure, until the context ends.
	Restart = Policy{Name: "start over after a failure", First: time.Second, Longest: 30 * time.Second}
)

// ExhaustedError is the last error of an operation whose policy ran out.
type ExhaustedError struct {
	Policy   Policy
	Attempts int
	Elapsed  time.Duration
	Err      error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("gave up after %d attempts in %s (%s: at most %d attempts, %s): %v",
		e.Attempts, e.Elapsed.Round(time.Millisecond), e.Policy.Name, e.Policy.MaxAttempts, e.Policy.MaxElapsed, e.Err)
}

// Unwrap returns the last error.
func (e *ExhaustedError) Unwrap() error { return e.Err }

// Permanent marks err as one that no retry can fix (a rejection, a
// permission denied, a limit): Do returns it at once, unmarked.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return backoff.Permanent(err)
}

// Do calls op until it returns nil, a Permanent error, or p's bounds are
// reached (then an *ExhaustedError wrapping op's last error), or ctx ends
// (then the context's cause, unless op's last error was itself the
// context's). attempt counts from 1.
func Do(ctx context.Context, p Policy, op func(attempt int) error) error {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.First,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         p.Longest,
	}
	start := time.Now()
	attempt := 0
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		last = op(attempt)
		return struct{}{}, last
	}, backoff.WithBackOff(b), backoff.WithMaxTries(p.MaxAttempts), backoff.WithMaxElapsedTime(p.MaxElapsed))
	var perm *backoff.PermanentError
	switch {
	case err == nil:
		return nil
	case errors.As(last, &perm):
		return perm.Unwrap()
	case ctx.Err() != nil:
		return err
	}
	// Neither permanent nor cancelled: the bounds were reached.
	return &ExhaustedError{Policy: p, Attempts: attempt, Elapsed: time.Since(start), Err: last}
}
