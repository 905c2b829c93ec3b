package shows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/names"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Spec is a show: what to open, who performs, how music comes in, what to record
// and where to send it. Name is the stage (room) name.
type Spec struct {
	Name        string        `json:"name"`
	Stage       StageOptions  `json:"stage,omitzero"`
	Performers  []Performer   `json:"performers,omitempty"`
	Ingest      Ingest        `json:"ingest,omitzero"`
	Record      []string      `json:"record,omitempty"`   // "audio", "video", "stems", "hls"
	Restream    []string      `json:"restream,omitempty"` // rtmp(s)://host/app/stream-key
	ListenerTTL time.Duration `json:"listenerTtl,omitempty"`
	// EndAfter closes the show this long after its music stopped (the ingest
	// ended or the last performer's audio went away); zero: only Close ends it.
	EndAfter time.Duration `json:"endAfter,omitempty"`
	// Opener is who opens the show: recorded with it (as a keyed digest) so
	// that its secrets go to them only (Service.OpenedBy). Not part of what
	// makes two specs the same: a re-Open by someone else keeps the first.
	Opener Principal `json:"-"`
}

// StageOptions are the room's options (see rooms.CreateOptions).
type StageOptions struct {
	EmptyTimeout     time.Duration `json:"emptyTimeout,omitempty"`
	DepartureTimeout time.Duration `json:"departureTimeout,omitempty"`
	MaxParticipants  int           `json:"maxParticipants,omitempty"`
}

// Performer is someone on stage: in a browser (a token to join with) or through
// the show's ingest (OBS).
type Performer struct {
	Identity string `json:"identity"`
	Name     string `json:"name,omitempty"`
	Via      Via    `json:"via,omitempty"` // Browser when empty
}

// Via is how a performer reaches the stage.
type Via string

// Ways onto the stage.
const (
	Browser Via = "browser"
	OBS     Via = "obs"
)

// IngestKind is how the show's music comes in.
type IngestKind string

// Kinds of ingest.
const (
	NoIngest IngestKind = "none"
	RTMP     IngestKind = "rtmp"
	WHIP     IngestKind = "whip"
	PullURL  IngestKind = "url"
)

// Ingest says how music comes in from outside; the zero value is none.
type Ingest struct {
	Kind IngestKind `json:"kind,omitempty"`
	URL  string     `json:"url,omitempty"` // the source of a PullURL
	// AudioOnly: an RTMP ingest expects no video (a radio-style show).
	AudioOnly bool `json:"audioOnly,omitempty"`
}

// The recording plan's parts.
const (
	RecordAudio = "audio" // the show's audio (the ingest, or the first performer heard)
	RecordStems = "stems" // one file per performer
	RecordHLS   = "hls"
	// RecordVideo is the show's source's audio and video as MP4 (the ingest, or
	// the first performer heard), started once that source sends video.
	RecordVideo = "video"
)

// Limits of a Spec. They keep its metadata envelope far below LiveKit's 64 KiB.
const (
	MaxPerformers   = 64
	MaxDestinations = 8
	MaxNameLen      = 128 // a performer's display name, in bytes
	MaxEndAfter     = 24 * time.Hour
	// DefaultIngestIdentity is who the ingest appears as when no performer
	// comes through OBS.
	DefaultIngestIdentity = "ingest"
)

const (
	opValidate  = "shows.Validate"
	maxProblems = 8
)

// Validate reports every problem of the spec at once as one ErrInvalidArgument.
func (s Spec) Validate() error {
	_, err := s.normal()
	return err
}

