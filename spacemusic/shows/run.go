package shows

import (
	"context"
	"slices"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// retryAfter spaces the starts of one part: a recording that cannot start, or
// ends at once, is tried again no sooner than this. It is also the first
// backoff of a show whose reconcile failed (the controller's queue).
const retryAfter = 3 * time.Second

// armed is what the controller knows of one open room session.
type armed struct {
	sid     string
	show    bool // the room is a show (its metadata says so)
	env     envelope
	checked string            // the room's metadata last judged for tampering
	running map[string]string // "audio", "video", "hls", "restream" -> egress ID; "stem/<ID>" -> ID
	stems   string            // the audio tracks RecordStems last saw
	tried   map[string]time.Time
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
//
// Run is a level-triggered controller (controller.go): each event queues the
// show it touches, and a worker reconciles the show with the model as it is.
func (s *Service) Run(ctx context.Context) error {
	if s.ctl == nil {
		return errs.Invalid("shows.Run", "Run needs a Watch and an Egress")
	}
	return s.ctl.run(ctx)
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

// destinations are the show's restream URLs, as this Service was told them.
func (s *Service) destinations(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dests[name])
}

// beingClosed reports whether this Service's Close of the show is under way.
func (s *Service) beingClosed(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing[name]
}

// wentLive notes when the controller saw the show's music start: the
// recorder's first part counts its Started.After from it.
func (s *Service) wentLive(name string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.liveAt[name] = at
}
