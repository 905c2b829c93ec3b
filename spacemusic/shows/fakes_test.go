package shows

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Fakes of what the controller drives, for its decisions' tests: pure
// memory, no LiveKit. The real services are driven by the stories in
// shows_test.go.

// fakeRooms is LiveKit's rooms: their metadata by name.
type fakeRooms struct {
	mu    sync.Mutex
	rooms map[string]rooms.Room
	err   error
}

func (f *fakeRooms) List(_ context.Context, names ...string) ([]rooms.Room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []rooms.Room
	for _, n := range names {
		if r, ok := f.rooms[n]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeRooms) set(name, md string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms[name] = rooms.Room{Name: name, SID: "RM_" + name, Metadata: md}
}

// fakeEgress starts and stops parts by name: "audio<-ada".
type fakeEgress struct {
	mu      sync.Mutex
	active  []egress.Egress // what List answers
	fail    map[string]error
	started []string
	stopped []string
	n       int
}

func (f *fakeEgress) List(context.Context, egress.ListOptions) ([]egress.Egress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active, nil
}

func (f *fakeEgress) start(kind, src string) (egress.Egress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[kind]; err != nil {
		return egress.Egress{}, err
	}
	f.n++
	f.started = append(f.started, kind+"<-"+src)
	return egress.Egress{ID: fmt.Sprintf("EG_%d", f.n), Kind: kind, Status: egress.Starting}, nil
}

func (f *fakeEgress) RecordAudio(_ context.Context, _ string, o egress.AudioOptions) (egress.Egress, error) {
	return f.start(RecordAudio, o.Identity)
}

func (f *fakeEgress) RecordVideo(_ context.Context, _ string, o egress.VideoOptions) (egress.Egress, error) {
	return f.start(RecordVideo, o.Identity)
}

func (f *fakeEgress) HLS(_ context.Context, _, identity string) (egress.Egress, error) {
	return f.start(RecordHLS, identity)
}

func (f *fakeEgress) Restream(_ context.Context, _, identity string, urls ...string) (egress.Egress, error) {
	return f.start("restream", identity+" to "+strings.Join(urls, ","))
}

func (f *fakeEgress) RecordStems(context.Context, string) ([]egress.Egress, error) {
	e, err := f.start(RecordStems, "all")
	return []egress.Egress{e}, err
}

func (f *fakeEgress) Stop(_ context.Context, id string) (egress.Egress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, id)
	return egress.Egress{ID: id, Status: egress.Ending}, nil
}

func (f *fakeEgress) calls() ([]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.started...), append([]string(nil), f.stopped...)
}

// fakeRecorder is the show's own recorder.
type fakeRecorder struct {
	mu      sync.Mutex
	armed   map[string]bool
	arms    []string // source of each Arm
	settles int
	closed  int
}

func (f *fakeRecorder) Armed(room string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed[room]
}

func (f *fakeRecorder) Arm(_ context.Context, room, source string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed[room] = true
	f.arms = append(f.arms, source)
	return nil
}

func (f *fakeRecorder) Settle(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settles++
	return nil
}

func (f *fakeRecorder) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
}

// fakeModel is the watched model: a snapshot, and events for Wait.
type fakeModel struct {
	mu    sync.Mutex
	snap  *events.Snapshot
	evs   []events.Event
	moved chan struct{}
}

func newFakeModel() *fakeModel {
	return &fakeModel{snap: &events.Snapshot{Rooms: map[string]*events.Room{}}, moved: make(chan struct{}, 1)}
}

func (f *fakeModel) Snapshot() *events.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeModel) Wait(ctx context.Context, after uint64) ([]events.Event, error) {
	for {
		f.mu.Lock()
		var out []events.Event
		for _, e := range f.evs {
			if e.Revision > after {
				out = append(out, e)
			}
		}
		f.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.moved:
		}
	}
}

