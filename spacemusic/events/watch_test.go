package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// studio is a real LiveKit that posts its webhooks to a Receiver feeding a Watch.
type studio struct {
	env    *testenv.Env
	watch  *events.Watch
	recv   *events.Receiver
	rooms  *rooms.Service
	issuer *tokens.Issuer
	lister events.Lister
	// gate, when set, refuses webhooks as if the dashboard were unreachable.
	mu   sync.Mutex
	gate bool
	// first is the first webhook LiveKit sent, as it came: for replays.
	first *http.Request
	body  []byte
}

func newStudio(t *testing.T, resync time.Duration) *studio {
	t.Helper()
	return newStudioWith(t, resync, func(hook testenv.Option) *testenv.Env { return testenv.LiveKit(t, testenv.WithRedis(), hook) })
}

// newStudioWith starts LiveKit with start, which must pass on the webhook option.
func newStudioWith(t *testing.T, resync time.Duration, start func(hook testenv.Option) *testenv.Env) *studio {
	t.Helper()
	s := &studio{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		closed := s.gate
		s.mu.Unlock()
		if closed || s.recv == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		if s.first == nil {
			s.body, _ = io.ReadAll(r.Body)
			s.first = r.Clone(context.Background())
			r.Body = io.NopCloser(bytes.NewReader(s.body))
		}
		s.mu.Unlock()
		s.recv.ServeHTTP(w, r)
	}))
	t.Cleanup(hook.Close)
	s.env = start(testenv.WithWebhook(hook.URL + "/webhook"))
	cfg := events.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret, Timeout: 5 * time.Second}
	var err error
	s.lister, err = events.NewLister(cfg)
	require.NoError(t, err)
	s.watch = events.NewWatch(s.lister, events.Options{Resync: resync})
	s.recv = events.NewReceiver(s.env.APIKey, s.env.APISecret, events.WatchSink(s.watch))
	s.rooms, err = rooms.New(rooms.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret})
	require.NoError(t, err)
	s.issuer, err = tokens.NewIssuer(s.env.APIKey, s.env.APISecret)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.watch.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func (s *studio) closeGate(closed bool) {
	s.mu.Lock()
	s.gate = closed
	s.mu.Unlock()
}

// follower collects the Watch's events in revision order, as a subscriber would.
type follower struct {
	mu  sync.Mutex
	evs []events.Event
}

