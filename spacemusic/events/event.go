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
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
)

// Kind names what happened, in the show's words.
type Kind string

// The kinds of Event.
const (
	RoomOpened        Kind = "room_opened"
	RoomClosed        Kind = "room_closed"
	ParticipantJoined Kind = "participant_joined"
	ParticipantLeft   Kind = "participant_left"
	TrackPublished    Kind = "track_published"
	TrackUnpublished  Kind = "track_unpublished"
	IngestLive        Kind = "ingest_live"
	IngestEnded       Kind = "ingest_ended"
	IngestUpdated     Kind = "ingest_updated" // created or changed without going live or ending
	IngestRemoved     Kind = "ingest_removed"
	RecordingStarted  Kind = "recording_started"
	RecordingUpdated  Kind = "recording_updated"
	RecordingEnded    Kind = "recording_ended"
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

	Participant *Participant `json:"participant,omitempty"`
	Track       *Track       `json:"track,omitempty"`
	Ingest      *IngestState `json:"ingest,omitempty"`
	Recording   *Recording   `json:"recording,omitempty"`

	// Raw is LiveKit's webhook as received, for those who need more; nil for
	// resync events and after a round trip through JSON.
	Raw *livekit.WebhookEvent `json:"-"`
}

// Participant is someone (or something) in a room.
type Participant struct {
	SID      string    `json:"sid"`
	Identity string    `json:"identity"`
	Name     string    `json:"name,omitempty"`
	Role     Role      `json:"role"`
	Hidden   bool      `json:"hidden,omitempty"` // a monitor: not counted as a listener
	JoinedAt time.Time `json:"joinedAt,omitzero"`
	Tracks   []Track   `json:"tracks,omitempty"` // in the model; events carry the track apart
}

// Track is one published track.
type Track struct {
	SID      string `json:"sid"`
	Name     string `json:"name,omitempty"`
	Kind     string `json:"kind"`             // audio or video
	Source   string `json:"source,omitempty"` // microphone, camera, screen_share, ...
	MimeType string `json:"mimeType,omitempty"`
	Muted    bool   `json:"muted,omitempty"`
}

// IngestState is an ingress as the show sees it.
type IngestState struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Room     string `json:"room"`
	Identity string `json:"identity,omitempty"`
	Input    string `json:"input"` // rtmp, whip or url
	State    string `json:"state"` // inactive, buffering, publishing, error, complete
	Error    string `json:"error,omitempty"`
}

// Live reports whether the ingest is sending media into its room.
func (i IngestState) Live() bool { return i.State == "publishing" || i.State == "buffering" }

// Recording is an egress as the show sees it.
type Recording struct {
	ID        string        `json:"id"`
	Room      string        `json:"room"`
	Status    string        `json:"status"` // starting, active, ending, complete, failed, aborted, limit_reached
	Files     []string      `json:"files,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	Error     string        `json:"error,omitempty"`
	StartedAt time.Time     `json:"startedAt,omitzero"`
	EndedAt   time.Time     `json:"endedAt,omitzero"`
}

// Active reports whether the egress is still running.
func (r Recording) Active() bool {
	return r.Status == "starting" || r.Status == "active" || r.Status == "ending"
}

// FromWebhook turns LiveKit's webhook into an Event. ok is false for events the
// show has no word for.
func FromWebhook(w *livekit.WebhookEvent) (e Event, ok bool) {
	e = Event{ID: w.GetId(), At: time.Unix(w.GetCreatedAt(), 0).UTC(), Room: w.GetRoom().GetName(), RoomSID: w.GetRoom().GetSid(), Raw: w}
	if p := w.GetParticipant(); p != nil {
		pp := participantFrom(p)
		e.Participant = &pp
	}
	switch w.GetEvent() {
	case "room_started":
		e.Kind = RoomOpened
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
	}
	return e, true
}

func participantFrom(p *livekit.ParticipantInfo) Participant {
	out := Participant{SID: p.GetSid(), Identity: p.GetIdentity(), Name: p.GetName(), Role: roleOf(p),
		Hidden: p.GetPermission().GetHidden()}
	if j := p.GetJoinedAt(); j > 0 {
		out.JoinedAt = time.Unix(j, 0).UTC()
	}
	for _, t := range p.GetTracks() {
		out.Tracks = append(out.Tracks, trackFrom(t))
	}
	return out
}

func roleOf(p *livekit.ParticipantInfo) Role {
	switch p.GetKind() {
	case livekit.ParticipantInfo_INGRESS:
		return Ingest
	case livekit.ParticipantInfo_EGRESS:
		return Recorder
	case livekit.ParticipantInfo_AGENT, livekit.ParticipantInfo_SIP, livekit.ParticipantInfo_CONNECTOR:
		return Agent
	}
	if p.GetPermission().GetCanPublish() {
		return Performer
	}
	return Listener
}

func trackFrom(t *livekit.TrackInfo) Track {
	return Track{SID: t.GetSid(), Name: t.GetName(), Kind: lower(t.GetType().String()), Source: lower(t.GetSource().String()),
		MimeType: t.GetMimeType(), Muted: t.GetMuted()}
}

func ingestFrom(i *livekit.IngressInfo) IngestState {
	in := map[livekit.IngressInput]string{livekit.IngressInput_RTMP_INPUT: "rtmp", livekit.IngressInput_WHIP_INPUT: "whip", livekit.IngressInput_URL_INPUT: "url"}
	out := IngestState{ID: i.GetIngressId(), Name: i.GetName(), Room: i.GetRoomName(), Identity: i.GetParticipantIdentity(),
		Input: in[i.GetInputType()], State: lower(strings.TrimPrefix(i.GetState().GetStatus().String(), "ENDPOINT_")),
		Error: i.GetState().GetError()}
	return out
}

func recordingFrom(e *livekit.EgressInfo) Recording {
	r := Recording{ID: e.GetEgressId(), Room: e.GetRoomName(), Status: lower(strings.TrimPrefix(e.GetStatus().String(), "EGRESS_")),
		Error: e.GetError()}
	if e.GetStartedAt() > 0 {
		r.StartedAt = time.Unix(0, e.GetStartedAt()).UTC()
	}
	if e.GetEndedAt() > 0 {
		r.EndedAt = time.Unix(0, e.GetEndedAt()).UTC()
		if !r.StartedAt.IsZero() {
			r.Duration = r.EndedAt.Sub(r.StartedAt)
		}
	}
	for _, f := range e.GetFileResults() {
		r.Files = append(r.Files, f.GetFilename())
	}
	for _, s := range e.GetSegmentResults() {
		r.Files = append(r.Files, s.GetPlaylistName())
	}
	return r
}

func lower(s string) string { return strings.ToLower(s) }
