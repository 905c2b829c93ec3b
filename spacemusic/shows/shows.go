// Package shows makes the show the unit of work: one Open creates the stage, the
// ingest and the tokens; Run records by itself when the music starts; one Close
// stops and uploads every recording, removes the ingest, closes the stage and
// returns the show's report.
//
// The show's spec lives in its room's metadata (a small versioned JSON envelope),
// so LiveKit stays the source of truth: any replica, and a restarted process,
// finds the show with Get or List, and the same spec opened twice creates
// nothing new. Room metadata reaches every participant, so it holds no
// credential: restream destinations and a pulled URL are kept as digests, and
// their full URLs only in the memory of the Service that opened the show (a
// restarted one learns them again from an Open of the same spec). Anyone
// holding a moderator's token may rewrite room metadata, so the envelope is
// sealed under a key derived from the API secret, with who opened the show:
// a rewritten spec is reported and not obeyed (seal.go).
//
// Two Services opening the same new show at the same instant may both create an
// ingress; one process serializes its own Opens of a name.
package shows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Config wires a Service to the services it drives. Rooms, Ingress and Tokens are
// required; Egress is needed by shows that record or restream; Recordings adds
// download links to reports; Watch gives phases and is what Run follows.
type Config struct {
	Rooms   *rooms.Service
	Ingress *ingress.Service
	Tokens  *tokens.Issuer
	// Secret is the LiveKit API secret: a show's metadata is sealed under a
	// key derived from it (seal.go), which no LiveKit token holder has.
	Secret     string
	Egress     *egress.Service
	Recordings *recordings.Store
	Watch      *events.Watch
	// Capture, when set, records the plan's "audio" itself (a hidden
	// subscriber that joins when the show is armed) instead of egress, so the
	// file holds the push from its first note (see package capture).
	Capture *capture.Recorder
	// URL is the WebSocket URL performers and listeners join (Config.WSURL of the facade).
	URL    string
	Logger *slog.Logger // Run's failures; slog.Default() when nil
}

// Service opens, watches and closes shows.
type Service struct {
	cfg Config

	mu      sync.Mutex
	opening map[string]*sync.Mutex // one Open or Close per name at a time
	dests   map[string][]string    // restream URLs by show: secrets, kept in memory only
	reports map[string]Report      // the last reports Close made, for a second Close
	order   []string
	closing map[string]bool
	starts  []Started            // what Run started, for Starts
	stale   map[string]bool      // shows whose spec Open changed: Run reads it again
	wake    chan struct{}        // tells Run a spec changed
	liveAt  map[string]time.Time // when Run saw each show's music start

	sealKey, openerKey []byte
	good               map[string]envelope // each show's last envelope whose seal verified
	reported           map[string]string   // the tampered metadata last reported, by show
}

// New checks cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Rooms == nil || cfg.Ingress == nil || cfg.Tokens == nil {
		return nil, errs.Invalid("shows.New", "rooms, ingress and tokens are required")
	}
	if len(cfg.Secret) < 32 {
		return nil, errs.Invalid("shows.New", "the API secret (at least 32 characters) is required: shows' metadata is sealed with it")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Capture != nil && cfg.Recordings == nil {
		return nil, errs.Invalid("shows.New", "Capture needs Recordings")
	}
	s := &Service{cfg: cfg, opening: map[string]*sync.Mutex{}, dests: map[string][]string{},
		reports: map[string]Report{}, closing: map[string]bool{}, stale: map[string]bool{}, wake: make(chan struct{}, 1),
		liveAt: map[string]time.Time{}, sealKey: derive(cfg.Secret, sealLabel), openerKey: derive(cfg.Secret, openerLabel),
		good: map[string]envelope{}, reported: map[string]string{}}
	if cfg.Capture != nil {
		cfg.Capture.Notify(s.captured)
		cfg.Capture.NotifySpool(s.spoolChanged)
		cfg.Capture.NotifyIntruder(func(room string) { go s.intruded(room) })
	}
	return s, nil
}

// Phase is where a show is, from the watched model.
type Phase string

