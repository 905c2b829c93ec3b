package events

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/spacemusic/streamkit/spacemusic/audit"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// The live model judges every audio track against the music profile (package
// audit): Snapshot.Warnings for the page, and one AudioFlagged event per track
// and finding for the stream and the timeline. A resync that lists the same
// track again tells nothing new: the model remembers what it told.

// Warnings are where p's audio in room fails the music profile, track by track.
// For a participant of the snapshot they are judged once per snapshot (a room's
// first read judges the whole room) and later reads answer the stored result;
// the slice is shared, so callers must not change its elements.
func (s *Snapshot) Warnings(room string, p Participant) []audit.Finding {
	if s.warn != nil {
		if r := s.Rooms[room]; r != nil {
			if q, ok := r.Participants[p.Identity]; ok && sameParticipant(p, q) {
				return s.warn.room(s, room, r)[p.Identity]
			}
		}
	}
	return s.judge(room, p)
}

// judge audits p's tracks in room.
func (s *Snapshot) judge(room string, p Participant) []audit.Finding {
	var out []audit.Finding
	for _, t := range p.Tracks {
		out = append(out, audit.Audit(s.auditTrack(room, p, t), s.audit)...)
	}
	return out
}

// sameParticipant reports whether p is q as the snapshot holds it (the same
// tracks, by their backing array): then the stored warnings are p's.
func sameParticipant(p, q Participant) bool {
	if p.Kind != q.Kind || len(p.Tracks) != len(q.Tracks) {
		return false
	}
	return len(p.Tracks) == 0 || &p.Tracks[0] == &q.Tracks[0]
}

// warnings holds a snapshot's judged warnings, by room then identity, filled on
// a room's first read. Every snapshot the writer builds (model.next) gets a
// fresh one; a copy that changes neither rooms nor ingresses (a new revision
// number, Synced) shares it.
type warnings struct {
	mu    sync.Mutex
	rooms map[string]map[string][]audit.Finding
}

// judgedRooms counts rooms judged for their warnings, for tests.
var judgedRooms atomic.Int64

func (w *warnings) room(s *Snapshot, name string, r *Room) map[string][]audit.Finding {
	w.mu.Lock()
	defer w.mu.Unlock()
	if out, ok := w.rooms[name]; ok {
		return out
	}
	judgedRooms.Add(1)
	out := make(map[string][]audit.Finding, len(r.Participants))
	for id, p := range r.Participants {
		if ws := s.judge(name, p); len(ws) > 0 {
			out[id] = slices.Clip(ws)
		}
	}
	if w.rooms == nil {
		w.rooms = map[string]map[string][]audit.Finding{}
	}
	w.rooms[name] = out
	return out
}

// auditTrack is what the model knows of t: LiveKit's track, and for an
// ingest what its encoder sends (Ingress's input).
func (s *Snapshot) auditTrack(room string, p Participant, t Track) audit.Track {
	a := audit.Track{SID: t.SID, Kind: t.Kind, Codec: t.Codec, Publisher: audit.Browser, Stereo: t.Stereo, DTX: t.DTX,
		EchoCancellation: t.EchoCancellation, NoiseSuppression: t.NoiseSuppression, AutoGainControl: t.AutoGainControl,
		EnhancedNoiseCancellation: t.EnhancedNoiseCancellation}
	if p.Kind != "ingress" {
		return a
	}
	in, ok := s.ingestOf(room, p.Identity)
	a.Publisher = audit.Pulled
	if !ok {
		return a
	}
	switch in.Kind {
	case ingress.RTMP:
		a.Publisher = audit.OBS
	case ingress.WHIP:
		a.Publisher = audit.WHIP
	}
	if in.Input != nil && in.Input.Audio != nil {
		a.Channels, a.SampleRate, a.Bitrate = in.Input.Audio.Channels, in.Input.Audio.SampleRate, in.Input.Audio.Bitrate
	}
	return a
}

// ingestOf is the ingress that publishes as identity in room: the live one
// when an identity has several.
func (s *Snapshot) ingestOf(room, identity string) (IngestState, bool) {
	var found IngestState
	var ok bool
	for _, in := range s.Ingresses {
		if in.Room == room && in.Identity == identity && (!ok || in.Live()) {
			found, ok = in, true
		}
	}
	return found, ok
}

// flags are the AudioFlagged events e reveals and the model has not told: of
// the track e published or changed, or of the tracks of the ingest whose
// input e described.
func (m *model) flags(e Event) []Event {
	room, identity, only := e.Room, "", ""
	switch {
	case (e.Kind == TrackPublished || e.Kind == TrackUpdated) && e.Participant != nil && e.Track != nil:
		identity, only = e.Participant.Identity, e.Track.SID
	case (e.Kind == IngestLive || e.Kind == IngestUpdated) && e.Ingest != nil:
		room, identity = e.Ingest.Room, e.Ingest.Identity
	default:
		return nil
	}
	r := m.cur.Rooms[room]
	if r == nil {
		return nil
	}
	p, ok := r.Participants[identity]
	if !ok {
		return nil
	}
	who := p
	who.Tracks = nil
	var out []Event
	for _, t := range p.Tracks {
		if only != "" && t.SID != only {
			continue
		}
		for _, f := range audit.Audit(m.cur.auditTrack(room, p, t), m.cur.audit) {
			if !m.flagged[t.SID][f.Code] {
				out = append(out, Event{Kind: AudioFlagged, At: e.At, Room: room, RoomSID: r.SID, Resync: e.Resync, Participant: &who, Track: &t, Finding: &f})
			}
		}
	}
	return out
}

// applyFlag tells a finding once: a second one of the same track and code
// changes nothing.
func (m *model) applyFlag(e Event) (*Snapshot, []string, bool) {
	f, t := e.Finding, e.Track
	if f == nil || t == nil || t.SID == "" || m.gone[t.SID] || m.flagged[t.SID][f.Code] {
		return nil, nil, false
	}
	if m.flagged[t.SID] == nil {
		m.flagged[t.SID] = map[audit.Code]bool{}
	}
	m.flagged[t.SID][f.Code] = true
	return m.next(), nil, true
}

// forget drops what was told of tracks that went with their participant or
// room (their SIDs never come back).
func (m *model) forget(tracks []Track) {
	for _, t := range tracks {
		delete(m.flagged, t.SID)
	}
}

// flagShared appends, through the shared log, the AudioFlagged events e
// revealed (the log refuses one another replica appended first, by Key).
func (w *Watch) flagShared(ctx context.Context, e Event) error {
	w.mu.Lock()
	fs := w.model.flags(e)
	w.mu.Unlock()
	for _, f := range fs {
		if _, _, err := w.apply(ctx, f); err != nil {
			return err
		}
	}
	return nil
}
