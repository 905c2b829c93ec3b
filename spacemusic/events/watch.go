package events

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
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
	// Log, when set, is the timeline this Watch shares with others (RedisLog):
	// every change goes through it and revisions are the log's. Nil: this
	// Watch's own, in memory.
	Log Log
	// Own, when set, tells the project's own participants under a reserved
	// identity (tokens.Reserved) from impostors, by the attributes they
	// joined with (tokens.Issuer.Own). A webhook's join that Own refuses is
	// followed by an Impostor event.
	Own func(room, identity string, attributes map[string]string) bool
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
	log     ring          // the newest LogSize events that changed the model, in revision order
	dropped uint64        // revision of the newest event dropped from log
	changed chan struct{} // closed and replaced whenever the model moves on

	applied atomic.Uint64 // with a shared Log: the newest log revision applied

	base atomic.Uint64 // with a shared Log: the revision this Watch's model began at (set by Run, read by Wait)

	corrections counter[Kind]
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
	w := &Watch{lister: l, opts: o, model: newModel(), changed: make(chan struct{}), log: ring{size: o.LogSize}}
	w.snap.Store(w.model.cur)
	return w
}

// Snapshot returns the model as of now. It never blocks.
func (w *Watch) Snapshot() *Snapshot { return w.snap.Load() }

// Apply adds an event from a webhook or from the caller's own write (a room it
// just created, an ingress it just deleted), so that its next read sees it. It
// returns the event with its revision, and false when the event changed nothing
// (a duplicate, or stale). With a shared Log it returns once this Watch has
// applied the event from the log (Run must be running); an error means the log
// could not take it (a webhook should then be answered 503, so LiveKit retries).
func (w *Watch) Apply(ctx context.Context, e Event) (Event, bool, error) {
	e, applied, err := w.apply(ctx, e)
	if applied && err == nil {
		if imp, ok := w.impostor(e); ok {
			_, _, err = w.apply(ctx, imp)
		}
	}
	return e, applied, err
}

// impostor is the Impostor event that follows e, when e is a webhook's join
// under a reserved identity without the project's proof. Only a webhook
// carries the attributes the proof is in (services strip it from what they
// show).
func (w *Watch) impostor(e Event) (Event, bool) {
	if w.opts.Own == nil || e.Kind != ParticipantJoined || e.Participant == nil || e.Raw == nil ||
		!tokens.Reserved(e.Participant.Identity) || w.opts.Own(e.Room, e.Participant.Identity, e.Raw.GetParticipant().GetAttributes()) {
		return Event{}, false
	}
	p := *e.Participant
	p.Tracks = nil
	return Event{Kind: Impostor, At: e.At, Room: e.Room, RoomSID: e.RoomSID, Participant: &p}, true
}

func (w *Watch) apply(ctx context.Context, e Event) (Event, bool, error) {
	if e.Webhook {
		w.lastWebhook.Store(time.Now().UnixNano())
	}
	if w.opts.Log == nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		e, ok := w.applyLocked(e, 0)
		return e, ok, nil
	}
	rev, added, err := w.opts.Log.Append(ctx, Key(e), e)
	if err != nil || !added {
		return e, false, err
	}
	// Read your writes: wait until the consumer has applied it.
	for w.applied.Load() < rev {
		ch := w.changes()
		if w.applied.Load() >= rev {
			break
		}
		select {
		case <-ctx.Done():
			return e, false, errs.Transport("events.Apply", errs.Redis, ctx.Err())
		case <-ch:
		}
	}
	e.Revision = rev
	return e, true, nil
}

// Key is what makes two events the same change: the session IDs LiveKit gives
// rooms, participants and tracks, or an egress's ID and status. A shared Log
// refuses a key it has seen.
func Key(e Event) string {
	k := string(e.Kind) + "/" + e.Room + "/" + e.RoomSID
	switch {
	case e.Track != nil:
		k += "/" + e.Track.SID
	case e.Participant != nil:
		k += "/" + e.Participant.SID
	case e.Ingest != nil:
		k += "/" + e.Ingest.ID + "/" + string(e.Ingest.State) + "/" + strconv.FormatInt(e.At.Unix(), 10)
	case e.Recording != nil:
		k += "/" + e.Recording.ID + "/" + string(e.Recording.Status)
	}
	if e.Kind == ShowTampered {
		k += "/" + e.ID // one report per distinct metadata
	}
	if (e.RoomSID == "" && e.Participant == nil && e.Track == nil && e.Ingest == nil && e.Recording == nil) ||
		(e.Participant != nil && e.Participant.SID == "") {
		k += "/" + e.ID // nothing identifies it: only a retry of the same webhook is the same
	}
	return k
}