// normal is the spec with its defaults filled in, or every problem found.
func (s Spec) normal() (Spec, error) {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if err := names.Check("show name", s.Name); err != nil {
		bad("%v", err)
	} else if !names.IsFolder(s.Name) {
		bad("show name %q cannot be a folder of the recordings bucket (no /, \\ or ..)", s.Name)
	}
	if s.Stage.EmptyTimeout < 0 || s.Stage.DepartureTimeout < 0 || s.Stage.MaxParticipants < 0 {
		bad("stage timeouts and max participants must not be negative")
	}
	out := s
	var obs int
	var err error
	if out.Performers, obs, err = s.normalPerformers(bad); err != nil {
		return Spec{}, err // its own kind: a dashboard answers it 403 reserved_identity
	}
	out.Ingest.Kind = s.checkIngest(obs, bad)
	out.Record = s.normalRecord(bad)
	s.checkRestream(bad)
	if s.ListenerTTL < 0 || s.ListenerTTL > tokens.MaxListenerTTL {
		bad("listener token lifetime %s is outside 0..%s", s.ListenerTTL, tokens.MaxListenerTTL)
	}
	if s.EndAfter < 0 || s.EndAfter > MaxEndAfter {
		bad("end-after %s is outside 0..%s", s.EndAfter, MaxEndAfter)
	}
	if len(p) > maxProblems { // a huge spec gets a short answer
		p = append(p[:maxProblems], fmt.Sprintf("and %d more problems", len(p)-maxProblems))
	}
	if len(p) > 0 {
		return Spec{}, errs.Invalid(opValidate, "%s", strings.Join(p, "; "))
	}
	if out.ListenerTTL == 0 {
		out.ListenerTTL = tokens.ListenerTTL
	}
	return out, nil
}

// normalPerformers checks the performers (each problem told to bad) and fills
// in how each comes (a browser unless said); obs is how many come via OBS. A
// reserved identity is an error of its own.
func (s Spec) normalPerformers(bad func(string, ...any)) (out []Performer, obs int, err error) {
	if len(s.Performers) > MaxPerformers {
		bad("%d performers; at most %d", len(s.Performers), MaxPerformers)
	}
	seen := map[string]bool{}
	for i, pf := range s.Performers {
		if i >= MaxPerformers {
			break
		}
		if err := names.Check(fmt.Sprintf("performer %d's identity", i+1), pf.Identity); err != nil {
			bad("%v", err)
		}
		if err := tokens.CheckUnreserved(opValidate, pf.Identity); err != nil {
			return nil, 0, err
		}
		if seen[pf.Identity] {
			bad("performer %q is listed twice", pf.Identity)
		}
		seen[pf.Identity] = true
		if len(pf.Name) > MaxNameLen || strings.ContainsFunc(pf.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			bad("performer %q's name is over %d bytes or has control characters", pf.Identity, MaxNameLen)
		}
		switch pf.Via {
		case "":
			pf.Via = Browser
		case Browser:
		case OBS:
			obs++
		default:
			bad("performer %q comes via %q; want browser or obs", pf.Identity, pf.Via)
		}
		out = append(out, pf)
	}
	return out, obs, nil
}

// checkIngest checks the ingest against the obs performers who need it and
// returns its kind (none when unset).
func (s Spec) checkIngest(obs int, bad func(string, ...any)) IngestKind {
	kind := s.Ingest.Kind
	switch kind {
	case "":
		kind = NoIngest
		fallthrough
	case NoIngest:
		if s.Ingest.URL != "" {
			bad("ingest URL given without ingest kind url")
		}
		if obs > 0 {
			bad("a performer comes via obs but the show has no ingest (kind rtmp or whip)")
		}
	case RTMP, WHIP:
		if s.Ingest.AudioOnly && s.Ingest.Kind == WHIP {
			bad("audio-only is for rtmp ingests; WHIP passes through what it gets")
		}
		if s.Ingest.URL != "" {
			bad("ingest URL is for kind url only; %s ingests get their URL from LiveKit", s.Ingest.Kind)
		}
	case PullURL:
		u, err := url.Parse(s.Ingest.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("ingest URL must be an absolute http or https URL")
		}
	default:
		bad("ingest kind %q; want rtmp, whip, url or none", s.Ingest.Kind)
	}
	if obs > 1 {
		bad("%d performers come via obs; one ingest carries one of them", obs)
	}
	if obs > 0 && s.Ingest.Kind == PullURL {
		bad("a performer comes via obs but the ingest pulls a URL")
	}
	return kind
}

// normalRecord is the recording plan without repeats; unknown entries are told
// to bad.
func (s Spec) normalRecord(bad func(string, ...any)) []string {
	var out []string
	for _, r := range s.Record {
		switch r {
		case RecordAudio, RecordVideo, RecordStems, RecordHLS:
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		default:
			bad("record %q; want audio, video, stems or hls", r)
		}
	}
	if slices.Contains(s.Record, RecordVideo) && s.Ingest.AudioOnly {
		bad("record video, but the ingest is audio only")
	}
	return out
}

