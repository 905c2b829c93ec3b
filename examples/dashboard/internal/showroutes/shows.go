// Package showroutes is the dashboard's shows routes: a show is the unit of
// work (spacemusic/shows). POST opens it and answers, to the operator who
// opened it only, everything people need at once (OBS server, stream key and
// encoder settings, performer tokens, the listener recipe); GET lets viewers
// follow it with no credential in sight; DELETE closes it and answers the
// report.
package showroutes

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/looks"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// Routes is the shows routes, with what they need of the rest of the
// dashboard.
type Routes struct {
	Shows  Shows
	Model  *live.Model
	Events live.Events // nil: no live model
	Log    *slog.Logger
	WSURL  string // handed out with performer tokens
	// CheckOutbound checks a spec's restream destinations and pull source (""
	// when none) against the outbound rules.
	CheckOutbound func(ctx context.Context, restream []string, pull string) error
	// TakenNote is why u gets no token for identity in room ("" when they
	// may have it).
	TakenNote func(ctx context.Context, u api.User, room, identity string) string
	// Place marks the node of each show's room, and a lost one.
	Place func(ctx context.Context, list []shows.Show, views []View)
	looks *looks.Looks[shows.Show] // GET /api/shows/{name}
}

// New is r with its looks.
func New(r Routes) *Routes {
	r.looks = looks.New[shows.Show](ShowTTL, showMinAge, showCacheSize)
	return &r
}

// Shows opens, lists and closes shows: *shows.Service.
type Shows interface {
	Open(ctx context.Context, spec shows.Spec) (shows.Show, error)
	Get(ctx context.Context, name string) (shows.Show, error)
	List(ctx context.Context) ([]shows.Show, error)
	ListIn(all []rooms.Room) []shows.Show
	Close(ctx context.Context, name string) (shows.Report, error)
	// Who opened a show: its secrets and its closing are theirs (owners.go).
	OpenedBy(sh shows.Show, p shows.Principal) bool
	IsOpener(ctx context.Context, name string, p shows.Principal) (bool, error)
}

// Request is a show's spec in the API's camelCase, durations in seconds.
type Request struct {
	Name       string          `json:"name"` // the stage (room) name
	Stage      *showStage      `json:"stage,omitempty"`
	Performers []showPerformer `json:"performers,omitempty"`
	Ingest     *showIngest     `json:"ingest,omitempty"`
	// Record is the recording plan: any of audio, stems, hls, video; it starts by
	// itself when the show goes live.
	Record []string `json:"record,omitempty"`
	// Restream: rtmp(s):// destinations, checked as POST /api/egress's are
	// (DASHBOARD_RESTREAM_ALLOW); they start when the show goes live.
	Restream           []string `json:"restream,omitempty"`
	ListenerTTLSeconds int      `json:"listenerTtlSeconds,omitempty"` // listener tokens' lifetime; the library's default when 0
	EndAfterSeconds    int      `json:"endAfterSeconds,omitempty"`    // close this long after the music stopped; 0: only DELETE closes
}

type showStage struct {
	EmptyTimeoutSeconds     int `json:"emptyTimeoutSeconds,omitempty"`
	DepartureTimeoutSeconds int `json:"departureTimeoutSeconds,omitempty"`
	MaxParticipants         int `json:"maxParticipants,omitempty"`
}

type showPerformer struct {
	Identity string `json:"identity"`
	Name     string `json:"name,omitempty"`
	Via      string `json:"via,omitempty" enum:"browser,obs"` // browser when empty
}

type showIngest struct {
	Kind      string `json:"kind" enum:"none,rtmp,whip,url"`
	URL       string `json:"url,omitempty"`       // url: the http(s) source to pull (DASHBOARD_PULL_ALLOW)
	AudioOnly bool   `json:"audioOnly,omitempty"` // rtmp: no video expected
}

// maxShowSeconds bounds every duration of the body before it becomes a
// time.Duration (the library checks the real limits).
const maxShowSeconds = 7 * 24 * 3600

func (q Request) Check() error {
	secs := []int{q.ListenerTTLSeconds, q.EndAfterSeconds}
	if q.Stage != nil {
		secs = append(secs, q.Stage.EmptyTimeoutSeconds, q.Stage.DepartureTimeoutSeconds)
	}
	for _, v := range secs {
		if v < 0 || v > maxShowSeconds {
			return api.BadRequest("durations are seconds from 0 to %d", maxShowSeconds)
		}
	}
	return nil
}

