package events

import (
	"slices"
	"time"
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
}

// Room is a stage and who is on it.
type Room struct {
	Name         string                 `json:"name"`
	SID          string                 `json:"sid"`
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
}

const maxGone = 1 << 14

func newModel() *model {
	return &model{cur: &Snapshot{Rooms: map[string]*Room{}, Ingresses: map[string]IngestState{}, Recordings: map[string]Recording{}},
		gone: map[string]bool{}, ingestAt: map[string]time.Time{}, touched: map[string]uint64{}}
}

func (m *model) bury(id string) {
	if id == "" || m.gone[id] {
		return
	}
	m.gone[id] = true
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
	r := &Room{Name: name, SID: sid, Participants: map[string]Participant{}}
	if old := s.Rooms[name]; old != nil {
		r.SID = old.SID
		if r.SID == "" {
			r.SID = sid
		}
		r.Participants = clone(old.Participants)
	}
	s.Rooms[name] = r
	return r
}

// apply changes the model by e and reports whether anything changed. Events that
// change nothing (a duplicate, a webhook for what a resync or our own write
// already applied, a stale one) are not emitted.
func (m *model) apply(e Event) (*Snapshot, []string, bool) {
	cur := m.cur
	var keys []string
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
		s.Rooms[e.Room] = &Room{Name: e.Room, SID: sid, Participants: map[string]Participant{}}
		return s, []string{"room/" + e.Room}, true
	case RoomClosed:
		m.bury(roomSID(e))
		r := cur.Rooms[e.Room]
		if r == nil || (roomSID(e) != "" && r.SID != "" && r.SID != roomSID(e)) {
			return nil, nil, false
		}
		s := m.next()
		delete(s.Rooms, e.Room)
		return s, []string{"room/" + e.Room}, true
	case ParticipantJoined, ParticipantLeft, TrackPublished, TrackUnpublished:
		return m.applyParticipant(e)
	case IngestLive, IngestEnded, IngestUpdated, IngestRemoved:
		in := e.Ingest
		if in == nil || in.ID == "" || e.At.Before(m.ingestAt[in.ID]) {
			return nil, nil, false
		}
		old, had := cur.Ingresses[in.ID]
		if e.Kind == IngestRemoved {
			if !had {
				return nil, nil, false
			}
			m.ingestAt[in.ID] = e.At
			s := m.next()
			delete(s.Ingresses, in.ID)
			return s, []string{"in/" + in.ID}, true
		}
		if had && old == *in {
			return nil, nil, false
		}
		m.ingestAt[in.ID] = e.At
		s := m.next()
		s.Ingresses[in.ID] = *in
		return s, append(keys, "in/"+in.ID), true
	case RecordingStarted, RecordingUpdated, RecordingEnded:
		r := e.Recording
		if r == nil || r.ID == "" || m.gone[r.ID] {
			return nil, nil, false
		}
		old, had := cur.Recordings[r.ID]
		if e.Kind == RecordingEnded || !r.Active() {
			m.bury(r.ID)
			if !had && e.Kind != RecordingEnded {
				return nil, nil, false
			}
			s := m.next()
			delete(s.Recordings, r.ID)
			return s, []string{"eg/" + r.ID}, true
		}
		if had && old.Status == r.Status && slices.Equal(old.Files, r.Files) {
			return nil, nil, false
		}
		s := m.next()
		s.Recordings[r.ID] = *r
		return s, []string{"eg/" + r.ID}, true
	}
	return nil, nil, false
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
		if m.gone[p.SID] || sameSession {
			return nil, nil, false
		}
		s := m.next()
		withRoom(s, e.Room, roomSID(e)).Participants[p.Identity] = *p
		return s, []string{key}, true
	case ParticipantLeft:
		m.bury(p.SID)
		if !sameSession {
			return nil, nil, false
		}
		s := m.next()
		delete(withRoom(s, e.Room, roomSID(e)).Participants, p.Identity)
		return s, []string{key}, true
	}
	t := e.Track
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
		slices.SortFunc(np.Tracks, func(a, b Track) int { return compare(a.SID, b.SID) })
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

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
