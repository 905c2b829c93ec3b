package shows

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// What the controller needs of the services it drives, and no more: the real
// ones (*rooms.Service, *egress.Service, *capture.Recorder, *events.Watch)
// satisfy them, and the controller's tests drive fakes.
type (
	// roomReader reads a show's room, with its metadata, from LiveKit.
	roomReader interface {
		List(ctx context.Context, names ...string) ([]rooms.Room, error)
	}
	// partStarter starts and stops a show's parts on egress.
	partStarter interface {
		List(ctx context.Context, o egress.ListOptions) ([]egress.Egress, error)
		RecordAudio(ctx context.Context, room string, o egress.AudioOptions) (egress.Egress, error)
		RecordVideo(ctx context.Context, room string, o egress.VideoOptions) (egress.Egress, error)
		HLS(ctx context.Context, room, identity string) (egress.Egress, error)
		Restream(ctx context.Context, room, identity string, urls ...string) (egress.Egress, error)
		RecordStems(ctx context.Context, room string) ([]egress.Egress, error)
		Stop(ctx context.Context, id string) (egress.Egress, error)
	}
	// recorder is the show's own audio recorder (package capture).
	recorder interface {
		Armed(room string) bool
		Arm(ctx context.Context, room, source string) error
		Settle(ctx context.Context, room string) error
		Close()
	}
	// model is the watched model of LiveKit the controller follows.
	model interface {
		Snapshot() *events.Snapshot
		Wait(ctx context.Context, after uint64) ([]events.Event, error)
	}
	// book is what the Service knows of its shows that the controller
	// reads and tells (*Service): sealed specs, secrets kept in memory,
	// Closes under way, the parts started; and Close, for EndAfter.
	book interface {
		read(op, room, md string) (envelope, error)
		tampered(room, sid, md string, err error)
		lastGood(room string) (envelope, bool)
		forget(name string)
		destinations(name string) []string
		beingClosed(name string) bool
		started(x Started)
		wentLive(name string, at time.Time)
		Close(ctx context.Context, name string) (Report, error)
	}
)

// maxBackoff bounds how long a show whose reconcile failed waits to be tried
// again (from retryAfter, doubling).
const maxBackoff = 30 * time.Second

// workers is how many shows the controller reconciles at once: a slow start
// on one show's egress holds no other show.
const workers = 4

// controller is the level-triggered loop behind Run: it follows the model
// and reconciles one show at a time from its queue, bringing the show's parts
// in line with whether its music plays. What it keeps of a show (armed) is
// touched only by the worker handling that show.
type controller struct {
	rooms  roomReader
	egress partStarter
	rec    recorder // nil: egress records the audio too
	model  model
	shows  book
	log    *slog.Logger
	now    func() time.Time
	queue  *queue

	mu      sync.Mutex
	running bool
	st      map[string]*armed
	stale   map[string]envelope // shows whose spec Open changed, with the spec it wrote
	ended   *endedSet           // recordings the model saw end
	closes  sync.WaitGroup      // EndAfter's Closes
}

func newController(rr roomReader, ps partStarter, rec recorder, m model, b book, log *slog.Logger) *controller {
	return &controller{rooms: rr, egress: ps, rec: rec, model: m, shows: b, log: log, now: time.Now,
		queue: newQueue(retryAfter, maxBackoff), st: map[string]*armed{}, stale: map[string]envelope{}, ended: newEndedSet(4096)}
}

// run reconciles with its workers until ctx ends. The recorder closes when it
// returns (parts being recorded stay spooled for the next run), and run waits
// for the Closes EndAfter began.
func (c *controller) run(ctx context.Context) error {
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.work(ctx) {
			}
		}()
	}
	err := c.follow(ctx)
	wg.Wait()
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	c.queue.Stop()
	if c.rec != nil {
		c.rec.Close()
	}
	c.closes.Wait()
	return err
}

// follow queues every show the model has, then each show an event touches;
// it returns when ctx ends.
func (c *controller) follow(ctx context.Context) error {
	after := c.resync()
	for {
		evs, err := c.model.Wait(ctx, after)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, events.ErrGone):
			after = c.resync()
			continue
		case err != nil:
			c.log.Warn("shows: following the watch failed", "error", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, e := range evs {
			after = e.Revision
			c.observe(e)
		}
	}
}

// resync queues the model's rooms and the shows the controller knows (a
// show whose room is gone is forgotten) and returns the model's revision.
func (c *controller) resync() uint64 {
	snap := c.model.Snapshot()
	for _, n := range snap.RoomNames() {
		c.queue.Add(n)
	}
	c.mu.Lock()
	known := make([]string, 0, len(c.st))
	for n := range c.st {
		known = append(known, n)
	}
	c.mu.Unlock()
	for _, n := range known {
		c.queue.Add(n)
	}
	return snap.Revision
}

// observe queues the show an event is about; an ended recording is noted,
// as the model no longer lists it.
func (c *controller) observe(e events.Event) {
	if e.Kind == events.RecordingEnded && e.Recording != nil {
		c.ended.add(e.Recording.ID)
		if e.Room == "" {
			c.resync()
		}
	}
	if e.Room != "" {
		c.queue.Add(e.Room)
	}
}

// work reconciles the next show; a show that failed comes back after its
// backoff. It reports false when ctx ended.
func (c *controller) work(ctx context.Context) bool {
	name, since, ok := c.queue.Get(ctx)
	if !ok {
		return false
	}
	defer c.queue.Done(name)
	if err := c.reconcile(ctx, name, since); err != nil {
		if ctx.Err() == nil {
			c.queue.AddRateLimited(name)
		}
		return true
	}
	c.queue.Forget(name)
	return true
}

// changed tells a running controller that Open changed the show's spec (e.g.
// a restream added to a show that had none), handing it the envelope Open
// wrote. It is not read back from LiveKit: UpdateRoomMetadata reaches
// ListRooms asynchronously, and a read 2 ms later once gave the old spec, so
// the restream never started (seen in CI).
func (c *controller) changed(name string, env envelope) {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return // the next run learns every show
	}
	c.stale[name] = env
	c.mu.Unlock()
	c.queue.Add(name)
}

// takeStale is the spec Open last wrote for the show, once.
func (c *controller) takeStale(name string) (envelope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	env, stale := c.stale[name]
	delete(c.stale, name)
	return env, stale
}

func (c *controller) state(name string) *armed {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st[name]
}

func (c *controller) keep(name string, a *armed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a == nil {
		delete(c.st, name)
		delete(c.stale, name)
		return
	}
	c.st[name] = a
}

// endedSet is a bounded set of recording IDs that ended: the oldest go first.
type endedSet struct {
	mu    sync.Mutex
	ids   map[string]bool
	order []string
	max   int
}

func newEndedSet(max int) *endedSet { return &endedSet{ids: map[string]bool{}, max: max} }

func (s *endedSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] {
		return
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *endedSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}