func (q Request) spec() shows.Spec {
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	sp := shows.Spec{Name: q.Name, Record: q.Record, Restream: q.Restream,
		ListenerTTL: sec(q.ListenerTTLSeconds), EndAfter: sec(q.EndAfterSeconds)}
	if q.Stage != nil {
		sp.Stage = shows.StageOptions{EmptyTimeout: sec(q.Stage.EmptyTimeoutSeconds),
			DepartureTimeout: sec(q.Stage.DepartureTimeoutSeconds), MaxParticipants: q.Stage.MaxParticipants}
	}
	for _, p := range q.Performers {
		sp.Performers = append(sp.Performers, shows.Performer{Identity: p.Identity, Name: p.Name, Via: shows.Via(p.Via)})
	}
	if q.Ingest != nil {
		sp.Ingest = shows.Ingest{Kind: shows.IngestKind(q.Ingest.Kind), URL: q.Ingest.URL, AudioOnly: q.Ingest.AudioOnly}
	}
	return sp
}

// View is a show as anyone signed in may see it: no stream key, token,
// restream or pull URL.
type View struct {
	Name      string       `json:"name"`
	Phase     string       `json:"phase,omitempty" enum:"scheduled,armed,live,ending,closed"`
	Recording bool         `json:"recording"` // a recording of the show is running now
	Spec      showSpecView `json:"spec"`
	// Ingest is the ingest's state (its stream key only in POST's answer).
	Ingest   *showIngestState `json:"ingest,omitempty"`
	Parts    []ShowPart       `json:"parts"` // recordings and restreams so far, oldest first (GET /api/shows/{name} only)
	Problems []string         `json:"problems,omitempty"`
	// Node is the LiveKit node hosting the show's room, and Lost says that
	// node stopped reporting (with REDIS_URL on LiveKit's Redis only).
	Node string `json:"node,omitempty"`
	Lost bool   `json:"lost,omitempty"`
}

type showSpecView struct {
	Stage              showStage       `json:"stage"`
	Performers         []showPerformer `json:"performers"`
	Ingest             string          `json:"ingest" enum:"none,rtmp,whip,url"`
	AudioOnly          bool            `json:"audioOnly,omitempty"`
	Record             []string        `json:"record"`
	Restreams          int             `json:"restreams"` // how many destinations: their URLs hold stream keys
	ListenerTTLSeconds int             `json:"listenerTtlSeconds"`
	EndAfterSeconds    int             `json:"endAfterSeconds,omitempty"`
}

type showIngestState struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// ShowPart is one recording or restream of a show, with its download link.
type ShowPart struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"` // audio, stem, hls, restream
	Status    string     `json:"status"`
	Error     string     `json:"error,omitempty"`
	StartedAt time.Time  `json:"startedAt,omitzero"`
	EndedAt   time.Time  `json:"endedAt,omitzero"`
	Files     []showFile `json:"files"`
}

type showFile struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	DurationMS  int64  `json:"durationMs"`
	DownloadURL string `json:"downloadUrl"` // this dashboard's GET /api/recordings/{key}
	// The report's: measured when the show closed (see docs/shows.md).
	Loudness      *loudness.Figures `json:"loudness,omitempty"`
	LoudnessError string            `json:"loudnessError,omitempty"`
}

// Opened is POST's answer: with the show's secrets for the operator who
// opened it and for admins, without them (Withheld says why) for anyone else.
type Opened struct {
	View
	Created    bool            `json:"created"` // false: the same spec was open already
	OBS        *obsSettings    `json:"obs,omitempty"`
	Performers []performerJoin `json:"performers"`
	Listeners  listenerRecipe  `json:"listeners"`
	// Withheld says why the answer has no stream key, publish URL or
	// performer token: the show is someone else's (owners.go).
	Withheld string `json:"withheld,omitempty"`
}

// obsSettings is what goes into OBS (Settings → Stream), or a WHIP encoder.
type obsSettings struct {
	IngressID  string                   `json:"ingressId"`
	Kind       string                   `json:"kind"`
	ServerURL  string                   `json:"serverUrl"`
	StreamKey  string                   `json:"streamKey,omitempty"`
	PublishURL string                   `json:"publishUrl,omitempty"`
	Encoder    *ingress.EncoderSettings `json:"encoder,omitempty"`
}

type performerJoin struct {
	Identity  string    `json:"identity"`
	Name      string    `json:"name,omitempty"`
	Via       string    `json:"via"`
	WSURL     string    `json:"wsUrl,omitempty"`    // browser performers: where to join
	Token     string    `json:"token,omitempty"`    // browser performers: their performer token
	ExpiresAt time.Time `json:"expiresAt,omitzero"` // of the token
	// Note says why there is no token: the performer is in the room now, and
	// joining with a new token would disconnect them (an admin's call).
	Note string `json:"note,omitempty"`
}

type listenerRecipe struct {
	Room       string `json:"room"`
	WSURL      string `json:"wsUrl"`
	TTLSeconds int    `json:"ttlSeconds"`
	Mint       string `json:"mint"` // how to get one
}