// applyLocked applies e as revision rev (the next one when 0).
func (w *Watch) applyLocked(e Event, rev uint64) (Event, bool) {
	e = w.model.known(e)
	s, keys, ok := w.model.apply(e)
	if !ok {
		return e, false
	}
	if rev == 0 {
		rev = w.model.cur.Revision + 1
	}
	e.Revision = rev
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
	if gone, full := w.log.push(e); full {
		w.dropped = gone.Revision
	}
	w.moved()
}

// moved tells everyone waiting that the model moved on; logMu is held.
func (w *Watch) moved() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// changes is closed when the model next moves on.
func (w *Watch) changes() <-chan struct{} {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.changed
}

// Since returns the events after revision after that are still kept, without
// waiting (none when there are none yet). ErrGone as for Wait.
func (w *Watch) Since(ctx context.Context, after uint64) ([]Event, error) {
	w.logMu.Lock()
	evs, gone := w.since(after)
	w.logMu.Unlock()
	if gone && w.opts.Log != nil {
		return w.opts.Log.Read(ctx, after, w.opts.LogSize, 0)
	}
	if gone {
		return nil, ErrGone
	}
	return evs, nil
}

// roomReader is a shared Log that indexes events by room (RedisLog).
type roomReader interface {
	ReadRoom(ctx context.Context, room string, before uint64, limit int) ([]Event, bool, error)
}

// MaxTimeline bounds one read of a room's story.
const MaxTimeline = 10_000

// Timeline returns up to limit (at most MaxTimeline) of room's newest events
// before revision before (the newest when 0), oldest first, and the revision to
// ask before for older ones (0 when none are kept). Its cost is bounded by limit,
// not by the log's length: a shared log that indexes rooms reads only the room's
// events; in memory at most LogSize events are looked at.
func (w *Watch) Timeline(ctx context.Context, room string, before uint64, limit int) ([]Event, uint64, error) {
	if limit <= 0 || limit > MaxTimeline {
		limit = MaxTimeline
	}
	if rr, ok := w.opts.Log.(roomReader); ok {
		evs, more, err := rr.ReadRoom(ctx, room, before, limit)
		if err != nil || !more || len(evs) == 0 {
			return evs, 0, err
		}
		return evs, evs[0].Revision, nil
	}
	if w.opts.Log != nil {
		// A shared log without an index: its newest LogSize events, no further.
		evs, err := w.history(ctx, room, w.opts.LogSize)
		if err != nil {
			return nil, 0, err
		}
		return newest(evs, before, limit)
	}
	w.logMu.Lock()
	var picked []Event
	more := false
	for i := w.log.len() - 1; i >= 0; i-- {
		e := w.log.at(i)
		if e.Room != room || (before > 0 && e.Revision >= before) {
			continue
		}
		if len(picked) == limit {
			more = true
			break
		}
		picked = append(picked, e)
	}
	w.logMu.Unlock()
	slices.Reverse(picked)
	if !more || len(picked) == 0 {
		return picked, 0, nil
	}
	return picked, picked[0].Revision, nil
}

// newest is the last limit of evs before revision before, and the cursor to
// older ones.
func newest(evs []Event, before uint64, limit int) ([]Event, uint64, error) {
	if before > 0 {
		i := sort.Search(len(evs), func(i int) bool { return evs[i].Revision >= before })
		evs = evs[:i]
	}
	if len(evs) <= limit {
		return evs, 0, nil
	}
	evs = evs[len(evs)-limit:]
	return evs, evs[0].Revision, nil
}

