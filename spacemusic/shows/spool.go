package shows

import (
	"strconv"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// Spool is the show recorder's spool (ok false without a recorder): for the
// dashboard's metrics.
func (s *Service) Spool() (capture.SpoolStats, bool) {
	if s.cfg.Capture == nil {
		return capture.SpoolStats{}, false
	}
	return s.cfg.Capture.Spool(), true
}

// spoolProblem is the show's problem while its recorder's spool is full.
func (s *Service) spoolProblem(name string) string {
	if s.cfg.Capture == nil {
		return ""
	}
	why := s.cfg.Capture.SpoolFull(name)
	if why == "" {
		return ""
	}
	return "the recorder's spool is full (" + why + "): the show's new audio is not recorded until parts are uploaded or space is freed; nothing already spooled is lost"
}

// spoolChanged tells the watched model (and so the show's story and the event
// stream) that the recorder stopped writing the show's audio, or goes on.
func (s *Service) spoolChanged(ev capture.SpoolEvent) {
	e := events.Event{Kind: events.SpoolResumed, Room: ev.Room, At: time.Now().UTC(),
		Spool: &events.Spool{Bytes: ev.Stats.Bytes, MaxBytes: ev.Stats.MaxBytes, Why: ev.Why}}
	if ev.Full {
		e.Kind = events.SpoolFull
	}
	// Nothing else identifies it: each is its own event, not a retry.
	e.ID = "spool-" + strconv.FormatInt(e.At.UnixNano(), 36)
	s.tell(e, "a spool event")
}
