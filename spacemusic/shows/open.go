package shows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// lock serializes this process's Opens and Closes of one show.
func (s *Service) lock(name string) func() {
	s.mu.Lock()
	m := s.opening[name]
	if m == nil {
		m = &sync.Mutex{}
		s.opening[name] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Open opens the show, or returns it as it is when the same spec is open
// already. A show that is open with another spec gets what can be added live
// (performers, restream destinations); any other change is refused with
// ErrFailedPrecondition naming it, and a room of that name that is no show is
// left alone (ErrFailedPrecondition too).
func (s *Service) Open(ctx context.Context, spec Spec) (Show, error) {
	const op = "shows.Open"
	sp, err := spec.normal()
	if err != nil {
		return Show{}, errs.Relabel(op, err)
	}
	if (len(sp.Record) > 0 || len(sp.Restream) > 0) && s.cfg.Egress == nil {
		return Show{}, &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition, Message: "the show records or restreams and this client has no egress",
			Hint: "configure the recordings bucket (MINIO_*)"}
	}
	md := s.seal(envelope{Marker: marker, Version: formatVersion, Spec: store(sp), Opener: s.openerOf(sp.Opener)})
	if len(md) > rooms.MaxMetadata {
		return Show{}, errs.Invalid(op, "the show's metadata is %d bytes; at most %d", len(md), rooms.MaxMetadata)
	}
	defer s.lock(sp.Name)()

	room, created, opener, err := s.openRoom(ctx, op, sp, md)
	if err != nil {
		return Show{}, err
	}
	s.mu.Lock()
	s.dests[sp.Name] = slices.Clone(sp.Restream)
	delete(s.reports, sp.Name) // a new show of that name: its Close reports anew
	s.mu.Unlock()
	in, err := s.ensureIngest(ctx, op, sp)
	if err != nil {
		return Show{}, err
	}
	sh := s.show(sp, room, in)
	sh.Created, sh.opener = created, opener
	sh.Spec = store(sp).spec(sp.Name)
	sh.Phase = s.phase(sp.Name, sp, false)
	if s.cfg.Egress != nil {
		if sh.Parts, err = s.parts(ctx, op, room); err != nil {
			return Show{}, err
		}
	}
	return sh, nil
}

// openRoom creates the stage with the spec in its metadata, or checks the open
// one and applies what can be added. It returns who opened the show (stored).
func (s *Service) openRoom(ctx context.Context, op string, sp Spec, md string) (rooms.Room, bool, string, error) {
	found, err := s.cfg.Rooms.List(ctx, sp.Name)
	if err != nil {
		return rooms.Room{}, false, "", errs.Relabel(op, err)
	}
	if len(found) == 0 {
		r, err := s.cfg.Rooms.Create(ctx, sp.Name, rooms.CreateOptions{EmptyTimeout: sp.Stage.EmptyTimeout,
			DepartureTimeout: sp.Stage.DepartureTimeout, MaxParticipants: sp.Stage.MaxParticipants, Metadata: md})
		if err != nil {
			return rooms.Room{}, false, "", errs.Relabel(op, err)
		}
		if r.Metadata == md {
			s.remember(sp.Name, md)
			return r, true, s.openerOf(sp.Opener), nil
		}
		found = []rooms.Room{r} // someone else created it in between: judge theirs
	}
	r := found[0]
	env, err := s.read(op, sp.Name, r.Metadata)
	if errors.Is(err, ErrTampered) {
		s.tampered(sp.Name, r.SID, r.Metadata, err)
	}
	if err != nil {
		return rooms.Room{}, false, "", err
	}
	if env.Closing {
		return rooms.Room{}, false, "", &errs.Error{Op: op, Kind: ErrClosing,
			Message: fmt.Sprintf("show %q is closing", sp.Name), Hint: "Open it again once Close has returned"}
	}
	ch, err := diff(sp.Name, env.Spec, sp)
	if err != nil {
		return rooms.Room{}, false, "", err
	}
	if len(ch.addPerformers) == 0 && len(ch.addRestream) == 0 {
		return r, false, env.Opener, nil
	}
	if len(ch.addRestream) > 0 {
		// A restream already running gets the new destinations now; otherwise
		// Run starts them with the others when the show goes live.
		running, err := s.cfg.Egress.List(ctx, egress.ListOptions{Room: sp.Name, Active: true})
		if err != nil {
			return rooms.Room{}, false, "", errs.Relabel(op, err)
		}
		for _, e := range running {
			if e.Kind == "restream" {
				if _, err := s.cfg.Egress.AddDestinations(ctx, e.ID, ch.addRestream...); err != nil {
					return rooms.Room{}, false, "", errs.Relabel(op, err)
				}
			}
		}
	}
	// The show keeps its opener: whoever adds to it does not become it.
	md = s.seal(envelope{Marker: marker, Version: formatVersion, Spec: store(sp), Opener: env.Opener})
	if r, err = s.cfg.Rooms.SetMetadata(ctx, sp.Name, md); err != nil {
		return rooms.Room{}, false, "", errs.Relabel(op, err)
	}
	if env, ok := s.remember(sp.Name, md); ok && s.ctl != nil { // a live show may need a restream it did not have
		s.ctl.changed(sp.Name, env)
	}
	return r, false, env.Opener, nil
}

// ensureIngest finds the show's ingress (by room and identity) or creates it.
func (s *Service) ensureIngest(ctx context.Context, op string, sp Spec) (*ingress.Ingress, error) {
	if sp.Ingest.Kind == NoIngest {
		return nil, nil
	}
	in, err := s.findIngest(ctx, op, sp)
	if err != nil || in != nil {
		return in, err
	}
	p := ingress.Participant{Room: sp.Name, Identity: sp.ingestIdentity(), Name: sp.ingestName()}
	var made ingress.Ingress
	switch sp.Ingest.Kind {
	case RTMP:
		made, err = s.cfg.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: p, AudioOnly: sp.Ingest.AudioOnly})
	case WHIP:
		made, err = s.cfg.Ingress.WHIP(ctx, ingress.WHIPOptions{Participant: p})
	case PullURL:
		made, err = s.cfg.Ingress.PullURL(ctx, ingress.URLOptions{Participant: p, URL: sp.Ingest.URL})
	}
	if err != nil {
		return nil, errs.Relabel(op, err)
	}
	return &made, nil
}

