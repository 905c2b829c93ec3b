package shows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// maxReports bounds the reports kept for a second Close.
const maxReports = 256

// Close ends the show: it marks the show closing (so no Run starts anything
// more), stops its recordings and restreams and waits until their files are
// uploaded, deletes its ingresses (a live one is stopped first, see
// ingress.Delete), closes the room and returns the report.
//
// Closing twice is fine: a second Close on the Service that closed the show
// returns the same report; on another Service (or after a restart) the show is
// gone and Close answers ErrNotFound. A room that is no show is left open
// (ErrFailedPrecondition).
func (s *Service) Close(ctx context.Context, name string) (Report, error) {
	const op = "shows.Close"
	start := time.Now()
	if err := (Spec{Name: name}).checkName(op); err != nil {
		return Report{}, err
	}
	defer s.lock(name)()
	found, err := s.cfg.Rooms.List(ctx, name)
	if err != nil {
		return Report{}, errs.Relabel(op, err)
	}
	if len(found) == 0 {
		s.mu.Lock()
		rep, ok := s.reports[name]
		s.mu.Unlock()
		if ok {
			return rep, nil
		}
		return Report{}, errs.NotFound(op, "no show %q is open (closed already, or never opened)", name)
	}
	room := found[0]
	// A tampered show can be closed (that is the remedy): as its last good
	// spec when this Service knows it, with no opener otherwise.
	env, problem, err := s.readOrLastGood(op, room)
	if err != nil {
		return Report{}, err
	}
	defer s.markClosing(name)()
	if !env.Closing {
		env.Closing = true
		if _, err := s.cfg.Rooms.SetMetadata(ctx, name, s.seal(env)); err != nil {
			return Report{}, errs.Relabel(op, err)
		}
	}
	rep := Report{Name: name, Spec: env.Spec.spec(name), OpenedAt: room.CreatedAt, opener: env.Opener}
	if problem != "" {
		rep.Problems = append(rep.Problems, problem)
	}
	if err := s.teardown(ctx, op, name); err != nil {
		return Report{}, err
	}
	rep.ClosedAt = time.Now().UTC()
	if s.cfg.Egress != nil {
		if rep.Parts, err = s.parts(ctx, op, room); err != nil {
			return Report{}, err
		}
		s.link(ctx, &rep)
	}
	if s.cfg.Watch != nil {
		rep.Timeline = s.timeline(ctx, room.Name, room.SID, room.CreatedAt)
	}
	rep.Took = time.Since(start)
	s.keepReport(name, rep)
	return rep, nil
}

// markClosing has the show closing on this Service (no Run starts anything
// for it, and it is Ending) until the returned func.
func (s *Service) markClosing(name string) func() {
	s.mu.Lock()
	s.closing[name] = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.closing, name)
		s.mu.Unlock()
	}
}

// teardown stops the show's recordings and restreams and waits until their
// files are uploaded, deletes its ingresses and closes its room.
func (s *Service) teardown(ctx context.Context, op, name string) error {
	if s.cfg.Egress != nil {
		if err := s.stopAll(ctx, op, name); err != nil {
			return err
		}
	}
	if s.cfg.Capture != nil {
		// The recorder leaves and uploads its parts, also those a dead
		// process spooled on this machine.
		uctx, cancel := context.WithTimeout(ctx, MaxUploadWait)
		err := s.cfg.Capture.Finish(uctx, name)
		cancel()
		if err != nil {
			return errs.Relabel(op, err)
		}
	}
	ins, err := s.cfg.Ingress.List(ctx, ingress.ListOptions{Room: name})
	if err != nil {
		return errs.Relabel(op, err)
	}
	for _, in := range ins {
		if err := s.cfg.Ingress.Delete(ctx, in.ID); err != nil && !errors.Is(err, errs.ErrNotFound) {
			return errs.Relabel(op, err)
		}
	}
	if err := s.cfg.Rooms.Delete(ctx, name); err != nil && !errors.Is(err, errs.ErrNotFound) {
		return errs.Relabel(op, err)
	}
	return nil
}

