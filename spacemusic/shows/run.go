package shows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/capture"
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

// arm starts what the plan wants and is not running.
//
// An ingest's recording starts on its audio track, not at its participant's join:
// egress v1.8.6's participant egress cannot be audio-only (Ogg is refused) and,
// started before a track, waits 3 s before building its pipeline, so it began no
// earlier on the real stack (README, "Shows").
func (s *Service) arm(ctx context.Context, name string, a *armed, who []string, snap *events.Snapshot, seen time.Time) {
	sp := a.env.Spec.spec(name)
	src := who[0]
	if sp.Ingest.Kind != NoIngest {
		src = sp.ingestIdentity()
		if !slices.Contains(who, src) {
			return // a performer warming up before the ingest: the show is its ingest
		}
	}
	wants := slices.Clone(sp.Record)
	s.mu.Lock()
	dests := slices.Clone(s.dests[name])
	s.mu.Unlock()
	if len(sp.Restream) > 0 {
		if len(dests) > 0 {
			wants = append(wants, "restream")
		} else if !a.warned {
			a.warned = true
			s.cfg.Logger.Warn("shows: the show restreams but this process does not know where; Open its spec again", "show", name)
		}
	}
	var todo []string
	for _, k := range wants {
		if k == RecordAudio && s.capturing(a) {
			continue // the show's own recorder has it from the first note
		}
		if k == RecordStems {
			if tracks := audioTracks(snap, name); tracks != a.stems {
				todo = append(todo, k)
			}
		} else if a.running[k] == "" && (k != RecordVideo || sendsVideo(snap, name, src)) {
			// Video waits for the source's video track, which may be published a
			// moment after its audio: started earlier it would only be refused.
			todo = append(todo, k)
		}
	}
	if len(todo) == 0 {
		return
	}
	// Metadata may have changed since we learned it (another replica's Close):
	// read it again before starting anything.
	found, err := s.cfg.Rooms.List(ctx, name)
	if err != nil || len(found) == 0 {
		return
	}
	if env, err := s.read("shows.Run", name, found[0].Metadata); errors.Is(err, ErrTampered) {
		s.tampered(name, found[0].SID, found[0].Metadata, err) // not obeyed: a.env stays
	} else if err != nil || env.Closing {
		a.env.Closing = err == nil
		return
	}
	a.retry = time.Time{}
	for _, k := range todo {
		if t := a.tried[k]; !t.IsZero() && time.Since(t) < retryAfter {
			a.later(t.Add(retryAfter))
			continue
		}
		a.tried[k] = time.Now()
		var started []egress.Egress
		var err error
		switch k {
		case RecordAudio:
			var e egress.Egress
			e, err = s.cfg.Egress.RecordAudio(ctx, name, egress.AudioOptions{Identity: src})
			started = []egress.Egress{e}
		case RecordVideo:
			var e egress.Egress
			e, err = s.cfg.Egress.RecordVideo(ctx, name, egress.VideoOptions{Identity: src})
			started = []egress.Egress{e}
		case RecordHLS:
			var e egress.Egress
			e, err = s.cfg.Egress.HLS(ctx, name, src)
			started = []egress.Egress{e}
		case "restream":
			var e egress.Egress
			e, err = s.cfg.Egress.Restream(ctx, name, src, dests...)
			started = []egress.Egress{e}
		case RecordStems:
			tracks := audioTracks(snap, name)
			started, err = s.cfg.Egress.RecordStems(ctx, name)
			if err == nil {
				a.stems = tracks
			}
		}
		if err != nil {
			s.cfg.Logger.Warn("shows: starting a part failed; trying again", "show", name, "part", k, "error", err.Error())
			a.later(time.Now().Add(retryAfter))
			continue
		}
		for _, e := range started {
			key := k
			if k == RecordStems {
				key = "stem/" + e.ID
			}
			a.running[key] = e.ID
			s.started(Started{Show: name, Kind: k, ID: e.ID, After: time.Since(seen)})
		}
	}
}

func (a *armed) later(t time.Time) {
	if a.retry.IsZero() || t.Before(a.retry) {
		a.retry = t
	}
}

// stopParts stops the running parts when the music stopped: each part is then
// one stretch of music, and a new one begins when it comes back.
func (s *Service) stopParts(ctx context.Context, name string, a *armed) {
	for k, id := range a.running {
		_, err := s.cfg.Egress.Stop(ctx, id)
		if err != nil && !errors.Is(err, errs.ErrFailedPrecondition) && !errors.Is(err, errs.ErrNotFound) {
			s.cfg.Logger.Warn("shows: stopping a part failed", "show", name, "part", k, "error", err.Error())
			continue
		}
		delete(a.running, k)
	}
	a.stems = ""
}