func (s *Service) findIngest(ctx context.Context, op string, sp Spec) (*ingress.Ingress, error) {
	if sp.Ingest.Kind == NoIngest {
		return nil, nil
	}
	list, err := s.cfg.Ingress.List(ctx, ingress.ListOptions{Room: sp.Name})
	if err != nil {
		return nil, errs.Relabel(op, err)
	}
	for _, in := range list {
		if in.Identity == sp.ingestIdentity() && string(in.Kind) == string(sp.Ingest.Kind) {
			if sp.Ingest.Kind == RTMP {
				in.Encoder = ingress.OBSSettings(0, sp.Ingest.AudioOnly)
			}
			return &in, nil
		}
	}
	return nil, nil
}

// show is the answer for an open show, with fresh tokens.
func (s *Service) show(sp Spec, room rooms.Room, in *ingress.Ingress) Show {
	sh := Show{Name: sp.Name, Room: room, Ingest: in, Listeners: ListenerRecipe{Room: sp.Name, URL: s.cfg.URL, TTL: sp.ListenerTTL}}
	for _, p := range sp.Performers {
		j := Join{Identity: p.Identity, Name: p.Name, Via: p.Via}
		if p.Via == Browser {
			opts := []tokens.Option{}
			if p.Name != "" {
				opts = append(opts, tokens.WithName(p.Name))
			}
			if t, err := s.cfg.Tokens.Performer(sp.Name, p.Identity, opts...); err == nil {
				j.Token, j.URL = &t, s.cfg.URL
			}
		}
		sh.Performers = append(sh.Performers, j)
	}
	s.mu.Lock()
	known := s.dests[sp.Name]
	s.mu.Unlock()
	if len(sp.Restream) > len(known) && len(known) == 0 {
		sh.Problems = append(sh.Problems, fmt.Sprintf("%d restream destinations are not known to this process; Open the show's spec again to restream", len(sp.Restream)))
	}
	if p := s.spoolProblem(sp.Name); p != "" {
		sh.Problems = append(sh.Problems, p)
	}
	return sh
}

// Listener mints a listener token for the show with its recipe's lifetime.
func (s *Service) Listener(ctx context.Context, name, identity string) (tokens.Token, error) {
	const op = "shows.Listener"
	sh, err := s.get(ctx, op, name, false)
	if err != nil {
		return tokens.Token{}, err
	}
	t, err := s.cfg.Tokens.Listener(name, identity, tokens.WithTTL(sh.Listeners.TTL))
	if err != nil {
		return tokens.Token{}, errs.Relabel(op, err)
	}
	return t, nil
}
