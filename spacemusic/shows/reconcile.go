package shows

import (
	"context"
	"errors"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// errUnanswered: LiveKit did not answer while the controller learned a show;
// the show is tried again after its backoff.
var errUnanswered = errors.New("shows: LiveKit did not answer")

// reconcile brings one show's parts in line with the model as it is now:
// whether its music plays, who plays it, whether it is closing. seen is when
// the show was queued (parts' Started.After count from it). An error has the
// show tried again after its backoff; everything it did is kept.
func (c *controller) reconcile(ctx context.Context, name string, seen time.Time) error {
	snap := c.model.Snapshot()
	r := snap.Rooms[name]
	a := c.state(name)
	if r == nil {
		if a != nil { // the room closed: so did the show
			c.keep(name, nil)
			c.queue.Forget(name)
			c.shows.forget(name)
		}
		return nil
	}
	if a == nil || (a.sid != r.SID && r.SID != "") {
		if a = c.learn(ctx, name, r.SID, r.Metadata); a == nil {
			return errUnanswered
		}
		c.keep(name, a)
	}
	defer c.endAfter(ctx, name, a)
	c.settle(a)
	if env, stale := c.takeStale(name); stale && a.show {
		a.env = env
	}
	c.checkSeal(name, r, a)
	if !a.show || c.shows.beingClosed(name) || a.env.Closing || a.ending {
		return nil
	}
	who, live := liveAudio(snap, name)
	var err error
	if c.capturing(a) {
		err = c.armCapture(ctx, name, a, live, seen)
	}
	if !live {
		if a.wasLive && a.quiet.IsZero() {
			a.quiet = seen
			c.stopParts(ctx, name, a)
		}
		return err
	}
	a.wasLive, a.quiet = true, time.Time{}
	return errors.Join(err, c.arm(ctx, name, a, who, snap, seen))
}

// learn reads whether the room is a show, and which of its parts already run (a
// restarted process finds them in LiveKit). seen is the room's metadata in the
// model, already judged here. Nil when LiveKit did not answer.
func (c *controller) learn(ctx context.Context, name, sid, seen string) *armed {
	a := &armed{sid: sid, running: map[string]string{}, tried: map[string]time.Time{}, checked: seen}
	found, err := c.rooms.List(ctx, name)
	if err != nil {
		c.log.Warn("shows: cannot read the room", "room", name, "error", err.Error())
		return nil
	}
	if len(found) == 0 {
		return a
	}
	env, err := c.shows.read("shows.Run", name, found[0].Metadata)
	if errors.Is(err, ErrTampered) {
		// Not obeyed: the last good spec this process knows, or nothing.
		c.shows.tampered(name, found[0].SID, found[0].Metadata, err)
		if good, ok := c.shows.lastGood(name); ok {
			env, err = good, nil
		}
	}
	if err != nil {
		if !errors.Is(err, errNotAShow) {
			c.log.Warn("shows: a show's metadata cannot be read; it records nothing more", "room", name, "error", err.Error())
		}
		return a
	}
	a.show, a.env = true, env
	running, err := c.egress.List(ctx, egress.ListOptions{Room: name, Active: true})
	if err != nil {
		c.log.Warn("shows: cannot list the show's recordings", "room", name, "error", err.Error())
		return nil
	}
	for _, e := range running {
		switch e.Kind {
		case "stem":
			a.running["stem/"+e.ID] = e.ID
		default:
			a.running[e.Kind] = e.ID
		}
	}
	return a
}

// settle forgets the parts the model saw end.
func (c *controller) settle(a *armed) {
	for k, id := range a.running {
		if c.ended.has(id) {
			delete(a.running, k)
		}
	}
}

// checkSeal reports a show's metadata that changed in the model to one whose
// seal does not verify: now, not only when the controller next reads it. It
// is never adopted here.
func (c *controller) checkSeal(name string, r *events.Room, a *armed) {
	if !a.show || r.Metadata == a.checked {
		return
	}
	a.checked = r.Metadata
	if _, err := c.shows.read("shows.Run", name, r.Metadata); errors.Is(err, ErrTampered) {
		c.shows.tampered(name, r.SID, r.Metadata, err)
	}
}

// endAfter closes a show whose music stayed quiet for its spec's EndAfter;
// until then the queue brings the show back when it is due.
func (c *controller) endAfter(ctx context.Context, name string, a *armed) {
	if !a.show || !a.wasLive || a.quiet.IsZero() || a.ending || a.env.Spec.EndAfter <= 0 {
		return
	}
	if wait := a.quiet.Add(time.Duration(a.env.Spec.EndAfter) * time.Second).Sub(c.now()); wait > 0 {
		c.queue.AddAfter(name, wait)
		return
	}
	a.ending = true
	c.closes.Add(1)
	go func() {
		defer c.closes.Done()
		if _, err := c.shows.Close(ctx, name); err != nil && !errors.Is(err, errs.ErrNotFound) {
			c.log.Warn("shows: closing a quiet show failed", "show", name, "error", err.Error())
		}
	}()
}

// stillOpen reads the show's metadata again before anything joins or starts:
// it may have changed since the controller learned it (another replica's
// Close), and joining a room that is gone opens it again. A tampered spec is
// reported and not obeyed: a.env stays.
func (c *controller) stillOpen(ctx context.Context, name string, a *armed) (bool, error) {
	found, err := c.rooms.List(ctx, name)
	if err != nil {
		c.log.Warn("shows: cannot read the room", "room", name, "error", err.Error())
		return false, err
	}
	if len(found) == 0 {
		return false, nil
	}
	env, err := c.shows.read("shows.Run", name, found[0].Metadata)
	switch {
	case errors.Is(err, ErrTampered):
		c.shows.tampered(name, found[0].SID, found[0].Metadata, err)
	case err != nil:
		return false, nil
	case env.Closing:
		a.env.Closing = true
		return false, nil
	}
	return true, nil
}
