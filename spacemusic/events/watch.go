package events

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/internal/errs"
)

// Lister is LiveKit's side of a resync: its List* APIs. NewLister makes the real
// one; tests of pure model logic may pass their own.
type Lister interface {
	ListRooms(ctx context.Context) ([]*livekit.Room, error)
	ListParticipants(ctx context.Context, room string) ([]*livekit.ParticipantInfo, error)
	ListIngress(ctx context.Context) ([]*livekit.IngressInfo, error)
	ListActiveEgress(ctx context.Context) ([]*livekit.EgressInfo, error)
	GetEgress(ctx context.Context, id string) (*livekit.EgressInfo, error) // nil, nil when LiveKit has none
}

// Options tune a Watch. Zero values are the defaults.
type Options struct {
	Resync  time.Duration // how often to list LiveKit again: DefaultResync when 0
	LogSize int           // events kept for Wait and resuming subscribers: DefaultLogSize when 0
	Logger  *slog.Logger  // resync failures and corrections; slog.Default() when nil
}

// Defaults of Options.
const (
	DefaultResync  = 30 * time.Second
	DefaultLogSize = 10000
)

// ErrGone is Wait asked for events older than the log keeps: take a Snapshot and
// wait from its revision (like an expired watch in Kubernetes).
var ErrGone = &errs.Error{Op: "events.Wait", Kind: errs.ErrFailedPrecondition, Message: "the events after that revision are no longer kept",
	Hint: "take a Snapshot and wait from its revision"}

// Watch keeps the model of every room, participant, track, ingress and running
// egress in LiveKit, from webhooks (Apply) and periodic lists (Run/Resync). It is
// safe for concurrent use; readers never wait for writers.
type Watch struct {
	lister Lister
	opts   Options

	mu    sync.Mutex // the one writer: apply and resync
	model *model

	snap atomic.Pointer[Snapshot]

	logMu   sync.Mutex
	log     []Event       // ring of the newest LogSize events, in revision order
	changed chan struct{} // closed and replaced on every append

	corrections sync.Map // Kind -> *atomic.Int64
	lastWebhook atomic.Int64
}

