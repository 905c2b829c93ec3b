package shows

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// get is the queue's next name, or a failure when none comes within a second.
func get(t *testing.T, q *queue) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	name, _, ok := q.Get(ctx)
	require.True(t, ok, "no name came")
	return name
}

// none checks that no name comes within d.
func none(t *testing.T, q *queue, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	name, _, ok := q.Get(ctx)
	assert.False(t, ok, "%q came", name)
}

// A show added many times while it waits is reconciled once, in the order
// shows were first added, and Get tells since when it waited.
func TestAQueuedShowIsQueuedOnce(t *testing.T) {
	q := newQueue(10*time.Millisecond, 80*time.Millisecond)
	before := time.Now()
	q.Add("friday-jam")
	q.Add("ada-live")
	q.Add("friday-jam")
	q.Add("friday-jam")
	assert.Equal(t, 2, q.Len())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	name, since, ok := q.Get(ctx)
	require.True(t, ok)
	assert.Equal(t, "friday-jam", name)
	assert.False(t, since.Before(before), "since is when it was first added")
	q.Done(name)
	assert.Equal(t, "ada-live", get(t, q))
	q.Done("ada-live")
	none(t, q, 30*time.Millisecond)
}

// A show being handled goes to no other worker: added meanwhile, it comes back
// once, after Done.
func TestAShowBeingHandledWaitsForDone(t *testing.T) {
	q := newQueue(10*time.Millisecond, 80*time.Millisecond)
	q.Add("friday-jam")
	name := get(t, q)
	q.Add("friday-jam")
	q.Add("friday-jam")
	none(t, q, 30*time.Millisecond)
	q.Done(name)
	assert.Equal(t, "friday-jam", get(t, q))
	q.Done("friday-jam")
	none(t, q, 30*time.Millisecond)
}

// Many workers, many adds: a name is never handled by two workers at once,
// and every name added is handled after its last add.
func TestWorkersNeverShareAShow(t *testing.T) {
	q := newQueue(time.Millisecond, 8*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	busy := map[string]bool{}
	var clash atomic.Bool
	handled := make(chan string, 1000)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				name, _, ok := q.Get(ctx)
				if !ok {
					return
				}
				mu.Lock()
				if busy[name] {
					clash.Store(true)
				}
				busy[name] = true
				mu.Unlock()
				time.Sleep(100 * time.Microsecond)
				mu.Lock()
				busy[name] = false
				mu.Unlock()
				handled <- name
				q.Done(name)
			}
		}()
	}
	names := []string{"a", "b", "c"}
	for i := range 300 {
		q.Add(names[i%len(names)])
	}
	last := map[string]bool{}
	deadline := time.After(2 * time.Second)
	for len(last) < len(names) {
		select {
		case n := <-handled:
			last[n] = true
		case <-deadline:
			t.Fatalf("only %v were handled", last)
		}
	}
	time.Sleep(20 * time.Millisecond) // the queue settles
	cancel()
	wg.Wait()
	assert.False(t, clash.Load(), "two workers had one show at once")
	assert.Zero(t, q.Len())
}

// A failing show comes back after a backoff that doubles, up to its bound,
// and starts over once forgotten.
func TestAFailingShowBacksOff(t *testing.T) {
	q := newQueue(20*time.Millisecond, 50*time.Millisecond)
	for _, c := range []struct {
		failures int
		want     time.Duration
	}{{0, 20 * time.Millisecond}, {1, 40 * time.Millisecond}, {2, 50 * time.Millisecond}, {9, 50 * time.Millisecond}, {100, 50 * time.Millisecond}} {
		assert.Equal(t, c.want, q.backoff(c.failures), "after %d failures", c.failures)
	}
	start := time.Now()
	q.AddRateLimited("flaky-wifi")
	assert.Equal(t, 1, q.Failures("flaky-wifi"))
	assert.Zero(t, q.Len(), "not before its backoff")
	assert.Equal(t, "flaky-wifi", get(t, q))
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	q.Done("flaky-wifi")
	q.AddRateLimited("flaky-wifi")
	_, pending := q.Due("flaky-wifi")
	assert.True(t, pending)
	assert.Equal(t, 2, q.Failures("flaky-wifi"))
	q.Forget("flaky-wifi")
	assert.Zero(t, q.Failures("flaky-wifi"))
	q.Stop()
	_, pending = q.Due("flaky-wifi")
	assert.False(t, pending, "Stop cancels what was pending")
	none(t, q, 60*time.Millisecond)
}

// Of several delayed adds the soonest wins; a later one does not push it back.
func TestTheSoonestDelayedAddWins(t *testing.T) {
	q := newQueue(time.Second, time.Minute)
	start := time.Now()
	q.AddAfter("radio-jam", time.Hour)
	q.AddAfter("radio-jam", 30*time.Millisecond)
	q.AddAfter("radio-jam", time.Hour)
	due, ok := q.Due("radio-jam")
	require.True(t, ok)
	assert.WithinDuration(t, start.Add(30*time.Millisecond), due, 20*time.Millisecond)
	assert.Equal(t, "radio-jam", get(t, q))
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	_, ok = q.Due("radio-jam")
	assert.False(t, ok, "nothing more pending")
	q.Done("radio-jam")
	q.AddAfter("radio-jam", 0)
	assert.Equal(t, 1, q.Len(), "no delay: queued at once")
}