// History returns the events still kept about room (every room when empty),
// oldest first: the story of a room also after it closed, as far back as the log
// goes (LogSize events in memory; the retention and bounds of a shared log, at
// most MaxTimeline events of one room).
func (w *Watch) History(ctx context.Context, room string) ([]Event, error) {
	if _, ok := w.opts.Log.(roomReader); ok && room != "" {
		evs, _, err := w.Timeline(ctx, room, 0, MaxTimeline)
		return evs, err
	}
	return w.history(ctx, room, 1000*1000)
}

// history reads up to max events of the whole log and keeps room's.
func (w *Watch) history(ctx context.Context, room string, max int) ([]Event, error) {
	var all []Event
	if w.opts.Log == nil {
		w.logMu.Lock()
		all = w.log.from(0)
		w.logMu.Unlock()
	} else {
		var after uint64
		for range (max + 999) / 1000 { // bounded: max events
			evs, err := w.opts.Log.Read(ctx, after, 1000, 0)
			if err != nil {
				return nil, err
			}
			if len(evs) == 0 {
				break
			}
			all = append(all, evs...)
			after = evs[len(evs)-1].Revision
		}
	}
	if room == "" {
		return all, nil
	}
	out := all[:0:0]
	for _, e := range all {
		if e.Room == room {
			out = append(out, e)
		}
	}
	return out, nil
}

// Wait returns the events after revision after, in order, waiting until there is
// at least one or ctx ends. ErrGone: they are no longer kept. With a shared Log,
// a revision older than this Watch keeps (a client resuming on a replica that
// restarted) is read from the shared log.
func (w *Watch) Wait(ctx context.Context, after uint64) ([]Event, error) {
	for {
		w.logMu.Lock()
		evs, gone := w.since(after)
		ch := w.changed
		w.logMu.Unlock()
		if gone && w.opts.Log != nil {
			return w.opts.Log.Read(ctx, after, w.opts.LogSize, 0)
		}
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

// since is the events after revision after; gone when some were dropped, or
// happened before this Watch began.
func (w *Watch) since(after uint64) ([]Event, bool) {
	if after < w.dropped || after < w.base.Load() {
		return nil, true
	}
	i := sort.Search(w.log.len(), func(i int) bool { return w.log.at(i).Revision > after })
	return w.log.from(i), false
}

// Corrections counts, by kind, the events a resync had to emit because a webhook
// was lost, late or never sent.
func (w *Watch) Corrections() map[Kind]int64 { return w.corrections.read() }

// LastWebhook is when the last webhook was applied, here or, with a shared Log,
// by another Watch (zero if none yet).
func (w *Watch) LastWebhook() time.Time {
	if n := w.lastWebhook.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

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
			} else if !old.same(lp) {
				out = append(out, Event{Kind: ParticipantUpdated, Room: name, RoomSID: lr.GetSid(), Participant: &bare})
			}
			for _, tr := range old.Tracks {
				if !hasTrack(lp.Tracks, tr.SID) && !fresh("t/"+tr.SID) {
					tr := tr
					out = append(out, Event{Kind: TrackUnpublished, Room: name, RoomSID: lr.GetSid(), Participant: &bare, Track: &tr})
				}
			}
			for _, tr := range lp.Tracks {
				if fresh("t/" + tr.SID) {
					continue
				}
				tr := tr
				switch i := slices.IndexFunc(old.Tracks, func(o Track) bool { return o.SID == tr.SID }); {
				case i < 0:
					out = append(out, Event{Kind: TrackPublished, Room: name, RoomSID: lr.GetSid(), Participant: &bare, Track: &tr})
				case old.Tracks[i].Muted != tr.Muted:
					out = append(out, Event{Kind: TrackUpdated, Room: name, RoomSID: lr.GetSid(), Participant: &bare, Track: &tr})
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isNotFound(err error) bool { return errors.Is(err, errs.ErrNotFound) }

// counter counts by key, safe for concurrent use.
type counter[K comparable] struct{ m sync.Map } // K -> *atomic.Int64

func (c *counter[K]) add(k K) {
	v, _ := c.m.LoadOrStore(k, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (c *counter[K]) read() map[K]int64 {
	out := map[K]int64{}
	c.m.Range(func(k, v any) bool {
		out[k.(K)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}