// Report is DELETE's answer: the closed show's story and files.
type Report struct {
	Name     string         `json:"name"`
	Spec     showSpecView   `json:"spec"`
	OpenedAt time.Time      `json:"openedAt"`
	ClosedAt time.Time      `json:"closedAt"`
	TookMS   int64          `json:"tookMs"` // how long closing took
	Timeline []events.Event `json:"timeline"`
	Parts    []ShowPart     `json:"parts"`
	Problems []string       `json:"problems,omitempty"`
}

func specView(sp shows.Spec) showSpecView {
	v := showSpecView{Stage: showStage{EmptyTimeoutSeconds: int(sp.Stage.EmptyTimeout / time.Second),
		DepartureTimeoutSeconds: int(sp.Stage.DepartureTimeout / time.Second), MaxParticipants: sp.Stage.MaxParticipants},
		Performers: []showPerformer{}, Ingest: string(sp.Ingest.Kind), AudioOnly: sp.Ingest.AudioOnly, Record: api.NonNil(slices.Clone(sp.Record)),
		Restreams: len(sp.Restream), ListenerTTLSeconds: int(sp.ListenerTTL / time.Second), EndAfterSeconds: int(sp.EndAfter / time.Second)}
	if v.Ingest == "" {
		v.Ingest = string(shows.NoIngest)
	}
	for _, p := range sp.Performers {
		v.Performers = append(v.Performers, showPerformer{Identity: p.Identity, Name: p.Name, Via: string(p.Via)})
	}
	return v
}

// partsView gives each file this dashboard's download path under prefix (the
// route's own path: /api or /api/stream), never a presigned link to the bucket.
func partsView(ps []shows.Part, path string) []ShowPart {
	out := []ShowPart{}
	for _, p := range ps {
		v := ShowPart{ID: p.ID, Kind: p.Kind, Status: string(p.Status), Error: p.Error, StartedAt: p.StartedAt, EndedAt: p.EndedAt, Files: []showFile{}}
		for _, f := range p.Files {
			v.Files = append(v.Files, showFile{Key: f.Key, Size: f.Size, DurationMS: f.Duration.Milliseconds(), DownloadURL: archive.DownloadPath(path, f.Key),
				Loudness: f.Loudness, LoudnessError: f.LoudnessError})
		}
		out = append(out, v)
	}
	return out
}

// recordingNow: a recording of the show runs, from its parts, or from the
// model when the show was listed without them.
func (h *Routes) recordingNow(name string, parts []shows.Part) bool {
	running := func(kind string, st egress.Status) bool { return kind != "restream" && st != "" && !st.Done() }
	for _, p := range parts {
		if running(p.Kind, p.Status) {
			return true
		}
	}
	if parts == nil && h.Events != nil {
		for _, r := range h.Events.Snapshot().Recordings {
			if r.Room == name && running(r.Kind, r.Status) {
				return true
			}
		}
	}
	return false
}

func (h *Routes) viewOf(sh shows.Show, path string) View {
	v := View{Name: sh.Name, Phase: string(sh.Phase), Spec: specView(sh.Spec), Parts: partsView(sh.Parts, path),
		Recording: h.recordingNow(sh.Name, sh.Parts), Problems: sh.Problems}
	if sh.Ingest != nil {
		v.Ingest = &showIngestState{ID: sh.Ingest.ID, Kind: string(sh.Ingest.Kind), State: string(sh.Ingest.State), Error: sh.Ingest.Error}
	}
	return v
}

