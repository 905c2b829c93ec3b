// Package events is streamkit's live view of LiveKit: typed events in the show's
// words, a Receiver that verifies LiveKit's webhooks, and a Watch that keeps an
// in-memory model of every stage, performer, ingest and recording.
//
// The Watch works like a Kubernetes informer: list (LiveKit's List* APIs), watch
// (its webhooks) and resync (list again periodically). Webhooks are lost, late
// and reordered in practice (livekit/livekit#2399, livekit/livekit#2308,
// livekit/protocol#729); a resync that finds the model wrong emits the event that
// corrects it, marked Resync, so subscribers see one ordered story either way.
//
//	              webhooks                         every Resync
//	LiveKit ──────────────► Receiver ──┐      ┌──── List* ◄──── LiveKit
//	                                   ▼      ▼
//	                               Watch.apply (one writer)
//	                                   │  revision += 1 per change
//	                      ┌────────────┼────────────┐
//	                      ▼            ▼            ▼
//	                 Snapshot()    event log    Wait(after) ──► subscribers
//	                (never blocks)  (bounded)    (ordered deltas, resumable)
package events

import (
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/audit"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Kind names what happened, in the show's words.
type Kind string

// The kinds of Event.
const (
	RoomOpened        Kind = "room_opened"
	RoomClosed        Kind = "room_closed"
	RoomUpdated       Kind = "room_updated" // metadata or settings changed
	ParticipantJoined Kind = "participant_joined"
	ParticipantLeft   Kind = "participant_left"
	// ParticipantUpdated: name, metadata, attributes or permission changed
	// (promoted to the stage, demoted to the audience).
	ParticipantUpdated Kind = "participant_updated"
	TrackPublished     Kind = "track_published"
	TrackUnpublished   Kind = "track_unpublished"
	TrackUpdated       Kind = "track_updated" // muted or unmuted
	IngestLive         Kind = "ingest_live"
	IngestEnded        Kind = "ingest_ended"
	IngestUpdated      Kind = "ingest_updated" // created or changed without going live or ending
	IngestRemoved      Kind = "ingest_removed"
	RecordingStarted   Kind = "recording_started"
	RecordingUpdated   Kind = "recording_updated"
	RecordingEnded     Kind = "recording_ended"
	// SpoolFull: the show's own recorder stopped writing new audio, its spool
	// being full (Spool says which bound); nothing spooled is lost.
	// SpoolResumed: there is room again, and recording goes on in a new part.
	SpoolFull    Kind = "spool_full"
	SpoolResumed Kind = "spool_resumed"
	// ShowTampered: a show's spec in its room's metadata was changed outside
	// streamkit (package shows); the show keeps its last good spec.
	ShowTampered Kind = "show_tampered"
	// Impostor: someone joined under a reserved identity (the recorder's, a
	// monitor's: tokens.Reserved) without the project's proof (a token made
	// elsewhere with the API key). LiveKit dropped the identity's earlier
	// holder for them. Participant is who joined. Needs Options.Own.
	Impostor Kind = "impostor"
	// RehearsalStarted, RehearsalStepped, RehearsalEnded: a rehearsal of a
	// show's audience (package rehearsal) began, measured a step, ended;
	// Rehearsal says which and how. Room is the show's room. The dashboard
	// shows them to admins only, as it runs rehearsals for admins only.
	RehearsalStarted Kind = "rehearsal_started"
	RehearsalStepped Kind = "rehearsal_stepped"
	RehearsalEnded   Kind = "rehearsal_ended"
	// ClippingStarted, ClippingStopped: the show's live audio, as its own
	// recorder hears it, clips (true peak above -1 dBTP in 2 of the last 3
	// seconds), or clipped and stopped (3 clean seconds, or the track ended).
	// LoudnessOffTarget, LoudnessOnTarget: its short-term loudness stayed
	// more than the tolerance off the operator's target for 10 s, or came
	// back within it for as long. Loudness says how much. Only transitions:
	// a show that clips all night makes one event. See package loudness.
	ClippingStarted   Kind = "clipping_started"
	ClippingStopped   Kind = "clipping_stopped"
	LoudnessOffTarget Kind = "loudness_off_target"
	LoudnessOnTarget  Kind = "loudness_on_target"
	// AudioFlagged: a published audio track fails a point of the music
	// profile (Finding says which, and the fix); once per track and finding.
	AudioFlagged Kind = "audio_flagged"
)

// Role is what a participant is to the show.
type Role string

// Roles, from LiveKit's participant kind and permissions.
const (
	Performer Role = "performer" // may publish
	Listener  Role = "listener"  // subscribes only
	Ingest    Role = "ingest"    // OBS or a pulled stream, through LiveKit Ingress
	Recorder  Role = "recorder"  // LiveKit Egress
	Agent     Role = "agent"     // an agent, a SIP caller or a connector
	Monitor   Role = "monitor"   // hidden: an operator or a bot listening unseen, not a listener
)

// Event is one change of the show. Exactly the fields its Kind is about are set.
type Event struct {
	Revision uint64    `json:"revision"` // the Watch's order; 0 until a Watch applied it
	ID       string    `json:"id"`       // LiveKit's event id; resync events have their own
	Kind     Kind      `json:"kind"`
	At       time.Time `json:"at"` // when LiveKit says it happened (seconds), or when a resync found it
	Room     string    `json:"room,omitempty"`
	RoomSID  string    `json:"roomSid,omitempty"` // the room's session: a room reopened under its name has a new one
	// Resync: found by comparing the model with LiveKit's lists, because the
	// webhook was lost, late or never sent.
	Resync bool `json:"resync,omitempty"`
	// Webhook: LiveKit's webhook told it (neither a resync nor a service's own
	// write). A Watch that sees these knows LiveKit's webhooks reach the show.
	Webhook bool `json:"webhook,omitempty"`

	Stage       *rooms.Room    `json:"stage,omitempty"` // room_opened, room_updated: the room's settings
	Participant *Participant   `json:"participant,omitempty"`
	Track       *Track         `json:"track,omitempty"`
	Ingest      *IngestState   `json:"ingest,omitempty"`
	Recording   *Recording     `json:"recording,omitempty"`
	Spool       *Spool         `json:"spool,omitempty"`    // spool_full, spool_resumed
	Loudness    *Loudness      `json:"loudness,omitempty"` // clipping_*, loudness_*_target
	Finding     *audit.Finding `json:"finding,omitempty"`  // audio_flagged
	Rehearsal   *Rehearsal     `json:"rehearsal,omitempty"`

	// Raw is LiveKit's webhook as received, for those who need more; nil for
	// resync events and after a round trip through JSON.
	Raw *livekit.WebhookEvent `json:"-"`
}

// Participant is someone (or something) in a room: LiveKit's participant as
// the rooms package describes it, and what it is to the show.
type Participant struct {
	rooms.Participant
	Role Role `json:"role,omitempty"` // empty: LiveKit did not say and the model does not know them
}

// Hidden reports a monitor: someone not counted as a listener.
func (p Participant) Hidden() bool { return p.Permission.Hidden }

// Track is one published track.
type Track = rooms.Track

// IngestState is an ingress as the show sees it, without its stream key: events
// go to every viewer and into the shared log.
type IngestState struct {
	ingress.Ingress
}

// Live reports whether the ingest is sending media into its room.
func (i IngestState) Live() bool {
	return i.State == ingress.Publishing || i.State == ingress.Buffering
}

// same reports whether two states of an ingress are the same to the show.
func (i IngestState) same(o IngestState) bool {
	a, b := i.Ingress, o.Ingress
	a.Encoder, b.Encoder = nil, nil
	a.Input, b.Input = nil, nil
	return a == b && sameInput(i.Input, o.Input)
}

// sameInput compares what two ingress states say the encoder sends, by value.
func sameInput(a, b *ingress.Input) bool {
	if a == nil || b == nil {
		return a == b
	}
	return samePointee(a.Audio, b.Audio) && samePointee(a.Video, b.Video)
}

// samePointee compares two pointers by what they point to; nil only equals nil.
func samePointee[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Spool is the show's own recorder's spool as a spool event tells it.
type Spool struct {
	Bytes    int64  `json:"bytes"`              // what it holds
	MaxBytes int64  `json:"maxBytes,omitempty"` // its limit
	Why      string `json:"why,omitempty"`      // the bound reached, in words
}

// Loudness is what a live loudness event measured.
type Loudness struct {
	// TruePeak: clipping_*: the loudest window of the clipping, dBTP.
	TruePeak float64 `json:"truePeakDbtp,omitempty"`
	// ShortTerm: loudness_*_target: the short-term loudness then, LUFS, and
	// the target it is compared with.
	ShortTerm float64 `json:"shortTermLufs,omitempty"`
	Target    float64 `json:"targetLufs,omitempty"`
	// For: clipping_stopped: from its first clipped window to its last.
	For time.Duration `json:"for,omitempty"`
}

// Rehearsal is a rehearsal's progress as its events tell it.
type Rehearsal struct {
	ID      string         `json:"id"`
	Planned []int          `json:"planned,omitempty"` // rehearsal_started: the listeners of each step it will try
	Step    *RehearsalStep `json:"step,omitempty"`    // rehearsal_stepped
	// rehearsal_ended: the capacity found (the last step within the limits),
	// why it stopped early, or the error that ended it without a result.
	Capacity  int    `json:"capacity"`
	StoppedBy string `json:"stoppedBy,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Error     string `json:"error,omitempty"`
}

// RehearsalStep is what one step of a rehearsal measured, durations in
// milliseconds and CPU in seconds over the step's window.
type RehearsalStep struct {
	Listeners    int      `json:"listeners"`
	LossPercent  float64  `json:"lossPercent"`
	JitterP50Ms  float64  `json:"jitterP50Ms"`
	JitterP95Ms  float64  `json:"jitterP95Ms"`
	JoinP50Ms    float64  `json:"joinP50Ms"`
	JoinP95Ms    float64  `json:"joinP95Ms"`
	SFUCPU       *float64 `json:"sfuCpu,omitempty"` // absent: LiveKit's metrics were not readable
	GeneratorCPU float64  `json:"generatorCpu"`
	Passed       bool     `json:"passed"`
	Crossed      string   `json:"crossed,omitempty" enum:"loss,jitter"`
}

// Recording is an egress as the show sees it.
type Recording struct {
	egress.Egress
	Duration time.Duration `json:"duration,omitempty"` // from start to end, once it ended
}

// Active reports whether the egress is still running.
func (r Recording) Active() bool { return r.Status != "" && !r.Status.Done() }

// Keys are the bucket keys of what the recording wrote.
func (r Recording) Keys() []string {
	var out []string
	for _, f := range r.Files {
		out = append(out, f.Key)
	}
	for _, p := range r.Playlists {
		out = append(out, p.Key)
	}
	return out
}

// FromWebhook turns LiveKit's webhook into an Event. ok is false for events the
// show has no word for.
func FromWebhook(w *livekit.WebhookEvent) (e Event, ok bool) {
	e = Event{ID: w.GetId(), At: time.Unix(w.GetCreatedAt(), 0).UTC(), Room: w.GetRoom().GetName(), RoomSID: w.GetRoom().GetSid(), Webhook: true, Raw: w}
	if p := w.GetParticipant(); p != nil {
		pp := participantFrom(p)
		e.Participant = &pp
	}
	switch w.GetEvent() {
	case "room_started":
		e.Kind = RoomOpened
		if r := w.GetRoom(); r != nil {
			st := rooms.FromLiveKit(r)
			e.Stage = &st
		}
	case "room_finished":
		e.Kind = RoomClosed
	case "participant_joined":
		e.Kind = ParticipantJoined
	case "participant_left", "participant_connection_aborted":
		e.Kind = ParticipantLeft
	case "track_published", "track_unpublished":
		e.Kind = TrackPublished
		if w.GetEvent() == "track_unpublished" {
			e.Kind = TrackUnpublished
		}
		if t := w.GetTrack(); t != nil {
			tt := trackFrom(t)
			e.Track = &tt
		}
	case "ingress_started", "ingress_ended":
		e.Kind = IngestLive
		if w.GetEvent() == "ingress_ended" {
			e.Kind = IngestEnded
		}
		in := ingestFrom(w.GetIngressInfo())
		e.Ingest, e.Room = &in, in.Room
	case "egress_started", "egress_updated", "egress_ended":
		e.Kind = map[string]Kind{"egress_started": RecordingStarted, "egress_updated": RecordingUpdated, "egress_ended": RecordingEnded}[w.GetEvent()]
		r := recordingFrom(w.GetEgressInfo())
		e.Recording, e.Room = &r, r.Room
	default:
		return Event{}, false
	}
	if e.Participant != nil {
		e.Participant.Tracks = nil // the track, if any, is the event's own
		if e.Track != nil {
			// LiveKit's track webhooks name the participant by SID and identity
			// only (livekit-server's telemetry TrackPublished/Unpublished), so a
			// role read from them would call everyone a listener: the Watch
			// gives the event the participant it knows.
			e.Participant.Role = ""
		}
	}
	return e, true
}

func participantFrom(p *livekit.ParticipantInfo) Participant {
	return ParticipantOf(rooms.ParticipantFromLiveKit(p))
}

// ParticipantOf is p with its role in the show: what a service applies after
// changing a participant itself (promote, demote).
func ParticipantOf(p rooms.Participant) Participant {
	role := Listener
	switch p.Kind {
	case "ingress":
		role = Ingest
	case "egress":
		role = Recorder
	case "agent", "sip", "connector":
		role = Agent
	default:
		switch {
		case p.Permission.Hidden:
			role = Monitor
		case p.Permission.CanPublish:
			role = Performer
		}
	}
	return Participant{Participant: p, Role: role}
}

func trackFrom(t *livekit.TrackInfo) Track { return rooms.TrackFromLiveKit(t) }

func ingestFrom(i *livekit.IngressInfo) IngestState {
	return IngestState{Ingress: ingress.FromLiveKit(i).Redacted()}
}

func recordingFrom(e *livekit.EgressInfo) Recording {
	r := Recording{Egress: egress.FromLiveKit(e, "")}
	if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() {
		r.Duration = r.EndedAt.Sub(r.StartedAt)
	}
	return r
}
