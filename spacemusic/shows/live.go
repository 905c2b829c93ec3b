package shows

import (
	"strconv"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
)

// The live loudness of shows the recorder records: with Capture and
// Loudness, the recorder hands each show's audio to the Meter's live meter,
// whose transitions become the show's events (and so its story, the shared
// log and the event stream). The Meter's Shows give the dashboard's metrics.

// LiveLoudness is the live figures of the shows measured now, by name; nil
// without a recorder and a Meter.
func (s *Service) LiveLoudness() map[string]loudness.Live {
	if s.cfg.Capture == nil || s.cfg.Loudness == nil {
		return nil
	}
	return s.cfg.Loudness.Shows()
}

// listenLive wires the recorder to the Meter's live meter.
func (s *Service) listenLive() {
	if s.cfg.Capture == nil || s.cfg.Loudness == nil {
		return
	}
	s.cfg.Loudness.NotifyLive(s.loudnessChanged)
	s.cfg.Capture.Listen(s.cfg.Loudness.Listen)
}

var liveKinds = map[string]events.Kind{
	loudness.ClippingStarted: events.ClippingStarted, loudness.ClippingStopped: events.ClippingStopped,
	loudness.OffTarget: events.LoudnessOffTarget, loudness.OnTarget: events.LoudnessOnTarget,
}

// loudnessChanged tells the model a show's live loudness changed, or logs
// (once: the Meter says it once) that shows are not measured live.
func (s *Service) loudnessChanged(c loudness.Change) {
	if c.Err != nil {
		s.cfg.Logger.Warn("shows: live loudness is unavailable: shows are recorded but not measured live", "error", c.Err.Error())
		return
	}
	kind, ok := liveKinds[c.Kind]
	if !ok {
		return
	}
	now := time.Now().UTC()
	e := events.Event{Kind: kind, Room: c.Room, At: now, ID: "loudness-" + strconv.FormatInt(now.UnixNano(), 36),
		Loudness: &events.Loudness{TruePeak: c.TruePeak, ShortTerm: c.ShortTerm, Target: c.Target, For: c.For}}
	if kind == events.ClippingStarted || kind == events.ClippingStopped {
		e.Loudness.ShortTerm, e.Loudness.Target = 0, 0 // not what clipping is about
	}
	s.tell(e, "a loudness event")
}
