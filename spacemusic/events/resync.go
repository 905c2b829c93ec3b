package events

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Run lists LiveKit at once and then every Resync period until ctx ends. A failed
// list is logged and retried at the next period; the model stays as it was.
// With a shared Log, Run also applies the log's events in order.
func (w *Watch) Run(ctx context.Context) error {
	if w.opts.Log != nil {
		if err := w.bootstrap(ctx); err != nil {
			return err
		}
		done := make(chan struct{})
		defer func() { <-done }()
		go func() { defer close(done); w.consume(ctx) }()
	}
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

// bootstrap starts a Watch on a shared log: the model is what LiveKit lists now,
// and the log is followed from its head (what came before is history, read
// through Wait).
func (w *Watch) bootstrap(ctx context.Context) error {
	for {
		head, err := w.opts.Log.Head(ctx)
		if err == nil {
			var t *truth
			if t, err = w.list(ctx); err == nil {
				w.mu.Lock()
				for _, f := range w.diff(t, 0) {
					if s, _, ok := w.model.apply(f); ok { // the starting state, not news
						w.model.cur = s
					}
				}
				s := *w.model.cur
				s.Revision, s.Changed = head, time.Now()
				w.model.cur = &s
				w.snap.Store(&s)
				w.base.Store(head)
				w.applied.Store(head)
				w.mu.Unlock()
				return nil
			}
		}
		w.opts.Logger.Warn("events: cannot start on the shared log yet", "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// consume applies the shared log's events in order until ctx ends.
func (w *Watch) consume(ctx context.Context) {
	for ctx.Err() == nil {
		evs, err := w.opts.Log.Read(ctx, w.applied.Load(), 256, 2*time.Second)
		if err != nil {
			if ctx.Err() == nil {
				w.opts.Logger.Warn("events: reading the shared log failed", "error", err.Error())
				if errors.Is(err, ErrGone) { // fell behind the retention: start over from LiveKit
					_ = w.bootstrap(ctx)
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		w.mu.Lock()
		for _, e := range evs {
			if e.Webhook { // another replica's webhook: they reach the show
				w.lastWebhook.Store(time.Now().UnixNano())
			}
			if _, changed := w.applyLocked(e, e.Revision); !changed {
				// The shared timeline has it even when this model already did
				// (a replica that started from a list taken after it happened):
				// every replica's subscribers see the same events.
				w.append(e)
			}
			w.applied.Store(e.Revision)
		}
		w.mu.Unlock()
		w.logMu.Lock()
		w.moved() // wake Apply callers waiting for their revision
		w.logMu.Unlock()
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
	// meanwhile is not undone or repeated. With a shared log, the fixes go
	// through it (a fix another replica's resync made first is refused by key).
	n := 0
	for _, f := range fixes {
		f.Resync, f.At = true, time.Now().UTC().Truncate(time.Second)
		var ok bool
		if w.opts.Log != nil {
			_, ok, err = w.Apply(ctx, f)
			if err != nil {
				return n, err
			}
		} else {
			w.mu.Lock()
			_, ok = w.applyLocked(f, 0)
			w.mu.Unlock()
		}
		if ok {
			n++
			if !refresh[f.Kind] {
				w.corrections.add(f.Kind)
			}
			w.opts.Logger.Info("events: resync corrected the model", "kind", string(f.Kind), "room", f.Room)
		}
	}
	w.mu.Lock()
	// touched only has to outlive the resyncs that began before the change: later
	// ones start at or after it. Without this it would grow by every track ever.
	for k, rev := range w.model.touched {
		if rev <= start {
			delete(w.model.touched, k)
		}
	}
	s := *w.model.cur
	s.Synced, s.Resynced = true, time.Now()
	w.model.cur = &s
	w.snap.Store(&s)
	w.mu.Unlock()
	if t, ok := w.opts.Log.(interface{ Trim(context.Context) error }); ok {
		if err := t.Trim(ctx); err != nil {
			w.opts.Logger.Warn("events: trimming the log failed", "error", err.Error())
		}
	}
	return n, nil
}

// listWorkers is how many ListParticipants calls a resync has in flight.
const listWorkers = 8

// refresh are the kinds LiveKit sends no webhook for: a resync finding them is
// news, not a correction of a lost webhook.
var refresh = map[Kind]bool{RoomUpdated: true, ParticipantUpdated: true, TrackUpdated: true}

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
	}
	// Every room is asked, also one whose count says it is empty: LiveKit
	// updates a room's counts seconds after a join (4 s and more seen), so a
	// count of 0 hid a join whose webhook was lost past a resync period. A few
	// at a time: at 1,000 rooms a resync is a thousand calls.
	var (
		mu      sync.Mutex
		failed  error
		next    atomic.Int64
		workers sync.WaitGroup
	)
	for range min(listWorkers, len(rooms)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := next.Add(1) - 1; i < int64(len(rooms)); i = next.Add(1) - 1 {
				name := rooms[i].GetName()
				ps, err := w.lister.ListParticipants(ctx, name)
				mu.Lock()
				switch {
				case err != nil && !isNotFound(err): // not found: closed between the two calls
					failed = cmp.Or(failed, err)
				case err == nil:
					for _, p := range ps {
						t.people[name][p.GetIdentity()] = p
					}
				}
				stop := failed != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	workers.Wait()
	if failed != nil {
		return nil, errs.Relabel("events.Resync", failed)
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
		st := rooms.FromLiveKit(lr)
		switch {
		case fresh("room/" + name):
		case have == nil:
			out = append(out, Event{Kind: RoomOpened, Room: name, RoomSID: lr.GetSid(), Stage: &st})
		case have.SID == lr.GetSid() && !sameStage(have.Room, st):
			out = append(out, Event{Kind: RoomUpdated, Room: name, RoomSID: lr.GetSid(), Stage: &st})
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
			if !fresh("p/" + name + "/" + id) {
				old, had := haveP[id]
				out = append(out, diffParticipant(name, lr.GetSid(), old, had, participantFrom(t.people[name][id]), fresh)...)
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

// diffParticipant is what happened to one participant LiveKit lists now (lp)
// since the model last had them (old, when had): a new session, a join, an
// update, and their tracks published, unpublished or muted.
func diffParticipant(room, roomSID string, old Participant, had bool, lp Participant, fresh func(string) bool) []Event {
	var out []Event
	ev := func(kind Kind, p *Participant, t *Track) {
		out = append(out, Event{Kind: kind, Room: room, RoomSID: roomSID, Participant: p, Track: t})
	}
	if had && old.SID != lp.SID { // left and came back: a new session
		o := old
		ev(ParticipantLeft, &o, nil)
		had = false
	}
	bare := lp
	bare.Tracks = nil
	if !had {
		ev(ParticipantJoined, &bare, nil)
		old = Participant{}
	} else if !old.same(lp) {
		ev(ParticipantUpdated, &bare, nil)
	}
	for _, tr := range old.Tracks {
		if !hasTrack(lp.Tracks, tr.SID) && !fresh("t/"+tr.SID) {
			ev(TrackUnpublished, &bare, &tr)
		}
	}
	for _, tr := range lp.Tracks {
		if fresh("t/" + tr.SID) {
			continue
		}
		switch i := slices.IndexFunc(old.Tracks, func(o Track) bool { return o.SID == tr.SID }); {
		case i < 0:
			ev(TrackPublished, &bare, &tr)
		case old.Tracks[i].Muted != tr.Muted:
			ev(TrackUpdated, &bare, &tr)
		}
	}
	return out
}

func (w *Watch) diffIngress(t *truth, fresh func(string) bool) []Event {
	return diffByID(w.model.cur.Ingresses, t.ingress, "in/", fresh, nil,
		func(in IngestState) Event { return Event{Kind: IngestRemoved, Room: in.Room, Ingest: &in} },
		func(old IngestState, had bool, li *livekit.IngressInfo) (Event, bool) {
			in := ingestFrom(li)
			if had && old.same(in) {
				return Event{}, false
			}
			kind := IngestUpdated
			switch {
			case in.Live() && !old.Live():
				kind = IngestLive
			case !in.Live() && old.Live():
				kind = IngestEnded
			}
			return Event{Kind: kind, Room: in.Room, Ingest: &in}, true
		})
}

func (w *Watch) diffEgress(t *truth, fresh func(string) bool) []Event {
	return diffByID(w.model.cur.Recordings, t.egress, "eg/", fresh,
		func(id string) bool { return strings.HasPrefix(id, OwnRecordingPrefix) }, // not egress's: LiveKit's list never has it
		func(r Recording) Event { return Event{Kind: RecordingEnded, Room: r.Room, Recording: &r} },
		func(old Recording, had bool, li *livekit.EgressInfo) (Event, bool) {
			r := recordingFrom(li)
			switch {
			case !had:
				return Event{Kind: RecordingStarted, Room: r.Room, Recording: &r}, true
			case old.Status != r.Status:
				return Event{Kind: RecordingUpdated, Room: r.Room, Recording: &r}, true
			}
			return Event{}, false
		})
}

// diffByID is the resync's comparison of things the model holds by ID with
// what LiveKit lists: each held one no longer listed is gone, each listed one
// is told to changed (which says whether it is news). IDs a webhook touched
// while the listing ran (fresh, under prefix) are left alone, and so are the
// held ones notListed says LiveKit never lists.
func diffByID[H, L any](held map[string]H, listed map[string]L, prefix string, fresh, notListed func(string) bool,
	gone func(H) Event, changed func(old H, had bool, now L) (Event, bool)) []Event {
	var out []Event
	for _, id := range sortedKeys(held) {
		if _, ok := listed[id]; !ok && !fresh(prefix+id) && (notListed == nil || !notListed(id)) {
			out = append(out, gone(held[id]))
		}
	}
	for _, id := range sortedKeys(listed) {
		if fresh(prefix + id) {
			continue
		}
		old, had := held[id]
		if e, ok := changed(old, had, listed[id]); ok {
			out = append(out, e)
		}
	}
	return out
}

// OwnRecordingPrefix starts the IDs of recordings this module makes itself
// (package capture's parts), which their maker Applies: a resync leaves them be.
const OwnRecordingPrefix = keys.OwnPrefix

func hasTrack(ts []Track, sid string) bool {
	for _, t := range ts {
		if t.SID == sid {
			return true
		}
	}
	return false
}