// keepReport keeps the report of a show this Service closed, for a second
// Close, and forgets the rest of the show.
func (s *Service) keepReport(name string, rep Report) {
	s.mu.Lock()
	if _, ok := s.reports[name]; !ok {
		s.order = append(s.order, name)
	}
	s.reports[name] = rep
	delete(s.dests, name)
	delete(s.liveAt, name)
	if len(s.order) > maxReports {
		delete(s.reports, s.order[0])
		s.order = s.order[1:]
	}
	s.mu.Unlock()
	s.forget(name)
}

// stopAll stops the room's running egresses and waits until each has ended:
// an egress uploads its files as it ends.
func (s *Service) stopAll(ctx context.Context, op, name string) error {
	running, err := s.cfg.Egress.List(ctx, egress.ListOptions{Room: name, Active: true})
	if err != nil {
		return errs.Relabel(op, err)
	}
	for _, e := range running {
		_, err := s.cfg.Egress.Stop(ctx, e.ID)
		if err != nil && !errors.Is(err, errs.ErrFailedPrecondition) && !errors.Is(err, errs.ErrNotFound) {
			return errs.Relabel(op, err)
		}
	}
	// Bounded even when the caller's ctx is not: a stuck egress must not hold
	// Close for ever. The show stays closing, and Close again picks it up.
	ctx, cancel := context.WithTimeout(ctx, MaxUploadWait)
	defer cancel()
	for _, e := range running {
		if _, err := s.cfg.Egress.WaitFor(ctx, e.ID, egress.Complete); err != nil {
			return &errs.Error{Op: op, Kind: errs.ErrUnavailable, Upstream: errs.LiveKit,
				Message: fmt.Sprintf("recording %s did not finish uploading: %v", e.ID, err), Hint: "Close again to keep waiting", Cause: err}
		}
	}
	return nil
}

// MaxUploadWait bounds how long Close waits for recordings to be uploaded.
const MaxUploadWait = 10 * time.Minute

// link adds download links to the report's files; a file the bucket does not
// have is a problem of the report, not a failed Close (the show is closed).
func (s *Service) link(ctx context.Context, rep *Report) {
	for i := range rep.Parts {
		p := &rep.Parts[i]
		if p.Status != egress.Complete && p.Kind != "restream" {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s %s ended %s: %s", p.Kind, p.ID, p.Status, p.Error))
		}
		if s.cfg.Recordings == nil {
			continue
		}
		for j := range p.Files {
			f := &p.Files[j]
			u, err := s.cfg.Recordings.DownloadURL(ctx, f.Key, 0)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("no link for %s: %v", f.Key, err))
				continue
			}
			f.URL = u
			// The file says how long it plays (Ogg, MP4, a finished HLS
			// playlist); egress's own figure stops at our stop, seconds short
			// of what it drained into the file.
			if d, err := s.cfg.Recordings.Duration(ctx, f.Key); err == nil {
				f.Duration = d
			}
			s.measure(ctx, f)
		}
	}
}

// timeline is the Watch's story of this room session: events of its room SID,
// and the ingest and recording events (which carry no room SID) since it opened.
func (s *Service) timeline(ctx context.Context, name, sid string, opened time.Time) []events.Event {
	all, err := s.cfg.Watch.History(ctx, name)
	if err != nil {
		s.cfg.Logger.Warn("shows: no timeline for the report", "show", name, "error", err.Error())
		return nil
	}
	var out []events.Event
	from := opened.Truncate(time.Second)
	for _, e := range all {
		if e.RoomSID == sid || (e.RoomSID == "" && !e.At.Before(from)) {
			out = append(out, e)
		}
	}
	return out
}

// measure adds an Ogg file's loudness, with its flags; a file that could not
// be measured keeps the reason, and the report is written all the same. Flags
// stay on the file, not in the report's Problems (which say what Close could
// not do): a quiet set is the artist's choice, not a failed close.
func (s *Service) measure(ctx context.Context, f *File) {
	if s.cfg.Loudness == nil || !strings.HasSuffix(f.Key, ".ogg") {
		return
	}
	fig, err := s.cfg.Loudness.Object(ctx, s.cfg.Recordings, f.Key)
	if err != nil {
		f.LoudnessError = err.Error()
		return
	}
	f.Loudness = &fig
}
