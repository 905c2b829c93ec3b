package nodes

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// placementMaxAge is how old the node placement that GET /api/shows(/{name})
// and GET /api/nodes answer from may be. The page asks on every event; without
// the cache every request would be an HSCAN and an HMGET on LiveKit's Redis. It
// is well under the resync period (30 s by default), so a lost show is still
// marked within one resync.
const placementMaxAge = time.Second

// placementRooms bounds the rooms one reading asks for; placementWanted is how
// long a room asked for once is kept in the readings after.
const (
	placementRooms  = 1024
	placementWanted = 30 * time.Second
)

// placement is one shared reading of LiveKit's nodes and of where the rooms
// asked for lately are: at most one reading runs at a time, and while it runs
// callers get the one before it when that one covers their rooms. A Redis that
// stops answering is logged once, and once again when it answers.
type placement struct {
	nodes  Reader
	log    *slog.Logger
	maxAge time.Duration

	mu      sync.Mutex
	cur     *placed              // the last reading; nil: none yet
	wanted  map[string]time.Time // room -> when it was last asked for
	running chan struct{}        // closed when the reading in flight finishes; nil: none
	down    time.Time            // when Redis stopped answering; zero: it answers
}

// placed is one reading, the rooms it asked for, and its error.
type placed struct {
	reading Reading
	asked   map[string]bool
	err     error
	at      time.Time
}

func newPlacement(n Reader, log *slog.Logger) *placement {
	return &placement{nodes: n, log: log, maxAge: placementMaxAge, wanted: map[string]time.Time{}}
}

// covers reports whether p answers for rooms: an error answers for any.
func (p *placed) covers(rooms []string) bool {
	if p.err != nil {
		return true
	}
	for _, r := range rooms {
		if !p.asked[r] {
			return false
		}
	}
	return true
}

// read answers the nodes and where rooms are, from a reading at most maxAge
// old, or the one before while a newer one runs. A caller that gives up only
// stops waiting: the reading runs on its own deadline (Nodes.Read's).
func (pl *placement) read(ctx context.Context, rooms []string) (Reading, error) {
	for range 3 { // a reading that did not cover these rooms: ask again, bounded
		pl.mu.Lock()
		now := time.Now()
		for _, r := range rooms {
			pl.wanted[r] = now
		}
		if c := pl.cur; c != nil && c.covers(rooms) && (now.Sub(c.at) <= pl.maxAge || pl.running != nil) {
			pl.mu.Unlock()
			return c.reading, c.err
		}
		running := pl.running
		if running == nil {
			running = make(chan struct{})
			pl.running = running
			go pl.refresh(pl.askLocked(rooms, now), running)
		}
		pl.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return Reading{}, ctx.Err()
		}
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.cur.reading, pl.cur.err // rooms it did not ask for have no node
}

// askLocked is the rooms the next reading asks for: these, then those asked for
// within placementWanted, up to placementRooms; the others are forgotten.
func (pl *placement) askLocked(rooms []string, now time.Time) []string {
	ask := make([]string, 0, len(pl.wanted))
	seen := make(map[string]bool, len(pl.wanted))
	for _, r := range rooms {
		if !seen[r] && len(ask) < placementRooms {
			seen[r] = true
			ask = append(ask, r)
		}
	}
	for r, at := range pl.wanted {
		switch {
		case now.Sub(at) > placementWanted:
			delete(pl.wanted, r)
		case !seen[r] && len(ask) < placementRooms:
			seen[r] = true
			ask = append(ask, r)
		}
	}
	return ask
}

func (pl *placement) refresh(rooms []string, done chan struct{}) {
	reading, err := pl.nodes.Read(context.Background(), rooms)
	p := &placed{reading: reading, err: err, at: time.Now(), asked: make(map[string]bool, len(rooms))}
	for _, r := range rooms {
		p.asked[r] = true
	}
	pl.mu.Lock()
	switch {
	case err != nil && pl.down.IsZero():
		pl.down = p.at
		pl.log.Warn("nodes: LiveKit's Redis did not answer; shows are listed without their nodes, and GET /api/nodes answers 503, until it does",
			"error", err.Error())
	case err == nil && !pl.down.IsZero():
		pl.log.Info("nodes: LiveKit's Redis answers again", "down_for", p.at.Sub(pl.down).Round(time.Millisecond).String())
		pl.down = time.Time{}
	}
	pl.cur, pl.running = p, nil
	pl.mu.Unlock()
	close(done)
}
