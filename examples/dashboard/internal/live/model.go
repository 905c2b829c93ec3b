// Package live is the dashboard's reads from the watched model of LiveKit,
// and its own writes applied to it.
//
// Once the model has listed LiveKit, the read routes answer from it: no call to
// LiveKit per request, so the LiveKit API rate does not grow with the number of
// open pages. What this dashboard itself changes is applied to the model before
// the write is answered, so the caller's next read shows it (read your writes);
// the webhook that follows changes nothing and is not emitted twice.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Headers of a read answered from the model.
const (
	RevisionHeader = "X-Model-Revision"
	AgeHeader      = "X-Model-Age-Ms"
)

// ModelHeaders document them in the OpenAPI document.
var ModelHeaders = []api.Param{
	{Name: RevisionHeader, Help: "the live model's revision this answer reflects; absent when LiveKit answered directly (the model has not synced yet)"},
	{Name: AgeHeader, Help: "milliseconds since the model last heard from LiveKit (a webhook or a resync)"},
}

// Serving is the model's snapshot, and whether it answers reads: it has
// listed LiveKit and heard a webhook.
func (m *Model) Serving() (*events.Snapshot, bool) {
	if m.Events == nil {
		return nil, false
	}
	snap := m.Events.Snapshot()
	return snap, snap.Synced && !m.Events.LastWebhook().IsZero()
}

// Model is the watched model as the handlers read it and apply their own
// writes to it. A nil events: every read asks LiveKit.
type Model struct {
	Events Events
	Log    *slog.Logger
}

// fromModel is the model to answer from, with its revision and age set on w;
// false: ask LiveKit. The model answers once it has listed LiveKit and a webhook
// has arrived: without webhooks it would only be as fresh as its last resync,
// and a LiveKit not configured to send them must not make the page stale.
func (m *Model) fromModel(w http.ResponseWriter) (*events.Snapshot, bool) {
	snap, ok := m.Serving()
	if !ok {
		return nil, false
	}
	heard := snap.Resynced
	if snap.Changed.After(heard) {
		heard = snap.Changed
	}
	w.Header().Set(RevisionHeader, strconv.FormatUint(snap.Revision, 10))
	w.Header().Set(AgeHeader, strconv.FormatInt(time.Since(heard).Milliseconds(), 10))
	return snap, true
}

// Or is a read's answer: from the live model when it serves and
// useModel (its revision headers set on w), else from LiveKit. Every read
// route goes through it, so none asks LiveKit per request once the model has
// synced.
func Or[T any](m *Model, w http.ResponseWriter, r *http.Request, useModel bool,
	model func(*events.Snapshot) (T, error), ask func(context.Context) (T, error)) (T, error) {
	if useModel {
		if snap, ok := m.fromModel(w); ok {
			return model(snap)
		}
	}
	return ask(r.Context())
}