func follow(t *testing.T, w *events.Watch) *follower {
	f := &follower{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var last uint64
		for {
			evs, err := w.Wait(ctx, last)
			if err != nil {
				return
			}
			f.mu.Lock()
			f.evs = append(f.evs, evs...)
			f.mu.Unlock()
			last = evs[len(evs)-1].Revision
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func (f *follower) all() []events.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.evs)
}

// waitFor waits until an event of kind about room (and who, when not empty)
// has arrived, and returns it.
func (f *follower) waitFor(t *testing.T, kind events.Kind, room, who string) events.Event {
	t.Helper()
	return f.waitAfter(t, 0, kind, room, who)
}

// waitAfter is waitFor among the events after revision after.
func (f *follower) waitAfter(t *testing.T, after uint64, kind events.Kind, room, who string) events.Event {
	t.Helper()
	var got events.Event
	ok := assert.Eventually(t, func() bool {
		for _, e := range f.all() {
			if e.Revision > after && e.Kind == kind && e.Room == room && (who == "" || (e.Participant != nil && e.Participant.Identity == who)) {
				got = e
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond)
	if !ok {
		t.Fatalf("no %s event for room %q %s; got %s", kind, room, who, describe(f.all()))
	}
	return got
}

func describe(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %d %s %s", e.Revision, e.Kind, e.Room)
		if e.Ingest != nil {
			fmt.Fprintf(&b, " %s %s %s", e.Ingest.ID, e.Ingest.State, e.Ingest.Error)
		}
		if e.Participant != nil {
			fmt.Fprintf(&b, " %s", e.Participant.Identity)
		}
		if e.Resync {
			b.WriteString(" (resync)")
		}
	}
	return b.String()
}

// view is a model reduced to what a fresh list can be compared with: rooms,
// who is in them, and their track SIDs.
func view(s *events.Snapshot) map[string][]string {
	out := map[string][]string{}
	for name, r := range s.Rooms {
		out[name] = []string{}
		for id, p := range r.Participants {
			e := id
			for _, tr := range p.Tracks {
				e += "+" + tr.SID
			}
			out[name] = append(out[name], e)
		}
		sort.Strings(out[name])
	}
	return out
}

// listed is the same view of a fresh list of LiveKit.
func listed(t require.TestingT, l events.Lister) map[string][]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := l.ListRooms(ctx)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, r := range rs {
		ps, err := l.ListParticipants(ctx, r.GetName())
		require.NoError(t, err)
		out[r.GetName()] = []string{}
		for _, p := range ps {
			e := p.GetIdentity()
			sids := []string{}
			for _, tr := range p.GetTracks() {
				sids = append(sids, tr.GetSid())
			}
			sort.Strings(sids)
			for _, sid := range sids {
				e += "+" + sid
			}
			out[r.GetName()] = append(out[r.GetName()], e)
		}
		sort.Strings(out[r.GetName()])
	}
	return out
}

// requireModelIsLiveKit waits (bounded) until the model equals a fresh list.
func requireModelIsLiveKit(t *testing.T, s *studio, step string) {
	t.Helper()
	var model, truth map[string][]string
	ok := assert.EventuallyWithT(t, func(c *assert.CollectT) {
		model, truth = view(s.watch.Snapshot()), listed(c, s.lister)
		assert.Equal(c, fmt.Sprint(truth), fmt.Sprint(model))
	}, 10*time.Second, 50*time.Millisecond)
	if !ok {
		t.Fatalf("%s: the model is not LiveKit:\n model %v\n truth %v", step, model, truth)
	}
}

// A whole show, told by LiveKit's webhooks: the stage opens, a performer joins
// and plays, a listener comes, the performer is shown out, the stage closes.
// Every step arrives as its event, in order, and after every step the model is
// what a fresh list of LiveKit says.
func TestAShowToldByWebhooks(t *testing.T) {
	testenv.RequireNetNS(t)
	s := newStudio(t, time.Hour) // no resync during the story: webhooks alone
	f := follow(t, s.watch)
	ctx := testenv.Within(t, 2*time.Minute)
	require.Eventually(t, func() bool { return s.watch.Snapshot().Synced }, 10*time.Second, 10*time.Millisecond, "first list")

	_, err := s.rooms.Create(ctx, "stage", rooms.CreateOptions{})
	require.NoError(t, err)
	opened := f.waitFor(t, events.RoomOpened, "stage", "")
	assert.NotNil(t, opened.Raw, "the raw webhook stays reachable")
	assert.False(t, opened.Resync)
	requireModelIsLiveKit(t, s, "stage opened")

	tok, err := s.issuer.Performer("stage", "ada", tokens.WithName("Ada"))
	require.NoError(t, err)
	ada := s.env.Join(t, tok.JWT, nil)
	joined := f.waitFor(t, events.ParticipantJoined, "stage", "ada")
	assert.Equal(t, events.Performer, joined.Participant.Role)
	assert.Equal(t, "Ada", joined.Participant.Name)

	pub, err := testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	played := f.waitFor(t, events.TrackPublished, "stage", "ada")
	assert.Equal(t, pub.SID(), played.Track.SID)
	assert.Equal(t, "audio", played.Track.Kind)
	assert.Equal(t, "microphone", played.Track.Source)
	// LiveKit's track webhook names ada by SID and identity only; the event
	// still says who she is to the show (the page reads "ada (performer)").
	assert.Equal(t, events.Performer, played.Participant.Role, "a track event carries its participant's role")
	assert.Equal(t, "Ada", played.Participant.Name)
	requireModelIsLiveKit(t, s, "ada plays")

	ltok, err := s.issuer.Listener("stage", "bob")
	require.NoError(t, err)
	s.env.Join(t, ltok.JWT, nil)
	assert.Equal(t, events.Listener, f.waitFor(t, events.ParticipantJoined, "stage", "bob").Participant.Role)
	requireModelIsLiveKit(t, s, "bob listens")

	require.NoError(t, s.rooms.Kick(ctx, "stage", "ada"))
	f.waitFor(t, events.ParticipantLeft, "stage", "ada")
	requireModelIsLiveKit(t, s, "ada shown out")

	require.NoError(t, s.rooms.Delete(ctx, "stage"))
	f.waitFor(t, events.RoomClosed, "stage", "")
	requireModelIsLiveKit(t, s, "stage closed")

	// The story is in order and whole, and nothing was a correction.
	var story []string
	for _, e := range f.all() {
		assert.False(t, e.Resync, "webhooks alone told it: %s", describe(f.all()))
		who := ""
		if e.Participant != nil {
			who = " " + e.Participant.Identity
		}
		story = append(story, string(e.Kind)+who)
	}
	at := func(step string) int { return slices.Index(story, step) }
	for _, step := range []string{"room_opened", "participant_joined ada", "track_published ada", "participant_joined bob", "participant_left ada", "room_closed"} {
		require.GreaterOrEqual(t, at(step), 0, "missing %q in %v", step, story)
	}
	assert.Less(t, at("room_opened"), at("participant_joined ada"), story)
	assert.Less(t, at("participant_joined ada"), at("track_published ada"), story)
	assert.Less(t, at("participant_left ada"), at("room_closed"), story)
	revs := []uint64{}
	for _, e := range f.all() {
		revs = append(revs, e.Revision)
	}
	assert.True(t, slices.IsSorted(revs), "revisions only grow: %v", revs)
	assert.Empty(t, s.watch.Corrections())
	assert.Positive(t, s.recv.Counts()[events.Accepted])

	// An attacker replays LiveKit's own first webhook: acknowledged, emitted
	// once only. With one byte of the body changed, it is refused.
	n := len(f.all())
	replay := func(body []byte) int {
		r := s.first.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(body))
		w := httptest.NewRecorder()
		s.recv.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusOK, replay(s.body))
	assert.Equal(t, int64(1), s.recv.Counts()[events.Duplicate])
	tampered := bytes.Replace(s.body, []byte(`"stage"`), []byte(`"stagf"`), 1)
	require.NotEqual(t, s.body, tampered)
	assert.Equal(t, http.StatusUnauthorized, replay(tampered))
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, f.all(), n, "a replay or a forgery emitted something")
}

