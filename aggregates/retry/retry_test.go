package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
)

var fast = retry.Policy{Name: "test", MaxAttempts: 4, MaxElapsed: time.Minute, First: time.Millisecond, Longest: 2 * time.Millisecond}

var errFlaky = errors.New("flaky")

func TestDoRetriesUntilSuccess(t *testing.T) {
	n := 0
	err := retry.Do(context.Background(), fast, func(attempt int) error {
		n++
		assert.Equal(t, n, attempt)
		if attempt < 3 {
			return errFlaky
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestDoStopsAtTheBoundAndSaysSo(t *testing.T) {
	n := 0
	err := retry.Do(context.Background(), fast, func(int) error { n++; return errFlaky })
	var ex *retry.ExhaustedError
	require.ErrorAs(t, err, &ex)
	assert.Equal(t, 4, ex.Attempts)
	assert.Equal(t, 4, n)
	assert.ErrorIs(t, err, errFlaky)
	assert.Contains(t, err.Error(), "gave up after 4 attempts")
	assert.Contains(t, err.Error(), "test: at most 4 attempts, 1m0s")
}

func TestDoStopsAtTheElapsedBound(t *testing.T) {
	p := retry.Policy{Name: "slow", MaxElapsed: 30 * time.Millisecond, First: 10 * time.Millisecond, Longest: 10 * time.Millisecond}
	n := 0
	start := time.Now()
	err := retry.Do(context.Background(), p, func(int) error { n++; return errFlaky })
	var ex *retry.ExhaustedError
	require.ErrorAs(t, err, &ex)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.GreaterOrEqual(t, n, 2)
}

func TestDoNeverRetriesAPermanentError(t *testing.T) {
	n := 0
	base := errors.New("permission denied")
	err := retry.Do(context.Background(), fast, func(int) error { n++; return retry.Permanent(base) })
	assert.Equal(t, 1, n)
	assert.Same(t, base, err, "the error comes back unmarked")
}

func TestDoEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := retry.Policy{Name: "forever", First: time.Hour, Longest: time.Hour}
	done := make(chan error, 1)
	go func() { done <- retry.Do(ctx, p, func(int) error { return errFlaky }) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Do waited out its pause after the context ended")
	}
}

func TestPermanentOfNilIsNil(t *testing.T) {
	assert.NoError(t, retry.Permanent(nil))
}
