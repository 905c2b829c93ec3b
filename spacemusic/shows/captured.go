package shows

import (
	"context"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

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
	s.tell(e, "a recording event")
}

// tell applies an event of the Service's own to the watched model, when there
// is one; what names the event in the warning if the model does not take it.
func (s *Service) tell(e events.Event, what string) {
	if s.cfg.Watch == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := s.cfg.Watch.Apply(ctx, e); err != nil {
		s.cfg.Logger.Warn("shows: the model did not take "+what, "show", e.Room, "error", err.Error())
	}
}
