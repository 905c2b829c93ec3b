package shows

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// retryAfter spaces the starts of one part: a recording that cannot start, or
// ends at once, is tried again no sooner than this.
const retryAfter = 3 * time.Second

// armed is what Run knows of one open room session.
type armed struct {
	sid     string
	show    bool // the room is a show (its metadata says so)
	env     envelope
	running map[string]string // "audio", "video", "hls", "restream" -> egress ID; "stem/<ID>" -> ID
	stems   string            // the audio tracks RecordStems last saw
	tried   map[string]time.Time
	retry   time.Time // when a failed start is tried again
	wasLive bool
	quiet   time.Time // when the music stopped; zero while live
	warned  bool      // restream destinations unknown here, said once
	ending  bool      // EndAfter's Close is under way
}

// Started is one part Run started, with how long after the show went live.
type Started struct {
	Show  string
	Kind  string
	ID    string
	After time.Duration // from Run seeing the audio to LiveKit accepting the start (the recorder's audio: to its first packet)
}

// Run arms the shows: it follows the Watch and, when a show goes live (its ingest
// or a performer publishes audio), starts the show's recording plan and
// restreams; when the music stops it stops them, and when it comes back (OBS
// reconnecting) it starts new parts, which the show lists in order. With the
// spec's EndAfter, a show that stays quiet that long is closed. A show marked
// closing is left alone. Run returns when ctx ends; a failed start is logged and
// tried again. Several replicas must not Run at once (each would start the plan).
func (s *Service) Run(ctx context.Context) error {
	const op = "shows.Run"
	w := s.cfg.Watch
	if w == nil || s.cfg.Egress == nil {
		return errs.Invalid(op, "Run needs a Watch and an Egress")
	}
	st := map[string]*armed{}
	var closes sync.WaitGroup
	defer closes.Wait()
	if s.cfg.Capture != nil {
		defer s.cfg.Capture.Close() // parts being recorded stay spooled for the next Run
	}
	snap := w.Snapshot()
	after := snap.Revision
	for _, n := range snap.RoomNames() {
		s.reconcile(ctx, st, n, time.Now())
	}
	for {
		var wctx context.Context
		var cancel context.CancelFunc
		if next := s.due(st); !next.IsZero() {
			wctx, cancel = context.WithDeadline(ctx, next)
		} else {
			wctx, cancel = context.WithCancel(ctx)
		}
		woke := make(chan struct{})
		go func() {
			defer close(woke)
			select {
			case <-s.wake:
				cancel()
			case <-wctx.Done():
			}
		}()
		evs, err := w.Wait(wctx, after)
		cancel()
		<-woke
		seen := time.Now()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, events.ErrGone):
			snap = w.Snapshot()
			after = snap.Revision
			for _, n := range snap.RoomNames() {
				s.reconcile(ctx, st, n, seen)
			}
		case err != nil && wctx.Err() == nil:
			s.cfg.Logger.Warn("shows: following the watch failed", "error", err.Error())
			time.Sleep(time.Second)
		}
		touched := map[string]bool{}
		for _, e := range evs {
			after = e.Revision
			switch {
			case e.Kind == events.RoomClosed:
				if a := st[e.Room]; a != nil && (e.RoomSID == "" || e.RoomSID == a.sid) {
					delete(st, e.Room)
					s.forget(e.Room)
				}
				continue
			case e.Kind == events.RoomUpdated && e.Stage != nil && st[e.Room] != nil && st[e.Room].show:
				// Metadata changed: a tampered spec is reported now, not
				// only when Run next reads it; it is never adopted here.
				if _, err := s.read("shows.Run", e.Room, e.Stage.Metadata); errors.Is(err, ErrTampered) {
					s.tampered(e.Room, e.RoomSID, e.Stage.Metadata, err)
				}
			case e.Kind == events.RecordingEnded && e.Recording != nil:
				for _, a := range st {
					for k, id := range a.running {
						if id == e.Recording.ID {
							delete(a.running, k)
						}
					}
				}
			}
			if e.Room != "" {
				touched[e.Room] = true
			}
		}
		for n := range st {
			if a := st[n]; a.show && (!a.retry.IsZero() && !seen.Before(a.retry)) {
				touched[n] = true
			}
		}
		s.mu.Lock()
		for n := range s.stale {
			touched[n] = true
		}
		s.mu.Unlock()
		for n := range touched {
			s.reconcile(ctx, st, n, seen)
		}
		s.endQuiet(ctx, st, &closes)
	}
}

