package shows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

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