// LiveKit cannot reach us for part of a show (the webhooks of that part are
// lost): the next resync finds what changed, emits it marked as found by
// resync, counts it, and the model is LiveKit again.
func TestLostWebhooksAreFoundByResync(t *testing.T) {
	testenv.RequireNetNS(t)
	const resync = 2 * time.Second
	s := newStudio(t, resync)
	f := follow(t, s.watch)
	ctx := testenv.Within(t, 2*time.Minute)
	require.Eventually(t, func() bool { return s.watch.Snapshot().Synced }, 10*time.Second, 10*time.Millisecond, "first list")

	s.closeGate(true) // the dashboard is unreachable
	_, err := s.rooms.Create(ctx, "dark-stage", rooms.CreateOptions{})
	require.NoError(t, err)
	tok, err := s.issuer.Performer("dark-stage", "ada")
	require.NoError(t, err)
	ada := s.env.Join(t, tok.JWT, nil)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)

	for _, k := range []events.Kind{events.RoomOpened, events.ParticipantJoined, events.TrackPublished} {
		e := f.waitFor(t, k, "dark-stage", "")
		assert.True(t, e.Resync, "%s came from a resync, not a webhook", k)
		assert.Nil(t, e.Raw)
	}
	requireModelIsLiveKit(t, s, "after the resync")
	c := s.watch.Corrections()
	assert.Equal(t, int64(1), c[events.RoomOpened], "%v", c)
	assert.Equal(t, int64(1), c[events.ParticipantJoined], "%v", c)
	assert.Equal(t, int64(1), c[events.TrackPublished], "%v", c)

	// Reachable again: late webhooks of what the resync already found change
	// nothing and emit nothing; new ones flow.
	s.closeGate(false)
	before := len(f.all())
	require.NoError(t, s.rooms.Kick(ctx, "dark-stage", "ada"))
	left := f.waitFor(t, events.ParticipantLeft, "dark-stage", "ada")
	assert.False(t, left.Resync)
	for _, e := range f.all()[before:] {
		assert.NotEqual(t, events.RoomOpened, e.Kind, "a duplicate open: %s", describe(f.all()))
	}
	requireModelIsLiveKit(t, s, "after the kick")
}

