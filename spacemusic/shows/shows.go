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
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
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
	// Loudness, when set, measures each audio file of the report (Ogg:
	// the recorder's parts and egress's audio) and flags the ones that clip
	// or are far from its target (package loudness). With Capture it also
	// measures each recorded show live (live.go).
	Loudness *loudness.Meter
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
	liveAt  map[string]time.Time // when Run saw each show's music start
	ctl     *controller          // Run's; nil without a Watch and an Egress

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
		reports: map[string]Report{}, closing: map[string]bool{},
		liveAt: map[string]time.Time{}, sealKey: derive(cfg.Secret, sealLabel), openerKey: derive(cfg.Secret, openerLabel),
		good: map[string]envelope{}, reported: map[string]string{}}
	if cfg.Watch != nil && cfg.Egress != nil {
		var rec recorder // a nil *capture.Recorder must stay a nil recorder
		if cfg.Capture != nil {
			rec = cfg.Capture
		}
		s.ctl = newController(cfg.Rooms, cfg.Egress, rec, cfg.Watch, s, cfg.Logger)
	}
	if cfg.Capture != nil {
		cfg.Capture.Notify(s.captured)
		cfg.Capture.NotifySpool(s.spoolChanged)
		cfg.Capture.NotifyIntruder(func(room string) { go s.intruded(room) })
	}
	s.listenLive()
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
	// Loudness is the file's, measured when the show closed (Ogg audio,
	// with Config.Loudness); LoudnessError says why it is absent.
	Loudness      *loudness.Figures `json:"loudness,omitempty"`
	LoudnessError string            `json:"loudnessError,omitempty"`
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