// due is the next time Run must look without an event: a retry or an EndAfter.
func (s *Service) due(st map[string]*armed) time.Time {
	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, a := range st {
		soonest(a.retry)
		if a.show && a.wasLive && !a.quiet.IsZero() && !a.ending && a.env.Spec.EndAfter > 0 {
			soonest(a.quiet.Add(time.Duration(a.env.Spec.EndAfter) * time.Second))
		}
	}
	return next
}

// endQuiet closes the shows that stayed quiet for their EndAfter.
func (s *Service) endQuiet(ctx context.Context, st map[string]*armed, closes *sync.WaitGroup) {
	for n, a := range st {
		if !a.show || !a.wasLive || a.quiet.IsZero() || a.ending || a.env.Spec.EndAfter <= 0 ||
			time.Since(a.quiet) < time.Duration(a.env.Spec.EndAfter)*time.Second {
			continue
		}
		a.ending = true
		closes.Add(1)
		go func() {
			defer closes.Done()
			if _, err := s.Close(ctx, n); err != nil && !errors.Is(err, errs.ErrNotFound) {
				s.cfg.Logger.Warn("shows: closing a quiet show failed", "show", n, "error", err.Error())
			}
		}()
	}
}

// reconcile brings one room's recordings in line with whether its music plays.
func (s *Service) reconcile(ctx context.Context, st map[string]*armed, name string, seen time.Time) {
	snap := s.cfg.Watch.Snapshot()
	r := snap.Rooms[name]
	if r == nil {
		return
	}
	a := st[name]
	if a == nil || (a.sid != r.SID && r.SID != "") {
		a = s.learn(ctx, name, r.SID)
		if a == nil {
			return // LiveKit did not answer: the next event tries again
		}
		st[name] = a
	}
	s.mu.Lock()
	closing, stale := s.closing[name], s.stale[name]
	delete(s.stale, name)
	s.mu.Unlock()
	if stale && a.show { // e.g. a restream added to a show that had none
		if fresh := s.learn(ctx, name, r.SID); fresh != nil && fresh.show {
			a.env = fresh.env
		}
	}
	if !a.show || closing || a.env.Closing || a.ending {
		return
	}
	who, live := liveAudio(snap, name)
	if s.capturing(a) {
		s.armCapture(ctx, name, a, live, seen)
	}
	if !live {
		if a.wasLive && a.quiet.IsZero() {
			a.quiet = seen
			s.stopParts(ctx, name, a)
		}
		return
	}
	a.wasLive, a.quiet = true, time.Time{}
	s.arm(ctx, name, a, who, snap, seen)
}

// learn reads whether the room is a show, and which of its parts already run (a
// restarted process finds them in LiveKit).
func (s *Service) learn(ctx context.Context, name, sid string) *armed {
	a := &armed{sid: sid, running: map[string]string{}, tried: map[string]time.Time{}}
	found, err := s.cfg.Rooms.List(ctx, name)
	if err != nil {
		s.cfg.Logger.Warn("shows: cannot read the room", "room", name, "error", err.Error())
		return nil
	}
	if len(found) == 0 {
		return a
	}
	env, err := s.read("shows.Run", name, found[0].Metadata)
	if errors.Is(err, ErrTampered) {
		// Not obeyed: the last good spec this process knows, or nothing.
		s.tampered(name, found[0].SID, found[0].Metadata, err)
		if good, ok := s.lastGood(name); ok {
			env, err = good, nil
		}
	}
	if err != nil {
		if !errors.Is(err, errNotAShow) {
			s.cfg.Logger.Warn("shows: a show's metadata cannot be read; it records nothing more", "room", name, "error", err.Error())
		}
		return a
	}
	a.show, a.env = true, env
	running, err := s.cfg.Egress.List(ctx, egress.ListOptions{Room: name, Active: true})
	if err != nil {
		s.cfg.Logger.Warn("shows: cannot list the show's recordings", "room", name, "error", err.Error())
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

// started records a part Run started, for Starts.
func (s *Service) started(x Started) {
	s.cfg.Logger.Info("shows: part started", "show", x.Show, "part", x.Kind, "id", x.ID, "after", x.After)
	s.mu.Lock()
	s.starts = append(s.starts, x)
	if len(s.starts) > maxReports {
		s.starts = s.starts[1:]
	}
	s.mu.Unlock()
}

// Starts returns the parts Run started (the last 256), oldest first, with how
// long each took from the music starting.
func (s *Service) Starts() []Started {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.starts)
}
