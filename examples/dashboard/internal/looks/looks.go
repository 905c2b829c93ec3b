// Package looks shares one look at a backend (a show's state, a room's
// archive listing) among the requests that ask for it at once, and keeps it
// while the live model says nothing it holds has changed.
package looks

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Looks answers a read that costs backend calls (a show's state, a room's
// archive listing) from one look shared by its callers: one look per key at a
// time (the callers arriving meanwhile wait for it), kept for at most size
// keys. A look is good for ttl while the live model has not moved on (no event
// since: nothing it holds has changed that the model knows of), and for minAge
// in any case, so a key that keeps changing costs at most one look per minAge.
// Without a model (rev 0 always), a look is good for ttl.
type Looks[T any] struct {
	ttl, minAge time.Duration
	size        int

	mu sync.Mutex
	m  map[string]*look[T]
}

func New[T any](ttl, minAge time.Duration, size int) *Looks[T] {
	return &Looks[T]{ttl: ttl, minAge: minAge, size: size, m: map[string]*look[T]{}}
}

// look is one look at a key: done is closed when v and err are in.
type look[T any] struct {
	done chan struct{}
	at   time.Time
	rev  uint64 // the live model's revision when the look began
	v    T
	err  error
}

// Get answers key from a fresh look, or takes one with load. rev is the live
// model's revision now (0 without a model).
func (c *Looks[T]) Get(ctx context.Context, key string, rev uint64, load func(context.Context) (T, error)) (T, error) {
	now := time.Now()
	c.mu.Lock()
	l, ok := c.m[key]
	if !ok || (l.finished() && !c.fresh(l, now, rev)) {
		c.makeRoom(now)
		l = &look[T]{done: make(chan struct{}), at: now, rev: rev}
		c.m[key] = l
		go func() {
			// The look outlives the caller who started it: others wait for it.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			l.v, l.err = load(lctx)
			l.at = time.Now()
			if l.err != nil && (errors.Is(l.err, context.Canceled) || errors.Is(l.err, context.DeadlineExceeded)) {
				c.mu.Lock()
				if c.m[key] == l {
					delete(c.m, key) // not an answer worth keeping
				}
				c.mu.Unlock()
			}
			close(l.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-l.done:
		return l.v, l.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// fresh: young enough, or young and nothing has happened since; l is finished.
func (c *Looks[T]) fresh(l *look[T], now time.Time, rev uint64) bool {
	age := now.Sub(l.at)
	return age <= c.minAge || (age <= c.ttl && rev == l.rev)
}

func (l *look[T]) finished() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// makeRoom drops stale looks when the cache is full, then any finished one;
// mu is held.
func (c *Looks[T]) makeRoom(now time.Time) {
	if len(c.m) < c.size {
		return
	}
	for k, l := range c.m {
		if l.finished() && now.Sub(l.at) > c.ttl {
			delete(c.m, k)
		}
	}
	for k, l := range c.m {
		if len(c.m) < c.size {
			return
		}
		if l.finished() {
			delete(c.m, k)
		}
	}
}

// Forget drops key's look: this dashboard just changed what it holds.
func (c *Looks[T]) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
