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
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Get returns an open show as LiveKit has it, with fresh performer tokens, its
// ingest and its parts so far. A show this Service closed has Phase Closed and
// no room; any other name that is not open is ErrNotFound, and a room that is
// no show ErrFailedPrecondition.
func (s *Service) Get(ctx context.Context, name string) (Show, error) {
	return s.get(ctx, "shows.Get", name, true)
}

func (s *Service) get(ctx context.Context, op, name string, full bool) (Show, error) {
	if err := (Spec{Name: name}).checkName(op); err != nil {
		return Show{}, err
	}
	found, err := s.cfg.Rooms.List(ctx, name)
	if err != nil {
		return Show{}, errs.Relabel(op, err)
	}
	if len(found) == 0 {
		s.mu.Lock()
		rep, ok := s.reports[name]
		s.mu.Unlock()
		if ok {
			return Show{Name: name, Spec: rep.Spec, Phase: Closed, Parts: rep.Parts}, nil
		}
		return Show{}, errs.NotFound(op, "no show %q is open", name)
	}
	env, problem, err := s.readOrLastGood(op, found[0])
	if err != nil {
		return Show{}, err
	}
	sp := env.Spec.spec(name)
	sh := s.show(sp, found[0], nil)
	sh.Spec, sh.opener = sp, env.Opener
	sh.Phase = s.phase(name, sp, env.Closing)
	if problem != "" {
		sh.Problems = append(sh.Problems, problem)
	}
	if !full {
		return sh, nil
	}
	if sh.Ingest, err = s.findIngest(ctx, op, sp); err != nil {
		return Show{}, err
	}
	if s.cfg.Egress != nil {
		if sh.Parts, err = s.parts(ctx, op, found[0]); err != nil {
			var e *errs.Error
			if s.cfg.Capture == nil || !errors.As(err, &e) || e.Upstream != errs.Storage {
				return Show{}, err
			}
			// The bucket is down: the show still says what its recorder
			// holds, and why it may be holding the audio back.
			sh.Parts = nil
			for _, c := range s.cfg.Capture.Active(found[0].Name) {
				if !c.StartedAt.Before(found[0].CreatedAt.Add(-time.Second)) {
					sh.Parts = append(sh.Parts, capturedPart(c))
				}
			}
			sh.Problems = append(sh.Problems, "the recordings bucket cannot be listed now: "+e.Message)
		}
	}
	return sh, nil
}

func (s Spec) checkName(op string) error {
	if _, err := (Spec{Name: s.Name}).normal(); err != nil {
		return errs.Relabel(op, err)
	}
	return nil
}

// List returns the open shows with their phase, in one request to LiveKit: no
// tokens, ingest or parts (Get has them). Rooms that are not shows are left
// out; a show whose metadata someone broke is listed with the problem.
func (s *Service) List(ctx context.Context) ([]Show, error) {
	all, err := s.cfg.Rooms.List(ctx)
	if err != nil {
		return nil, errs.Relabel("shows.List", err)
	}
	return s.ListIn(all), nil
}

