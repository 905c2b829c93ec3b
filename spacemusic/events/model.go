package events

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/audit"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Snapshot is the model at one revision. It is immutable: the Watch builds a new
// one for every change, so readers hold it as long as they like without locks.
type Snapshot struct {
	Revision uint64    `json:"revision"`
	Synced   bool      `json:"synced"`   // a full list of LiveKit has completed
	Changed  time.Time `json:"changed"`  // when the last change was applied
	Resynced time.Time `json:"resynced"` // when the last list of LiveKit completed

	Rooms      map[string]*Room       `json:"rooms"`      // by name
	Ingresses  map[string]IngestState `json:"ingresses"`  // by ID: every ingress LiveKit has
	Recordings map[string]Recording   `json:"recordings"` // by ID: the running egresses

	audit audit.Options // the music profile's settings, for Warnings
	warn  *warnings     // Warnings judged once per snapshot; nil: judged per read
}

// Room is a stage and who is on it, as LiveKit last described the room; its
// counts are LiveKit's at that moment (RoomList and RoomDetail count the model).
type Room struct {
	rooms.Room
	Participants map[string]Participant `json:"participants"` // by identity
}

// RoomNames returns the rooms' names, sorted.
func (s *Snapshot) RoomNames() []string {
	out := make([]string, 0, len(s.Rooms))
	for n := range s.Rooms {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// model is the writer's working state: the current Snapshot plus what lets it
// refuse stale webhooks. Only the Watch's writer touches it.
type model struct {
	cur *Snapshot
	// gone remembers the SIDs of rooms, participants and tracks that ended and the
	// IDs of egresses that ended: they never come back, so a late "joined" or
	// "published" for one is stale (LiveKit's webhooks are not ordered).
	gone      map[string]bool
	goneOrder []string
	// ingestAt is the time of the newest event applied per ingress: ingress IDs
	// are reused across sessions, so order is judged by time.
	ingestAt map[string]time.Time
	// touched is the revision that last changed each key; a resync leaves keys
	// touched after it began alone (a webhook knows better than a list taken
	// before it).
	touched map[string]uint64
	// flagged is the findings already told, by track SID: each is told once.
	flagged map[string]map[audit.Code]bool
}

const maxGone = 1 << 14

func newModel(o audit.Options) *model {
	return &model{cur: &Snapshot{Rooms: map[string]*Room{}, Ingresses: map[string]IngestState{}, Recordings: map[string]Recording{}, audit: o, warn: &warnings{}},
		gone: map[string]bool{}, ingestAt: map[string]time.Time{}, touched: map[string]uint64{}, flagged: map[string]map[audit.Code]bool{}}
}

func (m *model) bury(id string) {
	if id == "" || m.gone[id] {
		return
	}
	m.gone[id] = true
	delete(m.flagged, id)
	m.goneOrder = append(m.goneOrder, id)
	if len(m.goneOrder) > maxGone {
		delete(m.gone, m.goneOrder[0])
		m.goneOrder = m.goneOrder[1:]
	}
}

// next is a copy of the current snapshot whose top-level maps may be changed;
// rooms are shared until withRoom copies the one that changes.
func (m *model) next() *Snapshot {
	s := *m.cur
	s.Rooms = clone(m.cur.Rooms)
	s.Ingresses = clone(m.cur.Ingresses)
	s.Recordings = clone(m.cur.Recordings)
	s.warn = &warnings{}
	return &s
}

func clone[K comparable, V any](in map[K]V) map[K]V {
	out := make(map[K]V, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// withRoom returns a private copy of room name in s (made if missing).
func withRoom(s *Snapshot, name, sid string) *Room {
	r := &Room{Room: rooms.Room{Name: name, SID: sid}, Participants: map[string]Participant{}}
	if old := s.Rooms[name]; old != nil {
		r.Room = old.Room
		if r.SID == "" {
			r.SID = sid
		}
		r.Participants = clone(old.Participants)
	}
	s.Rooms[name] = r
	return r
}

// stage is the room that e opens or describes.
func stage(e Event, sid string) rooms.Room {
	if e.Stage != nil {
		st := *e.Stage
		st.Name, st.SID = e.Room, sid
		return st
	}
	return rooms.Room{Name: e.Room, SID: sid}
}

// apply changes the model by e and reports whether anything changed. Events that
// change nothing (a duplicate, a webhook for what a resync or our own write
// already applied, a stale one) are not emitted.
func (m *model) apply(e Event) (*Snapshot, []string, bool) {
	switch e.Kind {
	case RoomOpened, RoomUpdated, RoomClosed:
		return m.applyRoom(e)
	case ParticipantJoined, ParticipantLeft, ParticipantUpdated, TrackPublished, TrackUnpublished, TrackUpdated:
		return m.applyParticipant(e)
	case IngestLive, IngestEnded, IngestUpdated, IngestRemoved:
		return m.applyIngest(e)
	case RecordingStarted, RecordingUpdated, RecordingEnded:
		return m.applyRecording(e)
	case AudioFlagged:
		return m.applyFlag(e)
	case Impostor:
		// Changes nothing the model holds (the join did): it is news for the
		// timeline and the event stream.
		if e.Participant == nil || e.Room == "" {
			return nil, nil, false
		}
		return m.next(), nil, true
	case SpoolFull, SpoolResumed:
		// The model has nothing to change; the show's story tells it.
		if e.Room == "" || e.Spool == nil {
			return nil, nil, false
		}
		return m.next(), nil, true
	case ClippingStarted, ClippingStopped, LoudnessOffTarget, LoudnessOnTarget:
		// As the spool's: news for the show's story and the stream.
		if e.Room == "" || e.Loudness == nil {
			return nil, nil, false
		}
		return m.next(), nil, true
	case RehearsalStarted, RehearsalStepped, RehearsalEnded:
		// News for the stream and the show's story only.
		if e.Room == "" || e.Rehearsal == nil {
			return nil, nil, false
		}
		return m.next(), nil, true
	case ShowTampered:
		// Nothing of the model changes: the event is a report, in the log and
		// the stream, about a room the model has.
		if m.cur.Rooms[e.Room] == nil {
			return nil, nil, false
		}
		return m.next(), nil, true
	}
	return nil, nil, false
}

func (m *model) applyRoom(e Event) (*Snapshot, []string, bool) {
	cur := m.cur
	switch e.Kind {
	case RoomOpened:
		sid := roomSID(e)
		if m.gone[sid] {
			return nil, nil, false
		}
		if r := cur.Rooms[e.Room]; r != nil && (r.SID == sid || sid == "" || r.SID == "") {
			return nil, nil, false
		}
		s := m.next()
		s.Rooms[e.Room] = &Room{Room: stage(e, sid), Participants: map[string]Participant{}}
		return s, []string{"room/" + e.Room}, true
	case RoomUpdated:
		r := cur.Rooms[e.Room]
		if r == nil || e.Stage == nil || (roomSID(e) != "" && r.SID != "" && r.SID != roomSID(e)) {
			return nil, nil, false
		}
		st := stage(e, r.SID)
		if sameStage(r.Room, st) {
			return nil, nil, false
		}
		s := m.next()
		withRoom(s, e.Room, r.SID).Room = st
		return s, []string{"room/" + e.Room}, true
	default: // RoomClosed
		m.bury(roomSID(e))
		r := cur.Rooms[e.Room]
		if r == nil || (roomSID(e) != "" && r.SID != "" && r.SID != roomSID(e)) {
			return nil, nil, false
		}
		for _, p := range r.Participants {
			m.forget(p.Tracks)
		}
		s := m.next()
		delete(s.Rooms, e.Room)
		return s, []string{"room/" + e.Room}, true
	}
}

// applyIngest keeps every ingress LiveKit has; an event older than the last
// one applied to that ingress is stale.
func (m *model) applyIngest(e Event) (*Snapshot, []string, bool) {
	in := e.Ingest
	if in == nil || in.ID == "" || e.At.Before(m.ingestAt[in.ID]) {
		return nil, nil, false
	}
	old, had := m.cur.Ingresses[in.ID]
	if e.Kind == IngestRemoved {
		if !had {
			return nil, nil, false
		}
		m.ingestAt[in.ID] = e.At
		s := m.next()
		delete(s.Ingresses, in.ID)
		return s, []string{"in/" + in.ID}, true
	}
	if had && old.same(*in) {
		return nil, nil, false
	}
	m.ingestAt[in.ID] = e.At
	s := m.next()
	s.Ingresses[in.ID] = *in
	return s, []string{"in/" + in.ID}, true
}

// applyRecording keeps the running recordings; an ended one is buried, so a
// late start cannot bring it back.
func (m *model) applyRecording(e Event) (*Snapshot, []string, bool) {
	r := e.Recording
	if r == nil || r.ID == "" || m.gone[r.ID] {
		return nil, nil, false
	}
	old, had := m.cur.Recordings[r.ID]
	if e.Kind == RecordingEnded || !r.Active() {
		m.bury(r.ID)
		if !had && e.Kind != RecordingEnded {
			return nil, nil, false
		}
		s := m.next()
		delete(s.Recordings, r.ID)
		return s, []string{"eg/" + r.ID}, true
	}
	if had && old.Status == r.Status && slices.Equal(old.Files, r.Files) && slices.Equal(old.Streams, r.Streams) {
		return nil, nil, false
	}
	s := m.next()
	s.Recordings[r.ID] = *r
	return s, []string{"eg/" + r.ID}, true
}

func (m *model) applyParticipant(e Event) (*Snapshot, []string, bool) {
	p := e.Participant
	if p == nil || p.Identity == "" || e.Room == "" {
		return nil, nil, false
	}
	key := "p/" + e.Room + "/" + p.Identity
	old, had := Participant{}, false
	if r := m.cur.Rooms[e.Room]; r != nil {
		old, had = r.Participants[p.Identity]
	}
	sameSession := had && (old.SID == p.SID || p.SID == "")
	switch e.Kind {
	case ParticipantJoined:
		// A join after its session's track (which named the participant
		// without their role) still tells who they are.
		learns := sameSession && old.Role == "" && p.Role != ""
		if m.gone[p.SID] || (sameSession && !learns) {
			return nil, nil, false
		}
		np := *p
		if learns {
			np.Tracks = old.Tracks
		}
		s := m.next()
		withRoom(s, e.Room, roomSID(e)).Participants[p.Identity] = np
		return s, []string{key}, true
	case ParticipantLeft:
		m.bury(p.SID)
		if !sameSession {
			return nil, nil, false
		}
		m.forget(old.Tracks)
		s := m.next()
		delete(withRoom(s, e.Room, roomSID(e)).Participants, p.Identity)
		return s, []string{key}, true
	case ParticipantUpdated:
		if !sameSession || old.same(*p) {
			return nil, nil, false
		}
		np := *p
		np.SID, np.Tracks = old.SID, old.Tracks
		s := m.next()
		withRoom(s, e.Room, roomSID(e)).Participants[p.Identity] = np
		return s, []string{key}, true
	}
	return m.applyTrack(e, old, sameSession, key)
}

// applyTrack applies a track's event to its participant (old, as the model
// holds them; sameSession: the event is of the session the model has).
func (m *model) applyTrack(e Event, old Participant, sameSession bool, key string) (*Snapshot, []string, bool) {
	p, t := e.Participant, e.Track
	if t == nil || t.SID == "" {
		return nil, nil, false
	}
	tkey := "t/" + t.SID
	i := slices.IndexFunc(old.Tracks, func(x Track) bool { return x.SID == t.SID })
	if e.Kind == TrackPublished {
		if m.gone[t.SID] || m.gone[p.SID] || (sameSession && i >= 0) {
			return nil, nil, false
		}
		np := old
		if !sameSession { // the join was lost or is late: the track says who
			np = *p
			np.Tracks = nil
		}
		np.Tracks = append(slices.Clone(np.Tracks), *t)
		slices.SortFunc(np.Tracks, func(a, b Track) int { return strings.Compare(a.SID, b.SID) })
		s := m.next()
		withRoom(s, e.Room, roomSID(e)).Participants[p.Identity] = np
		return s, []string{key, tkey}, true
	}
	if e.Kind == TrackUpdated {
		if !sameSession || i < 0 || old.Tracks[i] == *t {
			return nil, nil, false
		}
		np := old
		np.Tracks = slices.Clone(old.Tracks)
		np.Tracks[i] = *t
		s := m.next()
		withRoom(s, e.Room, roomSID(e)).Participants[p.Identity] = np
		return s, []string{key, tkey}, true
	}
	m.bury(t.SID)
	if !sameSession || i < 0 {
		return nil, nil, false
	}
	np := old
	np.Tracks = slices.Delete(slices.Clone(old.Tracks), i, i+1)
	s := m.next()
	withRoom(s, e.Room, roomSID(e)).Participants[p.Identity] = np
	return s, []string{key, tkey}, true
}

func roomSID(e Event) string { return e.RoomSID }

// known gives an event that names a participant without saying who they are
// to the show (a track webhook: Role empty) the participant the model holds
// for that session, so that "ada started playing audio" says ada is a
// performer. A participant the model does not know keeps an empty role.
func (m *model) known(e Event) Event {
	p := e.Participant
	if p == nil || p.Role != "" {
		return e
	}
	r := m.cur.Rooms[e.Room]
	if r == nil {
		return e
	}
	held, ok := r.Participants[p.Identity]
	if !ok || (p.SID != "" && held.SID != p.SID) {
		return e
	}
	held.Tracks = nil
	e.Participant = &held
	return e
}

// sameStage compares what a room_updated may change.
func sameStage(a, b rooms.Room) bool {
	return a.Metadata == b.Metadata && a.MaxParticipants == b.MaxParticipants &&
		a.EmptyTimeoutSec == b.EmptyTimeoutSec && a.DepartureTimeoutSec == b.DepartureTimeoutSec
}

// same compares what a participant_updated may change; tracks have their own
// events, and LiveKit's connection state is not the show's business.
func (p Participant) same(o Participant) bool {
	a, b := p.Permission, o.Permission
	return p.Name == o.Name && p.Metadata == o.Metadata && maps.Equal(p.Attributes, o.Attributes) && p.Role == o.Role &&
		a.CanPublish == b.CanPublish && a.CanSubscribe == b.CanSubscribe && a.CanPublishData == b.CanPublishData &&
		a.Hidden == b.Hidden && a.Recorder == b.Recorder && slices.Equal(a.Sources, b.Sources)
}

// The views below answer in the rooms, ingress and egress packages' types, so a
// service can serve reads from the model in the same shape as from LiveKit.

// RoomList is every room, by name, with its counts from the model.
func (s *Snapshot) RoomList() []rooms.Room {
	recording := s.recordingRooms()
	out := make([]rooms.Room, 0, len(s.Rooms))
	for _, name := range s.RoomNames() {
		out = append(out, room(s.Rooms[name], recording))
	}
	return out
}

// RoomDetail is one room with everyone in it (by identity), or false.
func (s *Snapshot) RoomDetail(name string) (rooms.Detail, bool) {
	r := s.Rooms[name]
	if r == nil {
		return rooms.Detail{}, false
	}
	d := rooms.Detail{Room: room(r, s.recordingRooms()), Participants: make([]rooms.Participant, 0, len(r.Participants))}
	for _, id := range sortedKeys(r.Participants) {
		v := r.Participants[id].view()
		v.Warnings = s.Warnings(name, r.Participants[id])
		d.Participants = append(d.Participants, v)
	}
	return d, true
}

// recordingRooms are the rooms with a running egress.
func (s *Snapshot) recordingRooms() map[string]bool {
	out := make(map[string]bool, len(s.Recordings))
	for _, rec := range s.Recordings {
		out[rec.Room] = true
	}
	return out
}

// room counts the show: hidden participants (monitors) are not its audience.
func room(r *Room, recording map[string]bool) rooms.Room {
	out := r.Room
	out.NumParticipants, out.NumPublishers, out.ActiveRecording = 0, 0, recording[r.Name]
	for _, p := range r.Participants {
		if p.Permission.Hidden {
			continue
		}
		out.NumParticipants++
		if len(p.Tracks) > 0 {
			out.NumPublishers++
		}
	}
	return out
}

// view is the participant with its tracks, as rooms.Participant.
func (p Participant) view() rooms.Participant {
	out := p.Participant
	out.Tracks = append(make([]rooms.Track, 0, len(p.Tracks)), p.Tracks...)
	out.IsPublisher = out.IsPublisher || len(p.Tracks) > 0
	return out
}

// IngressList is every ingress (of room, when not empty), by ID, stream keys
// redacted.
func (s *Snapshot) IngressList(room string) []ingress.Ingress {
	out := []ingress.Ingress{}
	for _, id := range sortedKeys(s.Ingresses) {
		if in := s.Ingresses[id]; room == "" || in.Room == room {
			out = append(out, in.Ingress)
		}
	}
	return out
}

// RecordingList is every running egress (of room, when not empty), by ID.
func (s *Snapshot) RecordingList(room string) []egress.Egress {
	out := []egress.Egress{}
	for _, id := range sortedKeys(s.Recordings) {
		if r := s.Recordings[id]; room == "" || r.Room == room {
			out = append(out, r.Egress)
		}
	}
	return out
}
