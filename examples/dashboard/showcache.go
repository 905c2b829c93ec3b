package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// A show's GET asks LiveKit three times (the room, its ingress, its egresses)
// and the bucket for the recorder's parts: pages polling it, or a viewer
// reloading in a loop, would each pay that. showCache answers a show from one
// look, one look at a time (the callers arriving meanwhile wait for it), for at
// most showCacheSize shows. A look is good for showTTL while the live model has
// not moved on (no event since: nothing the show's answer holds has changed
// that the model knows of), and for showMinAge in any case, so a show that
// moves (or a join/leave flood) costs at most one look per showMinAge.
const (
	showTTL       = 2 * time.Second
	showMinAge    = 250 * time.Millisecond
	showCacheSize = 256
)

type showCache struct {
	mu sync.Mutex
	m  map[string]*showLook
}

// showLook is one look at a show: done is closed when sh and err are in.
type showLook struct {
	done chan struct{}
	at   time.Time
	rev  uint64 // the live model's revision when the look began
	sh   shows.Show
	err  error
}

// get answers name's show from a fresh look, or takes one with load. rev is the
// live model's revision now (0 without a model).
func (c *showCache) get(ctx context.Context, name string, rev uint64, load func(context.Context) (shows.Show, error)) (shows.Show, error) {
	now := time.Now()
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*showLook{}
	}
	l, ok := c.m[name]
	if !ok || (l.finished() && !l.fresh(now, rev)) {
		c.makeRoom(now)
		l = &showLook{done: make(chan struct{}), at: now, rev: rev}
		c.m[name] = l
		go func() {
			// The look outlives the caller who started it: others wait for it.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			l.sh, l.err = load(lctx)
			l.at = time.Now()
			if l.err != nil && (errors.Is(l.err, context.Canceled) || errors.Is(l.err, context.DeadlineExceeded)) {
				c.mu.Lock()
				if c.m[name] == l {
					delete(c.m, name) // not an answer worth keeping
				}
				c.mu.Unlock()
			}
			close(l.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-l.done:
		return l.sh, l.err
	case <-ctx.Done():
		return shows.Show{}, ctx.Err()
	}
}

// fresh: young enough, or young and nothing has happened since; l is finished.
func (l *showLook) fresh(now time.Time, rev uint64) bool {
	age := now.Sub(l.at)
	return age <= showMinAge || (age <= showTTL && rev == l.rev)
}

func (l *showLook) finished() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// makeRoom drops stale looks when the cache is full, then any finished one;
// mu is held.
func (c *showCache) makeRoom(now time.Time) {
	if len(c.m) < showCacheSize {
		return
	}
	for k, l := range c.m {
		if l.finished() && now.Sub(l.at) > showTTL {
			delete(c.m, k)
		}
	}
	for k, l := range c.m {
		if len(c.m) < showCacheSize {
			return
		}
		if l.finished() {
			delete(c.m, k)
		}
	}
}

// forget drops name's look: this dashboard just changed the show.
func (c *showCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
}