// OBS goes live into a stage and the show is recorded: the ingest's going live
// and ending and the recording's start and end (with its file) arrive as events,
// the ingest joins as an ingest, and the model's ingresses and running
// recordings are LiveKit's.
func TestIngestAndRecordingEvents(t *testing.T) {
	testenv.RequireNetNS(t)
	var ing *testenv.IngressEnv
	s := newStudioWith(t, time.Hour, func(hook testenv.Option) *testenv.Env {
		env, i := testenv.Ingress(t, hook)
		ing = i
		return env
	})
	testenv.Egress(t, s.env)
	m := testenv.MinIO(t)
	lkcfg := ingress.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret}
	ins, err := ingress.New(lkcfg)
	require.NoError(t, err)
	st := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	eg, err := egress.New(lkcfg, st)
	require.NoError(t, err)
	store, err := recordings.New(recordings.Config{Config: st})
	require.NoError(t, err)
	ctx := testenv.Within(t, 3*time.Minute)
	require.NoError(t, store.EnsureBucket(ctx))
	f := follow(t, s.watch)
	require.Eventually(t, func() bool { return s.watch.Snapshot().Synced }, 10*time.Second, 10*time.Millisecond, "first list")

	_, err = s.rooms.Create(ctx, "stage", rooms.CreateOptions{})
	require.NoError(t, err)
	obs, err := ins.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "stage", Identity: "obs"}, AudioOnly: true})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(obs.ServerURL, ing.RTMPBase), obs.ServerURL)
	testenv.PushRTMP(t, obs.PublishURL, 20*time.Second, true)

	live := f.waitFor(t, events.IngestLive, "stage", "")
	assert.Equal(t, obs.ID, live.Ingest.ID)
	assert.Equal(t, ingress.RTMP, live.Ingest.Kind)
	assert.Empty(t, live.Ingest.StreamKey, "events carry no stream key")
	assert.NotContains(t, live.Ingest.PublishURL, obs.StreamKey)
	assert.Equal(t, events.Ingest, f.waitFor(t, events.ParticipantJoined, "stage", "obs").Participant.Role)
	assert.Equal(t, events.Ingest, f.waitFor(t, events.TrackPublished, "stage", "obs").Participant.Role, "OBS's track is the ingest's")
	assert.True(t, s.watch.Snapshot().Ingresses[obs.ID].Live(), "the model has the ingest live")
	requireModelIsLiveKit(t, s, "OBS live")

	rec, err := eg.RecordAudio(ctx, "stage", egress.AudioOptions{Identity: "obs"})
	require.NoError(t, err)
	started := f.waitFor(t, events.RecordingStarted, "stage", "")
	assert.Equal(t, rec.ID, started.Recording.ID)
	require.Eventually(t, func() bool { _, ok := s.watch.Snapshot().Recordings[rec.ID]; return ok }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(3 * time.Second)
	_, err = eg.Stop(ctx, rec.ID)
	require.NoError(t, err)
	ended := f.waitFor(t, events.RecordingEnded, "stage", "")
	assert.Equal(t, rec.ID, ended.Recording.ID)
	assert.Equal(t, egress.Complete, ended.Recording.Status, "%+v", ended.Recording)
	require.Len(t, ended.Recording.Files, 1)
	assert.True(t, strings.HasPrefix(ended.Recording.Files[0].Key, "stage/"), ended.Recording.Files[0].Key)
	assert.Positive(t, ended.Recording.Duration)
	assert.NotContains(t, s.watch.Snapshot().Recordings, rec.ID, "an ended recording is not running")

	// (A push the busy machine refused first may have ended before: the end
	// that counts is the one after it went live.)
	gone := f.waitAfter(t, live.Revision, events.IngestEnded, "stage", "")
	assert.Equal(t, obs.ID, gone.Ingest.ID)
	assert.False(t, s.watch.Snapshot().Ingresses[obs.ID].Live(), "%+v\n%s", s.watch.Snapshot().Ingresses[obs.ID], describe(f.all()))
	assert.Empty(t, s.watch.Corrections(), "webhooks alone told it: %s", describe(f.all()))
	// No stream key in any event: they go to pages and logs.
	for _, e := range f.all() {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		assert.NotContains(t, string(b), obs.StreamKey)
	}
}
