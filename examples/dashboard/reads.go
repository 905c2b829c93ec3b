package main

// Reads from the watched model, and the dashboard's own writes applied to it.
//
// Once the model has listed LiveKit, the read routes answer from it: no call to
// LiveKit per request, so the LiveKit API rate does not grow with the number of
// open pages. What this dashboard itself changes is applied to the model before
// the write is answered, so the caller's next read shows it (read your writes);
// the webhook that follows changes nothing and is not emitted twice.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Headers of a read answered from the model.
const (
	revisionHeader = "X-Model-Revision"
	ageHeader      = "X-Model-Age-Ms"
)

// modelHeaders document them in the OpenAPI document.
var modelHeaders = []api.Param{
	{Name: revisionHeader, Help: "the live model's revision this answer reflects; absent when LiveKit answered directly (the model has not synced yet)"},
	{Name: ageHeader, Help: "milliseconds since the model last heard from LiveKit (a webhook or a resync)"},
}

// fromModel is the model to answer from, with its revision and age set on w;
// false: ask LiveKit. The model answers once it has listed LiveKit and a webhook
// has arrived: without webhooks it would only be as fresh as its last resync,
// and a LiveKit not configured to send them must not make the page stale.
func (s *server) fromModel(w http.ResponseWriter) (*events.Snapshot, bool) {
	if s.Events == nil {
		return nil, false
	}
	snap := s.Events.Snapshot()
	if !snap.Synced || s.Events.LastWebhook().IsZero() {
		return nil, false
	}
	heard := snap.Resynced
	if snap.Changed.After(heard) {
		heard = snap.Changed
	}
	w.Header().Set(revisionHeader, strconv.FormatUint(snap.Revision, 10))
	w.Header().Set(ageHeader, strconv.FormatInt(time.Since(heard).Milliseconds(), 10))
	return snap, true
}

// modelOr is a read's answer: from the live model when it serves and
// useModel (its revision headers set on w), else from LiveKit. Every read
// route goes through it, so none asks LiveKit per request once the model has
// synced.
func modelOr[T any](s *server, w http.ResponseWriter, r *http.Request, useModel bool,
	model func(*events.Snapshot) (T, error), ask func(context.Context) (T, error)) (T, error) {
	if useModel {
		if snap, ok := s.fromModel(w); ok {
			return model(snap)
		}
	}
	return ask(r.Context())
}

// inRoom checks ?room= (empty: every room) before the model is read.
func inRoom[T any](room string, list func(string) T) (T, error) {
	if room != "" {
		if err := rooms.CheckName(room); err != nil {
			var zero T
			return zero, err
		}
	}
	return list(room), nil
}

// encodedRead keeps one read's JSON for the model's latest snapshot: every
// page polling the same snapshot gets the same bytes, encoded once. Snapshots
// are immutable and each change is a new one, so the pointer is the key (a
// revision alone is not: the first sync of a shared log keeps its head's).
type encodedRead struct {
	last atomic.Pointer[encodedSnap]
}

type encodedSnap struct {
	snap *events.Snapshot
	body []byte
}

// of is v's JSON for snap, encoding v only when snap is new; concurrent first
// readers of a snapshot may each encode it once.
func (c *encodedRead) of(snap *events.Snapshot, v func(*events.Snapshot) any) ([]byte, error) {
	if e := c.last.Load(); e != nil && e.snap == snap {
		return e.body, nil
	}
	body, err := jsonLine(v(snap))
	if err != nil {
		return nil, err
	}
	c.last.Store(&encodedSnap{snap, body})
	return body, nil
}

// jsonLine is v as writeJSON writes it: JSON and a newline.
func jsonLine(v any) ([]byte, error) {
	body, err := json.Marshal(v)
	return append(body, '\n'), err
}

// roomSession is the session ID the model holds for room, and whether it has one.
func (s *server) roomSession(room string) (string, bool) {
	if s.Events == nil {
		return "", false
	}
	r := s.Events.Snapshot().Rooms[room]
	if r == nil {
		return "", false
	}
	return r.SID, true
}

// wrote applies the dashboard's own successful writes to the model. LiveKit
// already took the write, so a model that cannot take it (a shared log that is
// down) is logged, not answered as an error: the next resync repairs the model.
func (s *server) wrote(ctx context.Context, evs ...events.Event) {
	if s.Events == nil {
		return
	}
	for _, e := range evs {
		if e.At.IsZero() {
			e.At = time.Now().UTC().Truncate(time.Second) // as LiveKit stamps webhooks
		}
		if _, _, err := s.Events.Apply(ctx, e); err != nil {
			s.Log.Warn("model: own write not applied; the next resync will", "kind", string(e.Kind), "room", e.Room, "error", err.Error())
			return
		}
	}
}

// Own writes as events.

func roomOpened(r rooms.Room) events.Event {
	return events.Event{Kind: events.RoomOpened, Room: r.Name, RoomSID: r.SID, Stage: &r}
}

// participantEvent is kind about identity in room, for the session the model
// holds (none: nothing to apply).
func (s *server) participantEvent(kind events.Kind, room, identity string, p *rooms.Participant) (events.Event, bool) {
	sid, ok := s.roomSession(room)
	if !ok {
		return events.Event{}, false
	}
	cur, ok := s.Events.Snapshot().Rooms[room].Participants[identity]
	if !ok {
		return events.Event{}, false
	}
	if p != nil {
		cur = events.ParticipantOf(*p)
	}
	cur.Tracks = nil
	return events.Event{Kind: kind, Room: room, RoomSID: sid, Participant: &cur}, true
}

func ingestEvent(kind events.Kind, in ingress.Ingress) events.Event {
	e := events.Event{Kind: kind, Room: in.Room, Ingest: &events.IngestState{Ingress: in.Redacted()}}
	if kind == events.IngestRemoved {
		// Untruncated: a late webhook about the ingress, stamped in whole
		// seconds, is then older than its removal and cannot bring it back.
		e.At = time.Now().UTC()
	}
	return e
}

func recordingEvent(eg egress.Egress) events.Event {
	kind := events.RecordingUpdated
	switch {
	case eg.Status == egress.Starting:
		kind = events.RecordingStarted
	case eg.Status.Done():
		kind = events.RecordingEnded
	}
	return events.Event{Kind: kind, Room: eg.Room, Recording: &events.Recording{Egress: eg}}
}

// roomInModel is the room as the model holds it, refusing what rooms.Get would:
// a name LiveKit cannot have (invalid) and a room that does not exist.
func roomInModel(snap *events.Snapshot, name string) (rooms.Detail, error) {
	if err := rooms.CheckName(name); err != nil {
		return rooms.Detail{}, err
	}
	detail, ok := snap.RoomDetail(name)
	if !ok {
		return rooms.Detail{}, &spacemusic.Error{Op: "rooms.Get", Kind: spacemusic.ErrNotFound, Message: fmt.Sprintf("room %q does not exist", name)}
	}
	return detail, nil
}