// Phases of a show.
const (
	Scheduled Phase = "scheduled" // open, nothing to record, no music yet
	Armed     Phase = "armed"     // open with a recording plan, waiting for music
	Live      Phase = "live"      // the ingest or a performer publishes audio
	Ending    Phase = "ending"    // closing, or music stopped while recordings finish
	Closed    Phase = "closed"
)

// Show is an open show with everything people need to take part.
type Show struct {
	Name string `json:"name"`
	// Spec as stored: restream destinations and a pulled URL are redacted.
	Spec    Spec       `json:"spec"`
	Phase   Phase      `json:"phase,omitempty"` // empty without a Watch
	Room    rooms.Room `json:"room"`
	Created bool       `json:"created"` // this Open created the stage
	// Ingest is OBS's way in: server, stream key and encoder settings (its
	// String and LogValue leave the key out). Nil when the show has none.
	Ingest     *ingress.Ingress `json:"ingest,omitempty"`
	Performers []Join           `json:"performers,omitempty"`
	Listeners  ListenerRecipe   `json:"listeners"`
	Parts      []Part           `json:"parts,omitempty"` // recordings and restreams so far, oldest first
	// Problems are things the show cannot do now, e.g. restream destinations
	// this process has not been told (see the package doc), or metadata
	// changed outside streamkit (seal.go).
	Problems []string `json:"problems,omitempty"`

	opener string // who opened it, as stored (Service.OpenedBy)
}

// String keeps stream keys and tokens out of %v.
func (s Show) String() string {
	return fmt.Sprintf("{Name:%s Phase:%s Ingest:%v Performers:%d Parts:%d}", s.Name, s.Phase, s.Ingest, len(s.Performers), len(s.Parts))
}

// LogValue keeps stream keys and tokens out of slog output.
func (s Show) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("phase", string(s.Phase)), slog.Int("parts", len(s.Parts)))
}

// Join is how one performer gets on stage: a token and the URL for a browser,
// or the show's ingest for OBS.
type Join struct {
	Identity string        `json:"identity"`
	Name     string        `json:"name,omitempty"`
	Via      Via           `json:"via"`
	URL      string        `json:"url,omitempty"`
	Token    *tokens.Token `json:"token,omitempty"` // browser performers
}

// ListenerRecipe says how listener tokens for the show are made: subscribe-only
// tokens for Room with TTL (Service.Listener mints one).
type ListenerRecipe struct {
	Room string        `json:"room"`
	URL  string        `json:"url,omitempty"`
	TTL  time.Duration `json:"ttl"`
}

// Part is one recording or restream of the show.
type Part struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"` // audio, stem, hls, restream
	Status    egress.Status `json:"status"`
	Error     string        `json:"error,omitempty"`
	StartedAt time.Time     `json:"startedAt,omitzero"`
	EndedAt   time.Time     `json:"endedAt,omitzero"`
	Files     []File        `json:"files,omitempty"`
}

// File is a finished file of a part.
type File struct {
	Key      string        `json:"key"`
	Size     int64         `json:"size"`
	Duration time.Duration `json:"duration"`
	URL      string        `json:"url,omitempty"` // a download link, when the Service has Recordings
}

// Report is what a closed show leaves: its story and its files.
type Report struct {
	Name     string         `json:"name"`
	Spec     Spec           `json:"spec"`
	OpenedAt time.Time      `json:"openedAt"`
	ClosedAt time.Time      `json:"closedAt"`
	Timeline []events.Event `json:"timeline,omitempty"` // from the Watch's history
	Parts    []Part         `json:"parts,omitempty"`
	Problems []string       `json:"problems,omitempty"` // what Close could not do, e.g. a part that failed
	// Took is how long Close took from its call to the report.
	Took time.Duration `json:"took"`

	opener string // who opened the show, as stored (Service.IsOpener)
}

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
	s.remember(sp.Name, md)
	s.mu.Lock()
	s.stale[sp.Name] = true
	s.mu.Unlock()
	select { // a live show may need a restream it did not have
	case s.wake <- struct{}{}:
	default:
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