func (h *Routes) Open() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req Request
		if err := api.Decode(r, &req); err != nil {
			return err
		}
		spec, ctx := req.spec(), r.Context()
		spec.Opener = principalOf(api.UserFrom(ctx)) // recorded when this creates the show
		if err := spec.Validate(); err != nil {
			return err
		}
		// The URLs LiveKit will reach, checked before anything is created.
		pull := ""
		if spec.Ingest.Kind == shows.PullURL {
			pull = spec.Ingest.URL
		}
		if err := h.CheckOutbound(ctx, spec.Restream, pull); err != nil {
			return err
		}
		sh, err := h.Shows.Open(ctx, spec)
		h.looks.Forget(spec.Name)
		if err != nil {
			return err
		}
		if sh.Created {
			h.Model.Wrote(ctx, live.RoomOpened(sh.Room))
			if sh.Ingest != nil {
				h.Model.Wrote(ctx, live.IngestEvent(events.IngestUpdated, *sh.Ingest))
			}
		} else if sid, ok := h.Model.RoomSession(sh.Name); ok && sid == sh.Room.SID {
			// A performer or destination added changed the room's metadata,
			// which no webhook tells: the list (from the model) shows it now.
			h.Model.Wrote(ctx, events.Event{Kind: events.RoomUpdated, Room: sh.Name, RoomSID: sid, Stage: &sh.Room})
		}
		u := api.UserFrom(ctx)
		h.Log.Info("show opened", "show", sh.Name, "created", sh.Created, "by", u.Name, "auth", u.Method, "id", api.RequestID(ctx))
		out := Opened{View: h.viewOf(sh, r.URL.Path), Created: sh.Created, Performers: []performerJoin{},
			Listeners: listenerRecipe{Room: sh.Name, WSURL: h.WSURL, TTLSeconds: int(sh.Listeners.TTL / time.Second),
				Mint: "POST /api/tokens with role listener and this room, ttl up to ttlSeconds"}}
		if in := sh.Ingest; in != nil {
			out.OBS = &obsSettings{IngressID: in.ID, Kind: string(in.Kind), ServerURL: in.ServerURL, StreamKey: in.StreamKey,
				PublishURL: in.PublishURL, Encoder: in.Encoder}
		}
		for _, j := range sh.Performers {
			p := performerJoin{Identity: j.Identity, Name: j.Name, Via: string(j.Via)}
			if j.Token != nil {
				if p.Note = h.TakenNote(ctx, u, sh.Name, j.Identity); p.Note == "" {
					p.WSURL, p.Token, p.ExpiresAt = h.WSURL, j.Token.JWT, j.Token.ExpiresAt
				}
			}
			out.Performers = append(out.Performers, p)
		}
		if !h.ownsShow(ctx, sh) {
			out.withhold()
		}
		status := http.StatusOK
		if sh.Created {
			status = http.StatusCreated
		}
		api.WriteJSON(w, status, out)
		return nil
	}
}

func (h *Routes) List() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		// The page asks on every event: no LiveKit call once the model serves.
		list, err := live.Or(h.Model, w, r, true, func(snap *events.Snapshot) ([]shows.Show, error) { return h.Shows.ListIn(snap.RoomList()), nil },
			h.Shows.List)
		if err != nil {
			return err
		}
		out := []View{}
		for _, sh := range list {
			v := h.viewOf(sh, r.URL.Path)
			v.Parts = nil // List has none: GET /api/shows/{name} has them
			out = append(out, v)
		}
		h.Place(r.Context(), list, out)
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

// A show's GET asks LiveKit three times (the room, its ingress, its egresses)
// and the bucket for the recorder's parts: pages polling it, or a viewer
// reloading in a loop, share one look (looks.go). A look is good for showTTL
// while the live model has not moved on, and for showMinAge in any case.
const (
	ShowTTL       = 2 * time.Second
	showMinAge    = 250 * time.Millisecond
	showCacheSize = 256
)

func (h *Routes) Get() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		var rev uint64
		if h.Events != nil {
			rev = h.Events.Snapshot().Revision
		}
		sh, err := h.looks.Get(r.Context(), name, rev, func(ctx context.Context) (shows.Show, error) { return h.Shows.Get(ctx, name) })
		if err != nil {
			return err
		}
		v := []View{h.viewOf(sh, r.URL.Path)}
		h.Place(r.Context(), []shows.Show{sh}, v)
		api.WriteJSON(w, http.StatusOK, v[0])
		return nil
	}
}

// Close closes the show and answers its report. Close waits for the
// recordings' uploads: the answer may come later than the server's write
// timeout allows other answers, and a caller who gives up does not leave the
// show half closed.
func (h *Routes) Close() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(shows.MaxUploadWait + time.Minute))
		sid, known := h.Model.RoomSession(name)
		var ins []ingress.Ingress
		if h.Events != nil {
			for _, in := range h.Events.Snapshot().Ingresses {
				if in.Room == name {
					ins = append(ins, in.Ingress)
				}
			}
		}
		ctx := context.WithoutCancel(r.Context())
		rep, err := h.Shows.Close(ctx, name)
		h.looks.Forget(name)
		if err != nil {
			return err
		}
		for _, in := range ins {
			h.Model.Wrote(ctx, live.IngestEvent(events.IngestRemoved, in))
		}
		if known {
			h.Model.Wrote(ctx, events.Event{Kind: events.RoomClosed, Room: name, RoomSID: sid})
		}
		u := api.UserFrom(ctx)
		h.Log.Info("show closed", "show", name, "took", rep.Took.String(), "parts", len(rep.Parts), "by", u.Name, "auth", u.Method, "id", api.RequestID(ctx))
		api.WriteJSON(w, http.StatusOK, Report{Name: rep.Name, Spec: specView(rep.Spec), OpenedAt: rep.OpenedAt, ClosedAt: rep.ClosedAt,
			TookMS: rep.Took.Milliseconds(), Timeline: api.NonNil(rep.Timeline), Parts: partsView(rep.Parts, r.URL.Path), Problems: rep.Problems})
		return nil
	}
}