// checkRestream checks the restream destinations: few enough, each an
// rtmp(s)://host/app/stream-key URL (told redacted: the key is a secret).
func (s Spec) checkRestream(bad func(string, ...any)) {
	if len(s.Restream) > MaxDestinations {
		bad("%d restream destinations; at most %d", len(s.Restream), MaxDestinations)
		return
	}
	for _, d := range s.Restream {
		u, err := url.Parse(d)
		if err != nil || (u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Host == "" || len(u.Path) < 2 || len(d) > 1024 {
			bad("restream destination %s is not an rtmp(s)://host/app/stream-key URL", egress.RedactURL(d))
		}
	}
}

// ingestIdentity is who the ingest appears as: the performer who comes via OBS.
func (s Spec) ingestIdentity() string {
	for _, p := range s.Performers {
		if p.Via == OBS {
			return p.Identity
		}
	}
	return DefaultIngestIdentity
}

func (s Spec) ingestName() string {
	for _, p := range s.Performers {
		if p.Via == OBS && p.Name != "" {
			return p.Name
		}
	}
	return s.ingestIdentity()
}

// The room's metadata is an envelope: a marker, the format version and the spec
// as stored. Room metadata reaches every participant, listeners included, so
// the stored spec carries no credential: restream destinations and the pull URL
// are kept as digests (enough to tell the same spec from a changed one) plus a
// redacted form for people.
const (
	marker        = "streamkit.show"
	formatVersion = 1
)

type envelope struct {
	Marker  string `json:"kind"`
	Version int    `json:"v"`
	Spec    stored `json:"spec"`
	// Closing is set by Close before it stops anything: every replica's Run
	// then leaves the show alone.
	Closing bool `json:"closing,omitempty"`
	// Opener is a keyed digest of who opened the show (seal.go): its secrets
	// go to them (and to admins) only.
	Opener string `json:"opener,omitempty"`
	// Seal is the envelope's HMAC (seal.go); last, and empty while computed.
	Seal string `json:"seal,omitempty"`
}

type stored struct {
	Stage       StageOptions `json:"stage,omitzero"`
	Performers  []Performer  `json:"performers,omitempty"`
	Ingest      IngestKind   `json:"ingest"`
	IngestURL   digest       `json:"ingestUrl,omitzero"`
	AudioOnly   bool         `json:"audioOnly,omitempty"`
	Record      []string     `json:"record,omitempty"`
	Restream    []digest     `json:"restream,omitempty"`
	ListenerTTL int64        `json:"listenerTtlSec"`
	EndAfter    int64        `json:"endAfterSec,omitempty"`
}

// digest is a secret URL as the metadata keeps it.
type digest struct {
	SHA256   string `json:"sha256"`
	Redacted string `json:"redacted"`
}

func digestOf(u string) digest {
	sum := sha256.Sum256([]byte(u))
	return digest{SHA256: hex.EncodeToString(sum[:16]), Redacted: egress.RedactURL(u)}
}

func store(s Spec) stored {
	st := stored{Stage: s.Stage, Performers: s.Performers, Ingest: s.Ingest.Kind, AudioOnly: s.Ingest.AudioOnly, Record: s.Record,
		ListenerTTL: int64(s.ListenerTTL / time.Second), EndAfter: int64(s.EndAfter / time.Second)}
	if s.Ingest.URL != "" {
		st.IngestURL = digestOf(s.Ingest.URL)
	}
	for _, d := range s.Restream {
		st.Restream = append(st.Restream, digestOf(d))
	}
	return st
}

func encode(s Spec, closing bool) string {
	return encodeEnvelope(envelope{Marker: marker, Version: formatVersion, Spec: store(s), Closing: closing})
}

func encodeEnvelope(env envelope) string {
	b, _ := json.Marshal(env)
	return string(b)
}

// errNotAShow is a room whose metadata is no show envelope.
var errNotAShow = fmt.Errorf("%w: not a show", errs.ErrFailedPrecondition)

// decode reads a room's metadata back. A room that is no show, or whose
// envelope someone else changed into something we cannot read, is refused:
// nothing of it is touched.
func decode(op, room, md string) (envelope, error) {
	var env envelope
	if md == "" || json.Unmarshal([]byte(md), &env) != nil || env.Marker != marker {
		return envelope{}, &errs.Error{Op: op, Kind: errNotAShow,
			Message: fmt.Sprintf("room %q exists and its metadata is not a show", room),
			Hint:    "choose another name, or close the room first"}
	}
	if env.Version != formatVersion {
		return envelope{}, &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition,
			Message: fmt.Sprintf("show %q is stored in format %d; this library reads format %d", room, env.Version, formatVersion),
			Hint:    "use the library version that opened it"}
	}
	// What a tampered envelope says is checked like a caller's spec.
	if _, err := env.Spec.spec(room).normal(); err != nil {
		return envelope{}, &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition,
			Message: fmt.Sprintf("show %q's metadata was changed outside this library and no longer holds a valid show: %s", room, strings.TrimPrefix(err.Error(), opValidate+": invalid argument: ")),
			Hint:    "Open it again with its spec after fixing the metadata, or Close it"}
	}
	return env, nil
}