// ListIn is List over rooms the caller holds already, e.g. the watched
// model's (Snapshot.RoomList), asking LiveKit nothing: a page that lists shows
// on every event then costs LiveKit no call.
func (s *Service) ListIn(all []rooms.Room) []Show {
	const op = "shows.List"
	var out []Show
	for _, r := range all {
		env, problem, err := s.readOrLastGood(op, r)
		switch {
		case errors.Is(err, errNotAShow):
			continue
		case err != nil:
			out = append(out, Show{Name: r.Name, Room: r, Problems: []string{err.Error()}})
			continue
		}
		sp := env.Spec.spec(r.Name)
		sh := Show{Name: r.Name, Spec: sp, Room: r, Phase: s.phase(r.Name, sp, env.Closing),
			Listeners: ListenerRecipe{Room: r.Name, URL: s.cfg.URL, TTL: sp.ListenerTTL}, opener: env.Opener}
		if problem != "" {
			sh.Problems = append(sh.Problems, problem)
		}
		if p := s.spoolProblem(r.Name); p != "" {
			sh.Problems = append(sh.Problems, p)
		}
		out = append(out, sh)
	}
	slices.SortFunc(out, func(a, b Show) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// phase derives the show's phase from the watched model.
func (s *Service) phase(name string, sp Spec, closing bool) Phase {
	if s.cfg.Watch == nil {
		return ""
	}
	s.mu.Lock()
	closing = closing || s.closing[name]
	s.mu.Unlock()
	if closing {
		return Ending
	}
	snap := s.cfg.Watch.Snapshot()
	if _, live := liveAudio(snap, name); live {
		return Live
	}
	for _, r := range snap.Recordings {
		if r.Room == name && r.Active() {
			return Ending
		}
	}
	if len(sp.Record) > 0 || len(sp.Restream) > 0 {
		return Armed
	}
	return Scheduled
}

// liveAudio reports who publishes audio on the stage: the ingest or a performer,
// never a recorder; the earliest to join first.
func liveAudio(snap *events.Snapshot, name string) ([]string, bool) {
	r := snap.Rooms[name]
	if r == nil {
		return nil, false
	}
	type who struct {
		id string
		at time.Time
	}
	var ws []who
	for _, p := range r.Participants {
		if p.Role != events.Performer && p.Role != events.Ingest {
			continue
		}
		for _, t := range p.Tracks {
			if t.Kind == "audio" {
				ws = append(ws, who{p.Identity, p.JoinedAt})
				break
			}
		}
	}
	slices.SortFunc(ws, func(a, b who) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.id
	}
	return out, len(out) > 0
}

// parts is the room session's egresses, oldest first, with download links.
func (s *Service) parts(ctx context.Context, op string, room rooms.Room) ([]Part, error) {
	list, err := s.cfg.Egress.List(ctx, egress.ListOptions{Room: room.Name})
	if err != nil {
		return nil, errs.Relabel(op, err)
	}
	var out []Part
	for _, e := range list {
		// Egresses of an earlier show of that name are not this show's.
		if !e.StartedAt.IsZero() && e.StartedAt.Before(room.CreatedAt.Add(-time.Second)) {
			continue
		}
		p := Part{ID: e.ID, Kind: e.Kind, Status: e.Status, Error: e.Error, StartedAt: e.StartedAt, EndedAt: e.EndedAt}
		for _, f := range e.Files {
			p.Files = append(p.Files, File{Key: f.Key, Size: f.Size, Duration: f.Duration})
		}
		for _, pl := range e.Playlists {
			p.Files = append(p.Files, File{Key: pl.Key, Size: pl.Size, Duration: pl.Duration})
		}
		out = append(out, p)
	}
	if s.cfg.Capture != nil {
		up, err := s.cfg.Capture.Uploaded(ctx, room.Name)
		if err != nil {
			return nil, errs.Relabel(op, err)
		}
		for _, c := range append(up, s.cfg.Capture.Active(room.Name)...) {
			if c.StartedAt.Before(room.CreatedAt.Add(-time.Second)) {
				continue // an earlier show of that name
			}
			out = append(out, capturedPart(c))
		}
	}
	slices.SortStableFunc(out, func(a, b Part) int {
		if a.StartedAt.IsZero() != b.StartedAt.IsZero() { // not started yet: last
			if a.StartedAt.IsZero() {
				return 1
			}
			return -1
		}
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// capturedPart is a part of the show's own recorder, as the show lists parts.
func capturedPart(c capture.Part) Part {
	p := Part{ID: c.ID, Kind: RecordAudio, Status: c.Status, Error: c.Error, StartedAt: c.StartedAt, EndedAt: c.EndedAt}
	if c.Status == egress.Complete {
		p.Files = []File{{Key: c.Key, Size: c.Size, Duration: c.Duration}}
	}
	return p
}
