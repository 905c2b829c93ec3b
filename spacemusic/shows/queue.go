package shows

import (
	"context"
	"sync"
	"time"
)

// queue is the controller's rate-limited work queue of show names, after
// client-go's workqueue (not imported: this is all of it we need). A name
// added many times while it waits is queued once; a name being handled is
// handed to no other worker, and one added meanwhile comes back when Done; a
// failed name comes back after a backoff that doubles with its failures until
// Forget; AddAfter brings a name back later (a timer, e.g. EndAfter's).
type queue struct {
	base, max time.Duration // backoff of AddRateLimited: base, doubling, at most max

	mu         sync.Mutex
	ready      []string
	dirty      map[string]time.Time // waiting (in ready, or for Done), since when
	processing map[string]bool
	timers     map[string]delayed
	failures   map[string]int
	wake       chan struct{} // a name is ready: one waiting Get looks
}

// delayed is a pending AddAfter of a name.
type delayed struct {
	at    time.Time
	timer *time.Timer
}

func newQueue(base, max time.Duration) *queue {
	return &queue{base: base, max: max, dirty: map[string]time.Time{}, processing: map[string]bool{},
		timers: map[string]delayed{}, failures: map[string]int{}, wake: make(chan struct{}, 1)}
}

// Add queues name unless it waits already.
func (q *queue) Add(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.add(name, time.Now())
}

func (q *queue) add(name string, since time.Time) {
	if _, waiting := q.dirty[name]; waiting {
		return
	}
	q.dirty[name] = since
	if q.processing[name] {
		return // Done queues it
	}
	q.ready = append(q.ready, name)
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Get waits for a name to handle and returns it with when it was first added
// since it was last handed out; ok is false when ctx ended. Call Done after.
func (q *queue) Get(ctx context.Context) (name string, since time.Time, ok bool) {
	for {
		q.mu.Lock()
		if len(q.ready) > 0 {
			name = q.ready[0]
			q.ready = q.ready[1:]
			since = q.dirty[name]
			delete(q.dirty, name)
			q.processing[name] = true
			if len(q.ready) > 0 {
				q.signal() // another worker may take the next
			}
			q.mu.Unlock()
			return name, since, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", time.Time{}, false
		case <-q.wake:
		}
	}
}

// Done ends the handling of name; if it was added meanwhile it is queued again.
func (q *queue) Done(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, name)
	if _, waiting := q.dirty[name]; waiting {
		q.ready = append(q.ready, name)
		q.signal()
	}
}

// AddAfter adds name once d has passed; of several pending, the soonest wins.
func (q *queue) AddAfter(name string, d time.Duration) {
	if d <= 0 {
		q.Add(name)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	at := time.Now().Add(d)
	if p, ok := q.timers[name]; ok {
		if !p.at.After(at) {
			return
		}
		p.timer.Stop()
	}
	q.timers[name] = delayed{at: at, timer: time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if p, ok := q.timers[name]; ok && p.at.Equal(at) {
			delete(q.timers, name)
		}
		q.add(name, time.Now())
	})}
}

// AddRateLimited adds name after its backoff: base, doubled for each failure
// since Forget, at most max.
func (q *queue) AddRateLimited(name string) {
	q.mu.Lock()
	n := q.failures[name]
	q.failures[name] = n + 1
	q.mu.Unlock()
	q.AddAfter(name, q.backoff(n))
}

func (q *queue) backoff(failures int) time.Duration {
	d := q.base
	for range failures {
		if d *= 2; d >= q.max {
			return q.max
		}
	}
	return min(d, q.max)
}

// Forget clears name's failures: its next failure waits base again.
func (q *queue) Forget(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, name)
}

// Failures is how often name failed since Forget.
func (q *queue) Failures(name string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[name]
}

// Due is when a pending AddAfter adds name (ok false: none pending).
func (q *queue) Due(name string) (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.timers[name]
	return p.at, ok
}

// Len is how many names wait to be handed out.
func (q *queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready)
}

// Stop cancels the pending AddAfters.
func (q *queue) Stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for name, p := range q.timers {
		p.timer.Stop()
		delete(q.timers, name)
	}
}
