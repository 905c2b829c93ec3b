package capture

import (
	"sync"
	"time"
)

// seenParts remembers what the stat of an uploaded object said (whose part it
// is, when it began and ended, how long it plays), by key, size and time: an
// uploaded part never changes, so a show's GET need not stat every part again.
// An object written anew (another size or time) is a new entry. Bounded: when
// full it starts again.
type seenParts struct {
	mu sync.Mutex
	m  map[seenKey]seenPart
}

type seenKey struct {
	key  string
	size int64
	at   time.Time
}

type seenPart struct {
	ours bool // written by a Recorder (egress writes .ogg files too)
	part Part
}

const maxSeenParts = 1 << 16

func (c *seenParts) get(k seenKey) (seenPart, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[k]
	return p, ok
}

func (c *seenParts) put(k seenKey, p seenPart) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxSeenParts {
		c.m = map[seenKey]seenPart{}
	}
	c.m[k] = p
}