// stage sets the room's participants as the model has them now, and tells
// Wait of an event about the room.
func (f *fakeModel) stage(room string, kind events.Kind, people ...events.Participant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	snap := &events.Snapshot{Rooms: map[string]*events.Room{}, Revision: f.snap.Revision + 1}
	for n, r := range f.snap.Rooms {
		snap.Rooms[n] = r
	}
	r := &events.Room{Room: rooms.Room{Name: room, SID: "RM_" + room}, Participants: map[string]events.Participant{}}
	if old := f.snap.Rooms[room]; old != nil {
		r.Metadata = old.Metadata
	}
	for _, p := range people {
		r.Participants[p.Identity] = p
	}
	snap.Rooms[room] = r
	f.snap = snap
	f.evs = append(f.evs, events.Event{Revision: snap.Revision, Kind: kind, Room: room})
	select {
	case f.moved <- struct{}{}:
	default:
	}
}

// performer is someone on stage publishing kinds of tracks ("audio", "video").
func performer(identity string, role events.Role, kinds ...string) events.Participant {
	p := events.Participant{Participant: rooms.Participant{Identity: identity, JoinedAt: time.Unix(1, 0)}, Role: role}
	for _, k := range kinds {
		p.Tracks = append(p.Tracks, rooms.Track{SID: "TR_" + identity + "_" + k, Kind: k})
	}
	return p
}

// fakeBook is the Service's memory of its shows. Metadata holding
// "TAMPERED" reads as tampered.
type fakeBook struct {
	mu       sync.Mutex
	good     map[string]envelope
	dests    map[string][]string
	closing  map[string]bool
	reported []string
	forgot   []string
	starts   []Started
	closed   []string
}

func newFakeBook() *fakeBook {
	return &fakeBook{good: map[string]envelope{}, dests: map[string][]string{}, closing: map[string]bool{}}
}

func (f *fakeBook) read(op, room, md string) (envelope, error) {
	if strings.Contains(md, "TAMPERED") {
		return envelope{}, tamperedError(op, room, "a test says so")
	}
	env, err := decode(op, room, md)
	if err == nil {
		f.mu.Lock()
		f.good[room] = env
		f.mu.Unlock()
	}
	return env, err
}

func (f *fakeBook) tampered(room, _, _ string, _ error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reported = append(f.reported, room)
}

func (f *fakeBook) lastGood(room string) (envelope, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	env, ok := f.good[room]
	return env, ok
}

func (f *fakeBook) forget(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, name)
}

func (f *fakeBook) destinations(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dests[name]
}

func (f *fakeBook) beingClosed(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing[name]
}

func (f *fakeBook) started(x Started) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, x)
}

func (f *fakeBook) wentLive(string, time.Time) {}

func (f *fakeBook) Close(_ context.Context, name string) (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, name)
	return Report{Name: name}, nil
}

func (f *fakeBook) closes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.closed...)
}

// rig is a controller on fakes.
type rig struct {
	c     *controller
	rooms *fakeRooms
	eg    *fakeEgress
	rec   *fakeRecorder // nil: egress records the audio
	model *fakeModel
	book  *fakeBook
}

func newRig(capture bool) *rig {
	r := &rig{rooms: &fakeRooms{rooms: map[string]rooms.Room{}}, eg: &fakeEgress{fail: map[string]error{}}, model: newFakeModel(), book: newFakeBook()}
	var rec recorder
	if capture {
		r.rec = &fakeRecorder{armed: map[string]bool{}}
		rec = r.rec
	}
	r.c = newController(r.rooms, r.eg, rec, r.model, r.book, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return r
}

// open has the show open in LiveKit and in the model, with its spec (as
// Open stores it).
func (r *rig) open(sp Spec, closing bool) string {
	if n, err := sp.normal(); err == nil {
		sp = n
	}
	md := encode(sp, closing)
	r.rooms.set(sp.Name, md)
	r.model.stage(sp.Name, events.RoomOpened)
	r.model.mu.Lock()
	r.model.snap.Rooms[sp.Name].Metadata = md
	r.model.mu.Unlock()
	return md
}

var errEgressBusy = &errs.Error{Op: "egress.RecordAudio", Kind: errs.ErrUnavailable, Message: "no egress has capacity"}
