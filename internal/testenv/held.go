package testenv

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// Held is an http.RoundTripper that holds the requests Match picks until Let,
// so a test can stop a caller mid-way (a Close at its listing, an upload) and
// look around without sleeping. Arrived is told, without blocking, when a held
// request arrives. Holding starts at once, or at Hold when made with NewHeld's
// later true.
type Held struct {
	next    http.RoundTripper
	match   func(*http.Request) bool
	holding atomic.Bool
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// NewHeld holds what match picks on its way to next (http.DefaultTransport
// when nil); with later, only from Hold on.
func NewHeld(next http.RoundTripper, later bool, match func(*http.Request) bool) *Held {
	if next == nil {
		next = http.DefaultTransport
	}
	h := &Held{next: next, match: match, arrived: make(chan struct{}, 1), release: make(chan struct{})}
	h.holding.Store(!later)
	return h
}

func (h *Held) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.holding.Load() && h.match(r) {
		select {
		case h.arrived <- struct{}{}:
		default:
		}
		select {
		case <-h.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return h.next.RoundTrip(r)
}

// Hold starts holding.
func (h *Held) Hold() { h.holding.Store(true) }

// Arrived is told when a request is held.
func (h *Held) Arrived() <-chan struct{} { return h.arrived }

// Let lets every held request, and every later one, go.
func (h *Held) Let() { h.once.Do(func() { close(h.release) }) }