// spec is the stored spec as a Spec: restream destinations and the pull URL
// are redacted (their digests stand for them).
func (st stored) spec(name string) Spec {
	s := Spec{Name: name, Stage: st.Stage, Performers: st.Performers, Ingest: Ingest{Kind: st.Ingest, AudioOnly: st.AudioOnly}, Record: st.Record,
		ListenerTTL: time.Duration(st.ListenerTTL) * time.Second, EndAfter: time.Duration(st.EndAfter) * time.Second}
	if st.Ingest == PullURL {
		s.Ingest.URL = "https://redacted.invalid/" + st.IngestURL.SHA256
	}
	for _, d := range st.Restream {
		s.Restream = append(s.Restream, "rtmp://redacted.invalid/"+d.SHA256)
	}
	return s
}

// change is what an Open of a show that exists must do.
type change struct {
	addPerformers []Performer
	addRestream   []string
}

// diff compares the show as stored with a caller's new spec. Adding performers
// and restream destinations is applied live; anything else is refused, naming
// what differs.
func diff(name string, old stored, s Spec) (change, error) {
	now := store(s)
	var c change
	var refused []string
	if old.Stage != now.Stage {
		refused = append(refused, "stage options")
	}
	if old.Ingest != now.Ingest || old.IngestURL != now.IngestURL || old.AudioOnly != now.AudioOnly {
		refused = append(refused, "ingest")
	}
	if !slices.Equal(old.Record, now.Record) {
		refused = append(refused, "record plan")
	}
	if old.ListenerTTL != now.ListenerTTL {
		refused = append(refused, "listener token lifetime")
	}
	if old.EndAfter != now.EndAfter {
		refused = append(refused, "end-after")
	}
	had := map[string]Performer{}
	for _, p := range old.Performers {
		had[p.Identity] = p
	}
	keep := map[string]bool{}
	for _, p := range s.Performers {
		keep[p.Identity] = true
		if o, ok := had[p.Identity]; !ok {
			if p.Via == OBS {
				refused = append(refused, "a performer via obs (the ingest's identity is set when it is created)")
			}
			c.addPerformers = append(c.addPerformers, p)
		} else if o != p {
			refused = append(refused, fmt.Sprintf("performer %q", p.Identity))
		}
	}
	for id := range had {
		if !keep[id] {
			refused = append(refused, fmt.Sprintf("performer %q removed", id))
		}
	}
	dests := map[string]bool{}
	for _, d := range old.Restream {
		dests[d.SHA256] = true
	}
	for i, d := range now.Restream {
		if !dests[d.SHA256] {
			c.addRestream = append(c.addRestream, s.Restream[i])
		}
	}
	if len(old.Restream)+len(c.addRestream) != len(now.Restream) {
		refused = append(refused, "restream destinations removed")
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return change{}, &errs.Error{Op: "shows.Open", Kind: ErrSpecChanged,
			Message: fmt.Sprintf("show %q is open with another spec; cannot change %s", name, strings.Join(refused, ", ")),
			Hint:    "only performers and restream destinations can be added to an open show; Close it and Open the new spec"}
	}
	return c, nil
}
