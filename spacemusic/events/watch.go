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

	"github.com/spacemusic/streamkit/spacemusic/audit"
	"github.com/spacemusic/streamkit/spacemusic/errs"
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
	// Audit is the music profile's settings (the show's bitrate floor): every
	// audio track is judged by it (AudioFlagged, Snapshot.Warnings).
	Audit audit.Options
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
	w := &Watch{lister: l, opts: o, model: newModel(o.Audit), changed: make(chan struct{}), log: ring{size: o.LogSize}}
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
	if applied && err == nil && w.opts.Log != nil {
		err = w.flagShared(ctx, e)
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
	if e.Finding != nil {
		k += "/" + string(e.Finding.Code) // once per track and finding
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
	own := rev == 0
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
	if own { // this Watch's own log: what e revealed follows it at once
		for _, f := range w.model.flags(e) {
			w.applyLocked(f, 0)
		}
	}
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