// sendsVideo reports whether identity publishes a video track on the stage.
func sendsVideo(snap *events.Snapshot, name, identity string) bool {
	r := snap.Rooms[name]
	if r == nil {
		return false
	}
	for _, p := range r.Participants {
		if p.Identity == identity && slices.ContainsFunc(p.Tracks, func(t events.Track) bool { return t.Kind == "video" }) {
			return true
		}
	}
	return false
}

// audioTracks names the audio tracks performers and the ingest publish.
func audioTracks(snap *events.Snapshot, name string) string {
	r := snap.Rooms[name]
	if r == nil {
		return ""
	}
	var sids []string
	for _, p := range r.Participants {
		if p.Role != events.Performer && p.Role != events.Ingest {
			continue
		}
		for _, t := range p.Tracks {
			if t.Kind == "audio" {
				sids = append(sids, t.SID)
			}
		}
	}
	slices.Sort(sids)
	return strings.Join(sids, ",")
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

// capturing reports whether the show's audio is the recorder's.
func (s *Service) capturing(a *armed) bool {
	return s.cfg.Capture != nil && slices.Contains(a.env.Spec.spec("").Record, RecordAudio)
}

// armCapture has the recorder in the room from the moment the show is armed,
// so it holds the source's audio from its first packet; when the music is off
// it uploads what a dead process left spooled.
func (s *Service) armCapture(ctx context.Context, name string, a *armed, live bool, seen time.Time) {
	sp := a.env.Spec.spec(name)
	src := ""
	if sp.Ingest.Kind != NoIngest {
		src = sp.ingestIdentity()
	}
	if live && (!a.wasLive || !a.quiet.IsZero()) {
		s.mu.Lock()
		s.liveAt[name] = seen
		s.mu.Unlock()
	}
	if !s.cfg.Capture.Armed(name) {
		// Joining creates a room that is gone: read it again first, as arm
		// does before starting anything (another replica's Close).
		found, err := s.cfg.Rooms.List(ctx, name)
		if err != nil || len(found) == 0 {
			return
		}
		if env, err := s.read("shows.Run", name, found[0].Metadata); errors.Is(err, ErrTampered) {
			s.tampered(name, found[0].SID, found[0].Metadata, err) // not obeyed: a.env stays
		} else if err != nil || env.Closing {
			return
		}
	}
	if err := s.cfg.Capture.Arm(ctx, name, src); err != nil {
		s.cfg.Logger.Warn("shows: the recorder cannot join; trying again", "show", name, "error", err.Error())
		a.later(time.Now().Add(retryAfter))
		return
	}
	if !live {
		if err := s.cfg.Capture.Settle(ctx, name); err != nil {
			s.cfg.Logger.Warn("shows: uploading a spooled part failed; trying again", "show", name, "error", err.Error())
			a.later(time.Now().Add(retryAfter))
		}
	}
}

// captured tells the watched model about the recorder's parts, as egress's
// webhooks tell it about egress's: the show's phase, timeline and Starts read it.
func (s *Service) captured(p capture.Part) {
	e := events.Event{Room: p.Room, At: time.Now().UTC(), Recording: &events.Recording{Egress: egress.Egress{
		ID: p.ID, Room: p.Room, Kind: RecordAudio, Status: p.Status, Error: p.Error, StartedAt: p.StartedAt, EndedAt: p.EndedAt}}}
	switch p.Status {
	case egress.Active:
		e.Kind = events.RecordingStarted
		s.mu.Lock()
		at := s.liveAt[p.Room]
		s.mu.Unlock()
		x := Started{Show: p.Room, Kind: RecordAudio, ID: p.ID}
		if !at.IsZero() {
			x.After = time.Since(at)
		}
		s.started(x)
	default:
		e.Kind = events.RecordingEnded
		e.Recording.Files = []egress.File{{Key: p.Key, Size: p.Size, Duration: p.Duration}}
		if !p.EndedAt.IsZero() && !p.StartedAt.IsZero() {
			e.Recording.Duration = p.EndedAt.Sub(p.StartedAt)
		}
	}
	if s.cfg.Watch == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := s.cfg.Watch.Apply(ctx, e); err != nil {
		s.cfg.Logger.Warn("shows: the model did not take a recording event", "show", p.Room, "error", err.Error())
	}
}
