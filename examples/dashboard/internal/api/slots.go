package api

import "sync"

// Slots counts what each principal holds open, so that one viewer cannot take
// a cap every viewer shares. Its map holds only principals with something open.
type Slots struct {
	mu   sync.Mutex
	held map[string]int
}

// Take reserves one of at most max slots for p; false when p holds max already.
func (c *Slots) Take(p string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = map[string]int{}
	}
	if c.held[p] >= max {
		return false
	}
	c.held[p]++
	return true
}

// Give returns a slot take reserved.
func (c *Slots) Give(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[p] <= 1 {
		delete(c.held, p)
		return
	}
	c.held[p]--
}