// Answer is Or's read, answered as JSON.
func Answer[T any](m *Model, w http.ResponseWriter, r *http.Request, useModel bool,
	model func(*events.Snapshot) (T, error), ask func(context.Context) (T, error)) error {
	v, err := Or(m, w, r, useModel, model, ask)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// InRoom checks ?room= (empty: every room) before the model is read.
func InRoom[T any](room string, list func(string) T) (T, error) {
	if room != "" {
		if err := rooms.CheckName(room); err != nil {
			var zero T
			return zero, err
		}
	}
	return list(room), nil
}

// EncodedRead keeps one read's JSON for the model's latest snapshot: every
// page polling the same snapshot gets the same bytes, encoded once. Snapshots
// are immutable and each change is a new one, so the pointer is the key (a
// revision alone is not: the first sync of a shared log keeps its head's).
type EncodedRead struct {
	last atomic.Pointer[encodedSnap]
}

type encodedSnap struct {
	snap *events.Snapshot
	body []byte
}

// Of is v's JSON for snap, encoding v only when snap is new; concurrent first
// readers of a snapshot may each encode it once.
func (c *EncodedRead) Of(snap *events.Snapshot, v func(*events.Snapshot) any) ([]byte, error) {
	if e := c.last.Load(); e != nil && e.snap == snap {
		return e.body, nil
	}
	body, err := JSONLine(v(snap))
	if err != nil {
		return nil, err
	}
	c.last.Store(&encodedSnap{snap, body})
	return body, nil
}

// JSONLine is v as writeJSON writes it: JSON and a newline.
func JSONLine(v any) ([]byte, error) {
	body, err := json.Marshal(v)
	return append(body, '\n'), err
}

// RoomSession is the session ID the model holds for room, and whether it has one.
func (m *Model) RoomSession(room string) (string, bool) {
	if m.Events == nil {
		return "", false
	}
	r := m.Events.Snapshot().Rooms[room]
	if r == nil {
		return "", false
	}
	return r.SID, true
}

// Wrote applies the dashboard's own successful writes to the model. LiveKit
// already took the write, so a model that cannot take it (a shared log that is
// down) is logged, not answered as an error: the next resync repairs the model.
func (m *Model) Wrote(ctx context.Context, evs ...events.Event) {
	if m.Events == nil {
		return
	}
	for _, e := range evs {
		if e.At.IsZero() {
			e.At = time.Now().UTC().Truncate(time.Second) // as LiveKit stamps webhooks
		}
		if _, _, err := m.Events.Apply(ctx, e); err != nil {
			m.Log.Warn("model: own write not applied; the next resync will", "kind", string(e.Kind), "room", e.Room, "error", err.Error())
			return
		}
	}
}

// Own writes as events.

func RoomOpened(r rooms.Room) events.Event {
	return events.Event{Kind: events.RoomOpened, Room: r.Name, RoomSID: r.SID, Stage: &r}
}

// ParticipantEvent is kind about identity in room, for the session the model
// holds (none: nothing to apply).
func (m *Model) ParticipantEvent(kind events.Kind, room, identity string, p *rooms.Participant) (events.Event, bool) {
	sid, ok := m.RoomSession(room)
	if !ok {
		return events.Event{}, false
	}
	cur, ok := m.Events.Snapshot().Rooms[room].Participants[identity]
	if !ok {
		return events.Event{}, false
	}
	if p != nil {
		cur = events.ParticipantOf(*p)
	}
	cur.Tracks = nil
	return events.Event{Kind: kind, Room: room, RoomSID: sid, Participant: &cur}, true
}

func IngestEvent(kind events.Kind, in ingress.Ingress) events.Event {
	e := events.Event{Kind: kind, Room: in.Room, Ingest: &events.IngestState{Ingress: in.Redacted()}}
	if kind == events.IngestRemoved {
		// Untruncated: a late webhook about the ingress, stamped in whole
		// seconds, is then older than its removal and cannot bring it back.
		e.At = time.Now().UTC()
	}
	return e
}

func RecordingEvent(eg egress.Egress) events.Event {
	kind := events.RecordingUpdated
	switch {
	case eg.Status == egress.Starting:
		kind = events.RecordingStarted
	case eg.Status.Done():
		kind = events.RecordingEnded
	}
	return events.Event{Kind: kind, Room: eg.Room, Recording: &events.Recording{Egress: eg}}
}

// RoomInModel is the room as the model holds it, refusing what rooms.Get would:
// a name LiveKit cannot have (invalid) and a room that does not exist.
func RoomInModel(snap *events.Snapshot, name string) (rooms.Detail, error) {
	if err := rooms.CheckName(name); err != nil {
		return rooms.Detail{}, err
	}
	detail, ok := snap.RoomDetail(name)
	if !ok {
		return rooms.Detail{}, &errs.Error{Op: "rooms.Get", Kind: errs.ErrNotFound, Message: fmt.Sprintf("room %q does not exist", name)}
	}
	return detail, nil
}

// Events is the watched model of LiveKit and its event log: *events.Watch.
type Events interface {
	Snapshot() *events.Snapshot
	Apply(ctx context.Context, e events.Event) (events.Event, bool, error)
	Wait(ctx context.Context, after uint64) ([]events.Event, error)
	Since(ctx context.Context, after uint64) ([]events.Event, error)
	History(ctx context.Context, room string) ([]events.Event, error)
	Timeline(ctx context.Context, room string, before uint64, limit int) ([]events.Event, uint64, error)
	Corrections() map[events.Kind]int64
	LastWebhook() time.Time
}