// NewWatch returns a Watch over l. Call Run to list and keep resyncing.
func NewWatch(l Lister, o Options) *Watch {
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	if o.LogSize <= 0 {
		o.LogSize = DefaultLogSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &Watch{lister: l, opts: o, model: newModel(), changed: make(chan struct{})}
	w.snap.Store(w.model.cur)
	return w
}

// Snapshot returns the model as of now. It never blocks.
func (w *Watch) Snapshot() *Snapshot { return w.snap.Load() }

// Apply adds an event from a webhook or from the caller's own write (a room it
// just created, an ingress it just deleted), so its next read sees it. It returns
// the event with its revision, and false when the event changed nothing (a
// duplicate, or stale).
func (w *Watch) Apply(e Event) (Event, bool) {
	if e.Raw != nil {
		w.lastWebhook.Store(time.Now().UnixNano())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applyLocked(e)
}

func (w *Watch) applyLocked(e Event) (Event, bool) {
	s, keys, ok := w.model.apply(e)
	if !ok {
		return e, false
	}
	e.Revision = w.model.cur.Revision + 1
	if e.ID == "" {
		e.ID = "sk-" + strconv.FormatUint(e.Revision, 10)
	}
	s.Revision, s.Changed = e.Revision, time.Now()
	for _, k := range keys {
		w.model.touched[k] = e.Revision
	}
	w.model.cur = s
	w.snap.Store(s)
	w.append(e)
	return e, true
}

func (w *Watch) append(e Event) {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	if len(w.log) == w.opts.LogSize {
		copy(w.log, w.log[1:])
		w.log = w.log[:len(w.log)-1]
	}
	w.log = append(w.log, e)
	close(w.changed)
	w.changed = make(chan struct{})
}

// Wait returns the events after revision after, in order, waiting until there is
// at least one or ctx ends. ErrGone: the log no longer holds the next one.
func (w *Watch) Wait(ctx context.Context, after uint64) ([]Event, error) {
	for {
		w.logMu.Lock()
		evs, gone := w.since(after)
		ch := w.changed
		w.logMu.Unlock()
		if gone {
			return nil, ErrGone
		}
		if len(evs) > 0 {
			return evs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// since is the events after revision after; gone when some were dropped.
func (w *Watch) since(after uint64) ([]Event, bool) {
	if len(w.log) == 0 {
		return nil, after < w.snap.Load().Revision
	}
	first := w.log[0].Revision
	if after+1 < first {
		return nil, true
	}
	i := sort.Search(len(w.log), func(i int) bool { return w.log[i].Revision > after })
	return append([]Event(nil), w.log[i:]...), false
}

// Corrections counts, by kind, the events a resync had to emit because a webhook
// was lost, late or never sent.
func (w *Watch) Corrections() map[Kind]int64 {
	out := map[Kind]int64{}
	w.corrections.Range(func(k, v any) bool {
		out[k.(Kind)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// LastWebhook is when the last webhook was applied (zero if none yet).
func (w *Watch) LastWebhook() time.Time {
	if n := w.lastWebhook.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Run lists LiveKit at once and then every Resync period until ctx ends. A failed
// list is logged and retried at the next period; the model stays as it was.
func (w *Watch) Run(ctx context.Context) error {
	t := time.NewTicker(w.opts.Resync)
	defer t.Stop()
	for {
		if _, err := w.Resync(ctx); err != nil && ctx.Err() == nil {
			w.opts.Logger.Warn("events: resync failed; the model keeps its last state", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Resync lists LiveKit and emits, marked Resync, every event the model is missing:
// rooms, participants and tracks that appeared or went, ingresses that changed,
// egresses that started or ended. It returns how many it emitted.
func (w *Watch) Resync(ctx context.Context) (int, error) {
	w.mu.Lock()
	start := w.model.cur.Revision
	w.mu.Unlock()

	truth, err := w.list(ctx)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	fixes := w.diff(truth, start)
	w.mu.Unlock()
	// An ended egress's final state (files, error) is only in a Get.
	for i, f := range fixes {
		if f.Kind == RecordingEnded {
			if info, err := w.lister.GetEgress(ctx, f.Recording.ID); err == nil && info != nil {
				r := recordingFrom(info)
				fixes[i].Recording = &r
			}
		}
	}
	// Applying re-checks each fix against the model, so a webhook that arrived
	// meanwhile is not undone or repeated.
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, f := range fixes {
		f.Resync, f.At = true, time.Now().UTC().Truncate(time.Second)
		if _, ok := w.applyLocked(f); ok {
			n++
			c, _ := w.corrections.LoadOrStore(f.Kind, new(atomic.Int64))
			c.(*atomic.Int64).Add(1)
			w.opts.Logger.Info("events: resync corrected the model", "kind", string(f.Kind), "room", f.Room)
		}
	}
	s := *w.model.cur
	s.Synced, s.Resynced = true, time.Now()
	w.model.cur = &s
	w.snap.Store(&s)
	return n, nil
}

// truth is LiveKit's state as one resync listed it.
type truth struct {
	rooms   map[string]*livekit.Room
	people  map[string]map[string]*livekit.ParticipantInfo // room -> identity
	ingress map[string]*livekit.IngressInfo
	egress  map[string]*livekit.EgressInfo // active only
}

func (w *Watch) list(ctx context.Context) (*truth, error) {
	t := &truth{rooms: map[string]*livekit.Room{}, people: map[string]map[string]*livekit.ParticipantInfo{},
		ingress: map[string]*livekit.IngressInfo{}, egress: map[string]*livekit.EgressInfo{}}
	rooms, err := w.lister.ListRooms(ctx)
	if err != nil {
		return nil, errs.Relabel("events.Resync", err)
	}
	for _, r := range rooms {
		t.rooms[r.GetName()] = r
		t.people[r.GetName()] = map[string]*livekit.ParticipantInfo{}
		if r.GetNumParticipants() == 0 && r.GetNumPublishers() == 0 {
			continue // only active rooms cost a call
		}
		ps, err := w.lister.ListParticipants(ctx, r.GetName())
		if err != nil {
			if isNotFound(err) {
				continue // closed between the two calls
			}
			return nil, errs.Relabel("events.Resync", err)
		}
		for _, p := range ps {
			t.people[r.GetName()][p.GetIdentity()] = p
		}
	}
	// A LiveKit without Ingress or Egress (no Redis) cannot list them: that part
	// of the model is left as it is (nil: unknown), the rest still resyncs.
	if ins, err := w.lister.ListIngress(ctx); err == nil {
		for _, in := range ins {
			t.ingress[in.GetIngressId()] = in
		}
	} else {
		t.ingress = nil
		w.opts.Logger.Debug("events: no ingress list", "error", err.Error())
	}
	if egs, err := w.lister.ListActiveEgress(ctx); err == nil {
		for _, e := range egs {
			t.egress[e.GetEgressId()] = e
		}
	} else {
		t.egress = nil
		w.opts.Logger.Debug("events: no egress list", "error", err.Error())
	}
	return t, nil
}

// diff is the events that turn the model into t, leaving alone what changed
// since revision start (a webhook applied while we listed knows better).
func (w *Watch) diff(t *truth, start uint64) []Event {
	m := w.model
	fresh := func(key string) bool { return m.touched[key] > start }
	var out []Event
	cur := m.cur
	// Rooms that closed, with everyone in them.
	for _, name := range sortedKeys(cur.Rooms) {
		r := cur.Rooms[name]
		if _, ok := t.rooms[name]; ok || fresh("room/"+name) {
			continue
		}
		for _, id := range sortedKeys(r.Participants) {
			p := r.Participants[id]
			if !fresh("p/" + name + "/" + id) {
				out = append(out, Event{Kind: ParticipantLeft, Room: name, RoomSID: r.SID, Participant: &p})
			}
		}
		out = append(out, Event{Kind: RoomClosed, Room: name, RoomSID: r.SID})
	}
	for _, name := range sortedKeys(t.rooms) {
		lr := t.rooms[name]
		have := cur.Rooms[name]
		if have == nil && !fresh("room/"+name) {
			out = append(out, Event{Kind: RoomOpened, Room: name, RoomSID: lr.GetSid()})
		}
		var haveP map[string]Participant
		if have != nil {
			haveP = have.Participants
		}
		// Who left.
		for _, id := range sortedKeys(haveP) {
			if _, ok := t.people[name][id]; !ok && !fresh("p/"+name+"/"+id) {
				p := haveP[id]
				out = append(out, Event{Kind: ParticipantLeft, Room: name, RoomSID: lr.GetSid(), Participant: &p})
			}
		}
		// Who joined, and whose tracks changed.
		for _, id := range sortedKeys(t.people[name]) {
			lp := participantFrom(t.people[name][id])
			if fresh("p/" + name + "/" + id) {
				continue
			}
			old, ok := haveP[id]
			if ok && old.SID != lp.SID { // left and came back: a new session
				o := old
				out = append(out, Event{Kind: ParticipantLeft, Room: name, RoomSID: lr.GetSid(), Participant: &o})
				ok = false
			}
			bare := lp
			bare.Tracks = nil
			if !ok {
				out = append(out, Event{Kind: ParticipantJoined, Room: name, RoomSID: lr.GetSid(), Participant: &bare})
				old = Participant{}
			}
			for _, tr := range old.Tracks {
				if !hasTrack(lp.Tracks, tr.SID) && !fresh("t/"+tr.SID) {
					tr := tr
					out = append(out, Event{Kind: TrackUnpublished, Room: name, RoomSID: lr.GetSid(), Participant: &bare, Track: &tr})
				}
			}
			for _, tr := range lp.Tracks {
				if !hasTrack(old.Tracks, tr.SID) && !fresh("t/"+tr.SID) {
					tr := tr
					out = append(out, Event{Kind: TrackPublished, Room: name, RoomSID: lr.GetSid(), Participant: &bare, Track: &tr})
				}
			}
		}
	}
	if t.ingress != nil {
		out = append(out, w.diffIngress(t, fresh)...)
	}
	if t.egress != nil {
		out = append(out, w.diffEgress(t, fresh)...)
	}
	return out
}

func (w *Watch) diffIngress(t *truth, fresh func(string) bool) []Event {
	cur, out := w.model.cur, []Event(nil)
	for _, id := range sortedKeys(cur.Ingresses) {
		if _, ok := t.ingress[id]; !ok && !fresh("in/"+id) {
			in := cur.Ingresses[id]
			out = append(out, Event{Kind: IngestRemoved, Room: in.Room, Ingest: &in})
		}
	}
	for _, id := range sortedKeys(t.ingress) {
		in := ingestFrom(t.ingress[id])
		old, ok := cur.Ingresses[id]
		if fresh("in/"+id) || (ok && old == in) {
			continue
		}
		kind := IngestUpdated
		switch {
		case in.Live() && !old.Live():
			kind = IngestLive
		case !in.Live() && old.Live():
			kind = IngestEnded
		}
		out = append(out, Event{Kind: kind, Room: in.Room, Ingest: &in})
	}
	return out
}

func (w *Watch) diffEgress(t *truth, fresh func(string) bool) []Event {
	cur, out := w.model.cur, []Event(nil)
	for _, id := range sortedKeys(cur.Recordings) {
		if _, ok := t.egress[id]; !ok && !fresh("eg/"+id) {
			r := cur.Recordings[id]
			out = append(out, Event{Kind: RecordingEnded, Room: r.Room, Recording: &r})
		}
	}
	for _, id := range sortedKeys(t.egress) {
		r := recordingFrom(t.egress[id])
		old, ok := cur.Recordings[id]
		if fresh("eg/" + id) {
			continue
		}
		switch {
		case !ok:
			out = append(out, Event{Kind: RecordingStarted, Room: r.Room, Recording: &r})
		case old.Status != r.Status:
			out = append(out, Event{Kind: RecordingUpdated, Room: r.Room, Recording: &r})
		}
	}
	return out
}

func hasTrack(ts []Track, sid string) bool {
	for _, t := range ts {
		if t.SID == sid {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isNotFound(err error) bool { return errors.Is(err, errs.ErrNotFound) }
