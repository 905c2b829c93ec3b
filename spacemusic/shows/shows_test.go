package shows_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/shows"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// stage is a real LiveKit whose webhooks feed a Watch, and the services a show
// drives. With media, Ingress, Egress and MinIO run beside it.
type stage struct {
	env     *testenv.Env
	ing     *testenv.IngressEnv
	watch   *events.Watch
	rooms   *rooms.Service
	ingress *ingress.Service
	egress  *egress.Service
	store   *recordings.Store
	issuer  *tokens.Issuer
	seen    *seen
	spool   string // the dashboard machine's disk: a restarted dashboard finds its spool here
	bucket  egress.Storage
}

// seen keeps the Watch's events with when this process saw each.
type seen struct {
	mu  sync.Mutex
	evs []events.Event
	at  []time.Time
}

// What a stage runs beside LiveKit and Redis.
type media int

const (
	noMedia    media = iota
	withEgress       // Egress and MinIO
	withOBS          // Ingress too
)

// newStage starts the stack; resync, when given, is how often the Watch lists
// LiveKit (an hour otherwise: only webhooks move the model).
func newStage(t *testing.T, m media, resync ...time.Duration) *stage {
	t.Helper()
	every := time.Hour
	if len(resync) > 0 {
		every = resync[0]
	}
	testenv.RequireNetNS(t)
	s := &stage{seen: &seen{}, spool: t.TempDir()}
	var recv http.Handler
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := recv
		mu.Unlock()
		if h == nil {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hook.Close)
	withHook := testenv.WithWebhook(hook.URL + "/webhook")
	st := egress.Storage{Endpoint: "http://127.0.0.1:1", Bucket: "recordings", AccessKey: "unused", SecretKey: "unused-secret"}
	switch m {
	case withOBS:
		s.env, s.ing = testenv.Ingress(t, withHook)
	case withEgress:
		s.env = testenv.LiveKit(t, testenv.WithRedis(), testenv.WithBackend("process"), withHook)
	default:
		s.env = testenv.LiveKit(t, testenv.WithRedis(), withHook)
	}
	if m != noMedia {
		testenv.Egress(t, s.env)
		mi := testenv.MinIO(t)
		st = egress.Storage{Endpoint: mi.Endpoint, Bucket: "recordings", AccessKey: mi.AccessKey, SecretKey: mi.SecretKey}
	}
	s.bucket = st
	lkcfg := rooms.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret}
	var err error
	s.rooms, err = rooms.New(lkcfg)
	require.NoError(t, err)
	s.ingress, err = ingress.New(lkcfg)
	require.NoError(t, err)
	s.egress, err = egress.New(lkcfg, st)
	require.NoError(t, err)
	s.issuer, err = tokens.NewIssuer(s.env.APIKey, s.env.APISecret)
	require.NoError(t, err)
	if m != noMedia {
		s.store, err = recordings.New(recordings.Config{Config: st})
		require.NoError(t, err)
		require.NoError(t, s.store.EnsureBucket(testenv.Within(t, 10*time.Second)))
	}
	lister, err := events.NewLister(events.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret})
	require.NoError(t, err)
	s.watch = events.NewWatch(lister, events.Options{Resync: every, Own: s.issuer.Own}) // Own: impostors are reported
	mu.Lock()
	recv = events.NewReceiver(s.env.APIKey, s.env.APISecret, events.WatchSink(s.watch))
	mu.Unlock()
	s.background(t, s.watch.Run)
	require.Eventually(t, func() bool { return s.watch.Snapshot().Synced }, 10*time.Second, 10*time.Millisecond, "first list")
	s.background(t, func(ctx context.Context) error {
		var after uint64
		for {
			evs, err := s.watch.Wait(ctx, after)
			if err != nil {
				return err
			}
			now := time.Now()
			s.seen.mu.Lock()
			for _, e := range evs {
				s.seen.evs, s.seen.at = append(s.seen.evs, e), append(s.seen.at, now)
				after = e.Revision
			}
			s.seen.mu.Unlock()
		}
	})
	return s
}

// service is a dashboard's shows.Service; a new one is a restarted dashboard.
func (s *stage) service(t *testing.T) *shows.Service {
	t.Helper()
	cfg := shows.Config{Rooms: s.rooms, Ingress: s.ingress, Tokens: s.issuer, Egress: s.egress, Secret: s.env.APISecret,
		Recordings: s.store, Watch: s.watch, URL: s.env.WSURL}
	if s.store != nil {
		rec, err := capture.New(capture.Config{URL: s.env.WSURL, Tokens: s.issuer, Store: s.store, Dir: s.spool})
		require.NoError(t, err)
		t.Cleanup(rec.Close)
		cfg.Capture = rec
	}
	svc, err := shows.New(cfg)
	require.NoError(t, err)
	return svc
}

// serviceUploadingVia is a dashboard's shows.Service whose recorder reaches
// the bucket through rt.
func (s *stage) serviceUploadingVia(t *testing.T, rt http.RoundTripper) *shows.Service {
	t.Helper()
	store, err := recordings.New(recordings.Config{Config: s.bucket, HTTPClient: &http.Client{Transport: rt}})
	require.NoError(t, err)
	rec, err := capture.New(capture.Config{URL: s.env.WSURL, Tokens: s.issuer, Store: store, Dir: s.spool})
	require.NoError(t, err)
	t.Cleanup(rec.Close)
	svc, err := shows.New(shows.Config{Rooms: s.rooms, Ingress: s.ingress, Tokens: s.issuer, Egress: s.egress, Secret: s.env.APISecret,
		Recordings: s.store, Watch: s.watch, URL: s.env.WSURL, Capture: rec})
	require.NoError(t, err)
	return svc
}

// background runs f until the test ends.
func (s *stage) background(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// when is when this process saw the first event of kind about room by who.
func (s *stage) when(t *testing.T, kind events.Kind, room, who string, limit time.Duration) (events.Event, time.Time) {
	t.Helper()
	return s.nth(t, 1, kind, room, who, limit)
}

// count is what LiveKit has for the room: rooms, ingresses, egresses.
func (s *stage) count(t *testing.T, ctx context.Context, room string) (int, int, int) {
	t.Helper()
	rs, err := s.rooms.List(ctx, room)
	require.NoError(t, err)
	ins, err := s.ingress.List(ctx, ingress.ListOptions{Room: room})
	require.NoError(t, err)
	egs, err := s.egress.List(ctx, egress.ListOptions{Room: room})
	require.NoError(t, err)
	return len(rs), len(ins), len(egs)
}

// An operator opens Friday's show twice, as a retried request or a second
// dashboard would: LiveKit has one room, one ingress and no egress, and both
// answers carry the same OBS settings. Then the spec grows by a performer and a
// destination (applied), and changes its ingest (refused, nothing touched).
func TestOpeningTwiceCreatesNothingNew(t *testing.T) {
	s := newStage(t, noMedia)
	ctx := testenv.Within(t, 30*time.Second)
	spec := shows.Spec{Name: "friday-jam",
		Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}, {Identity: "obs-main", Name: "Main mix", Via: shows.OBS}},
		Ingest:     shows.Ingest{Kind: shows.RTMP, AudioOnly: true}, Record: []string{"audio"},
		Restream: []string{"rtmp://live.example.org/app/FIRST-KEY"}, ListenerTTL: 2 * time.Hour}

	first, err := s.service(t).Open(ctx, spec)
	require.NoError(t, err)
	assert.True(t, first.Created)
	require.NotNil(t, first.Ingest)
	assert.NotEmpty(t, first.Ingest.StreamKey)
	// (ServerURL: LiveKit gives one only when it knows its Ingress; the media test checks it.)
	assert.Equal(t, "obs-main", first.Ingest.Identity)
	require.NotNil(t, first.Ingest.Encoder)
	assert.Equal(t, "AAC", first.Ingest.Encoder.AudioCodec)
	require.Len(t, first.Performers, 2)
	require.NotNil(t, first.Performers[0].Token, "a browser performer gets a token")
	claims, err := s.issuer.Verify(first.Performers[0].Token.JWT)
	require.NoError(t, err)
	assert.Equal(t, "friday-jam", claims.Grant.Room)
	assert.Equal(t, "Ada", claims.Name)
	assert.Nil(t, first.Performers[1].Token, "OBS comes in through the ingest")
	assert.Equal(t, 2*time.Hour, first.Listeners.TTL)
	assert.Equal(t, shows.Armed, first.Phase)
	for _, out := range []string{first.String(), first.Ingest.String()} {
		assert.NotContains(t, out, first.Ingest.StreamKey)
		assert.NotContains(t, out, first.Performers[0].Token.JWT)
	}
	room, err := s.rooms.Get(ctx, "friday-jam")
	require.NoError(t, err)
	assert.NotContains(t, room.Metadata, "FIRST-KEY", "listeners read room metadata")

	again, err := s.service(t).Open(ctx, spec)
	require.NoError(t, err)
	assert.False(t, again.Created)
	assert.Equal(t, first.Ingest.ID, again.Ingest.ID)
	assert.Equal(t, first.Ingest.StreamKey, again.Ingest.StreamKey)
	assert.Equal(t, first.Ingest.Encoder, again.Ingest.Encoder)
	nr, ni, ne := s.count(t, ctx, "friday-jam")
	assert.Equal(t, [3]int{1, 1, 0}, [3]int{nr, ni, ne}, "rooms, ingresses, egresses")

	grown := spec
	grown.Performers = append(slices.Clone(spec.Performers), shows.Performer{Identity: "bob"})
	grown.Restream = append(slices.Clone(spec.Restream), "rtmp://other.example.org/live/SECOND-KEY")
	g, err := s.service(t).Open(ctx, grown)
	require.NoError(t, err)
	assert.Len(t, g.Performers, 3)
	assert.Len(t, g.Spec.Restream, 2)
	got, err := s.service(t).Get(ctx, "friday-jam")
	require.NoError(t, err, "a restarted dashboard finds the grown show in LiveKit")
	assert.Len(t, got.Spec.Performers, 3)
	assert.Len(t, got.Spec.Restream, 2)
	assert.Equal(t, first.Ingest.ID, got.Ingest.ID)
	nr, ni, ne = s.count(t, ctx, "friday-jam")
	assert.Equal(t, [3]int{1, 1, 0}, [3]int{nr, ni, ne}, "rooms, ingresses, egresses")

	whip := grown
	whip.Ingest = shows.Ingest{Kind: shows.WHIP}
	_, err = s.service(t).Open(ctx, whip)
	require.Error(t, err)
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
	assert.Contains(t, err.Error(), "cannot change ingest")
	nr, ni, _ = s.count(t, ctx, "friday-jam")
	assert.Equal(t, [2]int{1, 1}, [2]int{nr, ni})

	list, err := s.service(t).List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "friday-jam", list[0].Name)
	assert.Equal(t, shows.Armed, list[0].Phase)

	bob, err := s.service(t).Listener(ctx, "friday-jam", "bob")
	require.NoError(t, err)
	lc, err := s.issuer.Verify(bob.JWT)
	require.NoError(t, err)
	assert.Equal(t, "friday-jam", lc.Grant.Room)
	require.NotNil(t, lc.Grant.CanPublish)
	assert.False(t, *lc.Grant.CanPublish, "a listener only listens")
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), lc.ExpiresAt, time.Minute, "the show's listener lifetime")
}

// Someone else's room, and a show whose metadata someone overwrote, are
// refused clearly and left as they are.
func TestHostileRoomsAreLeftAlone(t *testing.T) {
	s := newStage(t, noMedia)
	ctx := testenv.Within(t, 30*time.Second)
	svc := s.service(t)
	_, err := s.rooms.Create(ctx, "their-room", rooms.CreateOptions{Metadata: `{"setlist":["intro"]}`})
	require.NoError(t, err)
	_, err = svc.Open(ctx, shows.Spec{Name: "their-room"})
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
	assert.Contains(t, err.Error(), "not a show")
	_, err = svc.Close(ctx, "their-room")
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
	r, err := s.rooms.Get(ctx, "their-room")
	require.NoError(t, err, "their room is still open")
	assert.Equal(t, `{"setlist":["intro"]}`, r.Metadata)

	_, err = svc.Open(ctx, shows.Spec{Name: "tampered", Record: []string{"audio"}})
	require.NoError(t, err)
	_, err = s.rooms.SetMetadata(ctx, "tampered", `{"kind":"streamkit.show","v":1,"spec":{"ingest":"none","record":["everything"],"listenerTtlSec":3600}}`)
	require.NoError(t, err)
	// LiveKit stores the new metadata a moment after answering (seen under load).
	require.Eventually(t, func() bool {
		r, err := s.rooms.Get(ctx, "tampered")
		return err == nil && strings.Contains(r.Metadata, "everything")
	}, 10*time.Second, 20*time.Millisecond)
	// A restarted Service never saw the show good: it touches nothing.
	restarted := s.service(t)
	for _, call := range []func() error{
		func() error { _, err := restarted.Get(ctx, "tampered"); return err },
		func() error {
			_, err := restarted.Open(ctx, shows.Spec{Name: "tampered", Record: []string{"audio"}})
			return err
		},
		func() error { _, err := restarted.Close(ctx, "tampered"); return err },
	} {
		err := call()
		require.Error(t, err)
		assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
		assert.Contains(t, err.Error(), "changed outside this library")
	}
	list, err := restarted.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1, "their room is no show; the tampered one is listed with its problem")
	assert.Equal(t, "tampered", list[0].Name)
	assert.NotEmpty(t, list[0].Problems)
	// The Service that opened it keeps its last good spec: the garbage is
	// reported, not obeyed, and Close ends the show.
	got, err := svc.Get(ctx, "tampered")
	require.NoError(t, err)
	assert.Equal(t, []string{"audio"}, got.Spec.Record)
	assert.Contains(t, strings.Join(got.Problems, " "), "changed outside streamkit")
	_, err = svc.Open(ctx, shows.Spec{Name: "tampered", Record: []string{"audio"}})
	assert.ErrorIs(t, err, shows.ErrTampered)
	rep, err := svc.Close(ctx, "tampered")
	require.NoError(t, err)
	assert.Contains(t, strings.Join(rep.Problems, " "), "changed outside streamkit")

	_, err = svc.Close(ctx, "never-opened")
	assert.ErrorIs(t, err, errs.ErrNotFound)
	_, err = svc.Get(ctx, "bad name")
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// OBS starts pushing 10 s after the show opened. Nobody presses
// record: the show's audio is recorded from its first second on, and the
// recording ends when OBS stops. Then the dashboard restarts (a new Service),
// finds the show in LiveKit with its recording, and closes it: the report has
// the timeline, the file with its duration and a link that downloads it.
func TestTheShowRecordsItselfWhenOBSGoesLive(t *testing.T) {
	s := newStage(t, withOBS)
	ctx := testenv.Within(t, 90*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	show, err := svc.Open(ctx, shows.Spec{Name: "friday-jam",
		Performers: []shows.Performer{{Identity: "obs-main", Name: "Main mix", Via: shows.OBS}},
		Ingest:     shows.Ingest{Kind: shows.RTMP, AudioOnly: true}, Record: []string{"audio"}})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(show.Ingest.ServerURL, s.ing.RTMPBase), show.Ingest.ServerURL)
	time.Sleep(10 * time.Second) // the operator fiddles with OBS
	got, err := svc.Get(ctx, "friday-jam")
	require.NoError(t, err)
	assert.Equal(t, shows.Armed, got.Phase)
	assert.Empty(t, got.Parts, "nothing records before the music")

	const push = 8 * time.Second
	testenv.PushRTMP(t, show.Ingest.PublishURL, push, true)
	_, firstAudio := s.when(t, events.TrackPublished, "friday-jam", "obs-main", 30*time.Second)
	_, startedSeen := s.when(t, events.RecordingStarted, "friday-jam", "", 10*time.Second)
	var live shows.Show
	require.Eventually(t, func() bool {
		live, err = svc.Get(ctx, "friday-jam")
		return err == nil && len(live.Parts) > 0 && len(svc.Starts()) > 0
	}, 10*time.Second, 20*time.Millisecond, "the recording is the show's part")
	assert.Equal(t, shows.Live, live.Phase)
	require.Len(t, live.Parts, 1, "one recording, started by itself")
	part := live.Parts[0]
	assert.Equal(t, "audio", part.Kind)
	starts := svc.Starts()
	require.Len(t, starts, 1, "%+v", starts)
	t.Logf("go-live to recording: the recorder's first packet came %s after Run saw the audio; the model had the recording started %s after the first audio",
		starts[0].After, startedSeen.Sub(firstAudio))
	assert.Less(t, startedSeen.Sub(firstAudio), 2*time.Second, "the recording starts within 2 s of the first audio")

	_, quiet := s.when(t, events.TrackUnpublished, "friday-jam", "obs-main", 30*time.Second)
	_, ended := s.when(t, events.RecordingEnded, "friday-jam", "", 15*time.Second)
	t.Logf("audio for %s as LiveKit saw it; recording ended %s after the audio did", quiet.Sub(firstAudio), ended.Sub(quiet))

	restarted := s.service(t)
	found, err := restarted.Get(ctx, "friday-jam")
	require.NoError(t, err)
	require.Len(t, found.Parts, 1, "the restarted dashboard lists the recording")
	assert.Equal(t, part.ID, found.Parts[0].ID)
	asked := time.Now()
	rep, err := restarted.Close(ctx, "friday-jam")
	require.NoError(t, err)
	t.Logf("close to report: %s", time.Since(asked))
	assert.Empty(t, rep.Problems)
	require.Len(t, rep.Parts, 1)
	require.Len(t, rep.Parts[0].Files, 1)
	f := rep.Parts[0].Files[0]
	assert.Equal(t, egress.Complete, rep.Parts[0].Status)
	began := rep.Parts[0].StartedAt // the recorder's first packet
	t.Logf("file %s: %s long; the push lasted %s, the audio was live %s, the recording ran for %s of it (the recorder began %s after the first audio)",
		f.Key, f.Duration, push, quiet.Sub(firstAudio), quiet.Sub(began), began.Sub(firstAudio))
	assert.InDelta(t, quiet.Sub(began).Seconds(), f.Duration.Seconds(), 1.0, "the file holds the show's audio from the recording's start to the end")
	require.NotEmpty(t, f.URL)
	// The show's own recorder was in the room before OBS pushed, so the file
	// holds the push from its first note: at most a second is missing.
	heard := probedSeconds(t, f.URL)
	t.Logf("ffprobe: the file holds %.2f s of the %s push: %.2f s missed", heard, push, push.Seconds()-heard)
	assert.GreaterOrEqual(t, f.Duration, quiet.Sub(firstAudio)-300*time.Millisecond, "the file holds all the audio LiveKit had")
	assert.GreaterOrEqual(t, f.Duration, push-time.Second, "the file's audio starts within 1 s of the push's start")
	assert.GreaterOrEqual(t, heard, (push - time.Second).Seconds(), "the file's audio starts within 1 s of the push's start (ffprobe)")
	resp, err := http.Get(f.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	var kinds []events.Kind
	for _, e := range rep.Timeline {
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []events.Kind{events.IngestLive, events.TrackPublished, events.RecordingStarted, events.RecordingEnded} {
		assert.Contains(t, kinds, k, "the timeline tells the show")
	}

	nr, ni, _ := s.count(t, ctx, "friday-jam")
	assert.Equal(t, [2]int{0, 0}, [2]int{nr, ni}, "room and ingress are gone")
	twice, err := restarted.Close(ctx, "friday-jam")
	require.NoError(t, err, "closing twice is fine")
	assert.Equal(t, rep, twice, "closing twice answers the same report")
	_, err = svc.Close(ctx, "friday-jam")
	assert.ErrorIs(t, err, errs.ErrNotFound, "another dashboard: the show is gone")
}

// A browser show, no OBS: Ada's first published audio arms the recording. Her
// connection drops and she comes back: the show has two parts, in order, each
// as long as she was heard, and closing while the second records leaves both
// complete files in the bucket.
func TestABrowserShowRecordsEachStretchOfMusic(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 90*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	show, err := svc.Open(ctx, shows.Spec{Name: "ada-live", Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}},
		Record: []string{"audio"}})
	require.NoError(t, err)
	require.NotNil(t, show.Performers[0].Token)
	tone := testenv.Tone(t, 440, 30*time.Second)

	// play has Ada join and publish; it returns her connection and when the
	// audio was first seen.
	play := func(round int) (func(), time.Time) {
		ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
		_, err := testenv.PublishTone(t, ada, tone)
		require.NoError(t, err)
		_, heard := s.nth(t, round, events.TrackPublished, "ada-live", "ada", 15*time.Second)
		_, started := s.nth(t, round, events.RecordingStarted, "ada-live", "", 10*time.Second)
		t.Logf("part %d: the model had the recording started %s after the audio was published", round, started.Sub(heard))
		assert.Less(t, started.Sub(heard), 2*time.Second, "the recording starts within 2 s of the first audio")
		return ada.Disconnect, heard
	}
	leave, heard1 := play(1)
	time.Sleep(4 * time.Second)
	leave() // her connection drops
	_, quiet := s.nth(t, 1, events.ParticipantLeft, "ada-live", "ada", 10*time.Second)
	s.nth(t, 1, events.RecordingEnded, "ada-live", "", 10*time.Second)
	mid, err := svc.Get(ctx, "ada-live")
	require.NoError(t, err)
	assert.Equal(t, shows.Armed, mid.Phase, "waiting for Ada again")

	_, heard2 := play(2)
	// Someone overwrites the show's metadata mid-show: the show says so and
	// does not obey it (it keeps its last good spec, and the recording goes
	// on); once the metadata is put back, it is itself again.
	room, err := s.rooms.Get(ctx, "ada-live")
	require.NoError(t, err)
	_, err = s.rooms.SetMetadata(ctx, "ada-live", `{"kind":"streamkit.show","v":1,"spec":{"record":["all-of-it"]}}`)
	require.NoError(t, err)
	tampered, err := svc.Get(ctx, "ada-live")
	require.NoError(t, err, "the show keeps its last good spec")
	assert.NotEmpty(t, tampered.Problems, "the show says its metadata was changed")
	assert.Equal(t, []string{"audio"}, tampered.Spec.Record, "the last good spec, not the forged one")
	// The show's audio is its own recorder's, which the watched model knows.
	var running []events.Recording
	for _, r := range s.watch.Snapshot().Recordings {
		if r.Room == "ada-live" && r.Active() {
			running = append(running, r)
		}
	}
	assert.Len(t, running, 1, "the recording goes on")
	_, err = s.rooms.SetMetadata(ctx, "ada-live", room.Metadata)
	require.NoError(t, err)
	time.Sleep(3 * time.Second) // egress may take 2 s to begin writing under load
	asked := time.Now()
	rep, err := svc.Close(ctx, "ada-live") // while the second part records
	require.NoError(t, err)
	t.Logf("close to report: %s", time.Since(asked))
	assert.Empty(t, rep.Problems)
	require.Len(t, rep.Parts, 2, "%+v", rep.Parts)
	// Each part holds the music from its start to its end: nothing is cut.
	ends, heard := []time.Time{quiet, asked}, []time.Time{heard1, heard2}
	for i, p := range rep.Parts {
		assert.Equal(t, "audio", p.Kind)
		assert.Equal(t, egress.Complete, p.Status, p.Error)
		require.Len(t, p.Files, 1)
		f := p.Files[0]
		ran := ends[i].Sub(p.StartedAt)
		t.Logf("part %d: %s, %s long; it ran %s while Ada played (the recorder began %s after her audio)", i+1, f.Key, f.Duration, ran, p.StartedAt.Sub(heard[i]))
		assert.InDelta(t, ran.Seconds(), f.Duration.Seconds(), 1.0, "part %d holds the stretch Ada played", i+1)
		// The file itself, downloaded and decoded, says the same: it plays as
		// long as the report says, and what plays is Ada's tone.
		file := download(t, f.URL)
		played := probedSeconds(t, file)
		share := testenv.ToneShare(t, file, 440)
		t.Logf("part %d decoded: plays %.2f s (the report says %s); 440 Hz is %.1f dB of its sound", i+1, played, f.Duration, share)
		assert.InDelta(t, f.Duration.Seconds(), played, 0.5, "part %d plays as long as the report says", i+1)
		assert.InDelta(t, ran.Seconds(), played, 1.0, "part %d plays the stretch Ada played", i+1)
		assert.Greater(t, share, -1.0, "part %d is Ada's tone", i+1)
	}
	assert.True(t, rep.Parts[0].StartedAt.Before(rep.Parts[1].StartedAt), "parts in order")
	assert.Len(t, svc.Starts(), 2)
}

// nth is the nth (from 1) event of kind about room (by who, when set), and when
// this process saw it.
func (s *stage) nth(t *testing.T, n int, kind events.Kind, room, who string, limit time.Duration) (events.Event, time.Time) {
	t.Helper()
	var e events.Event
	var at time.Time
	require.Eventually(t, func() bool {
		s.seen.mu.Lock()
		defer s.seen.mu.Unlock()
		k := 0
		for i, x := range s.seen.evs {
			if x.Kind == kind && x.Room == room && (who == "" || (x.Participant != nil && x.Participant.Identity == who)) {
				if k++; k == n {
					e, at = x, s.seen.at[i]
					return true
				}
			}
		}
		return false
	}, limit, 10*time.Millisecond, "no %s #%d in %s by %q", kind, n, room, who)
	return e, at
}

// Ada plays on a show that sends its music nowhere yet. The operator adds a
// platform to the open show: the restream starts at once. A second platform
// joins the running restream, with no second egress. When Ada stops, the show
// closes itself after its EndAfter, and Close answers with that report. Bob
// listens to the end, so the room never empties: only EndAfter can close it.
func TestARestreamGrowsLiveAndAQuietShowEndsItself(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 90*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	spec := shows.Spec{Name: "radio-jam", Performers: []shows.Performer{{Identity: "ada"}}, EndAfter: 2 * time.Second}
	show, err := svc.Open(ctx, spec)
	require.NoError(t, err)
	assert.Equal(t, shows.Scheduled, show.Phase)
	ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	s.when(t, events.TrackPublished, "radio-jam", "ada", 15*time.Second)
	bob, err := s.issuer.Listener("radio-jam", "bob")
	require.NoError(t, err)
	s.env.Join(t, bob.JWT, nil)
	s.when(t, events.ParticipantJoined, "radio-jam", "bob", 15*time.Second)

	first := testenv.ReceiveRTMP(t, "platform-a")
	spec.Restream = []string{first.URL}
	_, err = svc.Open(ctx, spec)
	require.NoError(t, err)
	first.WaitAudio(t, 2*time.Second, 20*time.Second)

	second := testenv.ReceiveRTMP(t, "platform-b")
	spec.Restream = append(spec.Restream, second.URL)
	grown, err := svc.Open(ctx, spec)
	require.NoError(t, err)
	assert.Len(t, grown.Spec.Restream, 2)
	for _, d := range grown.Spec.Restream {
		assert.NotContains(t, d, first.Key)
		assert.NotContains(t, d, second.Key)
	}
	second.WaitAudio(t, 2*time.Second, 20*time.Second)
	running, err := s.egress.List(ctx, egress.ListOptions{Room: "radio-jam", Active: true})
	require.NoError(t, err)
	require.Len(t, running, 1, "one restream carries both platforms")

	ada.Disconnect()
	require.Eventually(t, func() bool {
		rs, err := s.rooms.List(ctx, "radio-jam")
		return err == nil && len(rs) == 0
	}, 20*time.Second, 100*time.Millisecond, "the quiet show closes itself, with bob still listening")
	rep, err := svc.Close(ctx, "radio-jam")
	require.NoError(t, err, "closing a closed show is fine")
	require.Len(t, rep.Parts, 1)
	assert.Equal(t, "restream", rep.Parts[0].Kind)
	ins, err := s.ingress.List(ctx, ingress.ListOptions{Room: "radio-jam"})
	require.NoError(t, err)
	assert.Empty(t, ins)
}

// OBS drops for 5 s and comes back: the show goes on, and its recording has
// two parts, in order, each holding the audio of one push: together they hold
// what was pushed, only the gap is missing.
func TestOBSComingBackRecordsASecondPart(t *testing.T) {
	s := newStage(t, withOBS)
	ctx := testenv.Within(t, 90*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	show, err := svc.Open(ctx, shows.Spec{Name: "flaky-wifi",
		Ingest: shows.Ingest{Kind: shows.RTMP, AudioOnly: true}, Record: []string{"audio"}})
	require.NoError(t, err)
	const push, gap = 5 * time.Second, 5 * time.Second
	var live, quiet [2]time.Time
	for i := range 2 {
		testenv.PushRTMP(t, show.Ingest.PublishURL, push, true)
		_, live[i] = s.nth(t, i+1, events.TrackPublished, "flaky-wifi", shows.DefaultIngestIdentity, 30*time.Second)
		s.nth(t, i+1, events.RecordingStarted, "flaky-wifi", "", 30*time.Second)
		_, quiet[i] = s.nth(t, i+1, events.TrackUnpublished, "flaky-wifi", shows.DefaultIngestIdentity, 30*time.Second)
		s.nth(t, i+1, events.RecordingEnded, "flaky-wifi", "", 15*time.Second)
		if i == 0 {
			mid, err := svc.Get(ctx, "flaky-wifi")
			require.NoError(t, err)
			assert.Equal(t, shows.Armed, mid.Phase, "OBS is gone; the show waits for it")
			time.Sleep(time.Until(quiet[0].Add(gap))) // the encoder reconnects 5 s later
		}
	}
	rep, err := svc.Close(ctx, "flaky-wifi")
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	require.Len(t, rep.Parts, 2, "%+v", rep.Parts)
	assert.True(t, rep.Parts[0].StartedAt.Before(rep.Parts[1].StartedAt), "parts in order")
	var heard float64
	var held time.Duration
	for i, p := range rep.Parts {
		assert.Equal(t, egress.Complete, p.Status, p.Error)
		require.Len(t, p.Files, 1)
		ran, onAir := quiet[i].Sub(p.StartedAt), quiet[i].Sub(live[i])
		t.Logf("part %d: %s long, ran %s; LiveKit had the ingest's track for %s of the %s push", i+1, p.Files[0].Duration, ran, onAir, push)
		assert.InDelta(t, ran.Seconds(), p.Files[0].Duration.Seconds(), 1.0, "part %d holds its push", i+1)
		// Ours to keep: everything LiveKit carried. (Webhooks arrive a little
		// late at both ends, hence the slack.)
		assert.GreaterOrEqual(t, p.Files[0].Duration, onAir-300*time.Millisecond, "part %d holds all the audio LiveKit had", i+1)
		heard += probedSeconds(t, p.Files[0].URL)
		held += p.Files[0].Duration
	}
	t.Logf("ffprobe: the parts hold %.2f s of the %s pushed: %.2f s missed (%s by the report)", heard, 2*push, (2*push).Seconds()-heard, held)
	// Two push starts share one second: Ingress hands LiveKit what it buffered
	// while it admitted the stream (a part runs longer than its track was
	// live), so what a start loses is what Ingress drops, 0.1–0.3 s here.
	assert.GreaterOrEqual(t, held, 2*push-time.Second, "together the parts hold the audio pushed: no more than the gap is lost")
	assert.GreaterOrEqual(t, heard, (2*push - time.Second).Seconds(), "together the parts hold the audio pushed (ffprobe)")
}

// probedSeconds is how long the audio at url plays, by ffprobe.
func probedSeconds(t *testing.T, url string) float64 {
	t.Helper()
	require.NotEmpty(t, url)
	out, err := exec.Command(testenv.Binary(t, "ffprobe", "ffmpeg"), "-v", "error", "-select_streams", "a:0",
		"-show_entries", "format=duration", "-of", "csv=p=0", url).CombinedOutput()
	require.NoError(t, err, "ffprobe: %s", out)
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	require.NoError(t, err, "ffprobe: %q", out)
	return d
}

// download is the object at url in a local file.
func download(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	name := filepath.Join(t.TempDir(), path.Base(resp.Request.URL.Path))
	out, err := os.Create(name)
	require.NoError(t, err)
	_, err = io.Copy(out, resp.Body)
	require.NoError(t, out.Close())
	require.NoError(t, err, "the whole file downloads")
	return name
}

// A show is closed while its recorder still uploads Ada's part (the bucket
// holds the upload until the test lets it go): meanwhile the show is ending,
// on the dashboard closing it and on another, and opening it again is refused
// as closing; once the upload is through, the show is closed.
func TestAShowBeingClosedIsEndingAndCannotBeOpened(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 60*time.Second)
	upload := testenv.NewHeld(nil, true, func(r *http.Request) bool { return r.Method == http.MethodPut })
	t.Cleanup(upload.Let)
	svc := s.serviceUploadingVia(t, upload)
	s.background(t, svc.Run)
	spec := shows.Spec{Name: "ada-late", Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}}, Record: []string{"audio"}}
	show, err := svc.Open(ctx, spec)
	require.NoError(t, err)
	ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	t.Cleanup(ada.Disconnect)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	s.when(t, events.RecordingStarted, "ada-late", "", 15*time.Second)

	// Only the upload Close asks for is held, not any the recorder made before.
	upload.Hold()
	closed := make(chan error, 1)
	go func() { _, err := svc.Close(ctx, "ada-late"); closed <- err }()
	select {
	case <-upload.Arrived():
	case err := <-closed:
		t.Fatalf("Close returned before uploading Ada's part: %v", err)
	case <-ctx.Done():
		t.Fatal("the recorder never uploaded Ada's part")
	}
	mid, err := svc.Get(ctx, "ada-late")
	require.NoError(t, err)
	assert.Equal(t, shows.Ending, mid.Phase, "the closing dashboard sees its show ending")
	other := s.service(t) // another dashboard, knowing only the room's metadata
	theirs, err := other.Get(ctx, "ada-late")
	require.NoError(t, err)
	assert.Equal(t, shows.Ending, theirs.Phase, "another dashboard sees the show ending")
	_, err = other.Open(ctx, spec)
	assert.ErrorIs(t, err, shows.ErrClosing, "opening a show being closed is refused")

	upload.Let()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("Close did not return once the upload went through")
	}
	after, err := svc.Get(ctx, "ada-late")
	require.NoError(t, err)
	assert.Equal(t, shows.Closed, after.Phase)
}

// Ada plays while the Watch lists LiveKit every second. LiveKit's lists never
// have the show's own recorder (it is no egress), yet the resyncs leave its
// recording alone: through three of them the model has it running, no resync
// ends it, and closing the show reports Ada's part, complete.
func TestResyncsLeaveTheShowsOwnRecordingAlone(t *testing.T) {
	s := newStage(t, withEgress, time.Second)
	ctx := testenv.Within(t, 60*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	show, err := svc.Open(ctx, shows.Spec{Name: "ada-resync", Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}},
		Record: []string{"audio"}})
	require.NoError(t, err)
	ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	t.Cleanup(ada.Disconnect)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	started, _ := s.when(t, events.RecordingStarted, "ada-resync", "", 15*time.Second)
	require.NotNil(t, started.Recording)
	id := started.Recording.ID
	require.True(t, strings.HasPrefix(id, capture.IDPrefix), "the show's own recorder records: %s", id)

	// After each of three resyncs (each completing after the recording began),
	// the recording is still running in the model.
	last := s.watch.Snapshot().Resynced
	for n := 1; n <= 3; n++ {
		var snap *events.Snapshot
		require.Eventually(t, func() bool {
			snap = s.watch.Snapshot()
			return snap.Resynced.After(last)
		}, 10*time.Second, 20*time.Millisecond, "resync %d", n)
		last = snap.Resynced
		r, ok := snap.Recordings[id]
		require.True(t, ok, "after resync %d the model still has %s", n, id)
		assert.True(t, r.Active(), "after resync %d %s is still running", n, id)
	}
	s.seen.mu.Lock()
	for _, e := range s.seen.evs {
		assert.False(t, e.Kind == events.RecordingEnded && e.Recording != nil && e.Recording.ID == id, "a resync ended %s: %+v", id, e)
	}
	s.seen.mu.Unlock()

	rep, err := svc.Close(ctx, "ada-resync")
	require.NoError(t, err)
	require.Len(t, rep.Parts, 1, "%+v", rep.Parts)
	assert.Equal(t, egress.Complete, rep.Parts[0].Status, rep.Parts[0].Error)
	require.Len(t, rep.Parts[0].Files, 1)
	t.Logf("Ada's part: %s, %s long", rep.Parts[0].Files[0].Key, rep.Parts[0].Files[0].Duration)
	assert.Greater(t, rep.Parts[0].Files[0].Duration, 2*time.Second, "the part holds the three resyncs' worth of Ada")
}

// A show armed with stems and HLS, end to end: Ada publishes her tone, the show
// starts her stem and an HLS stream once she is heard, she plays, and the show
// is closed. The report lists both parts complete; her stem decodes to her
// tone, and the HLS playlist lists segments that are in the bucket and play it.
func TestAShowArmedWithStemsAndHLSRecordsBoth(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 150*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	show, err := svc.Open(ctx, shows.Spec{Name: "ada-stems", Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}},
		Record: []string{shows.RecordStems, shows.RecordHLS}})
	require.NoError(t, err)
	ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	t.Cleanup(ada.Disconnect)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 60*time.Second))
	require.NoError(t, err)

	// The show starts both parts; each is egress's, which writes once active.
	started := map[string]string{}
	require.Eventually(t, func() bool {
		for _, st := range svc.Starts() {
			if st.Show == "ada-stems" {
				started[st.Kind] = st.ID
			}
		}
		return started[shows.RecordStems] != "" && started[shows.RecordHLS] != ""
	}, 60*time.Second, 50*time.Millisecond, "the show starts a stem and HLS: %v", started)
	for kind, id := range started {
		e, err := s.egress.WaitFor(ctx, id, egress.Active)
		require.NoError(t, err)
		require.Equal(t, egress.Active, e.Status, "%s %s: %s", kind, id, e.Error)
	}
	time.Sleep(5 * time.Second) // Ada plays on: a little more than one 4 s HLS segment

	rep, err := svc.Close(ctx, "ada-stems")
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	byKind := map[string]shows.Part{}
	for _, p := range rep.Parts {
		byKind[p.Kind] = p
	}
	require.Len(t, rep.Parts, 2, "%+v", rep.Parts)

	stem, ok := byKind["stem"]
	require.True(t, ok, "the report lists Ada's stem: %+v", rep.Parts)
	assert.Equal(t, egress.Complete, stem.Status, stem.Error)
	require.Len(t, stem.Files, 1)
	assert.Contains(t, stem.Files[0].Key, "ada", "the stem is named after Ada")
	file := download(t, stem.Files[0].URL)
	played, share := probedSeconds(t, file), testenv.ToneShare(t, file, 440)
	t.Logf("stem %s: plays %.2f s (the report says %s); 440 Hz is %.1f dB of its sound", stem.Files[0].Key, played, stem.Files[0].Duration, share)
	assert.Greater(t, played, 3.0, "the stem holds Ada's playing")
	assert.Greater(t, share, -1.0, "the stem is Ada's tone")

	hls, ok := byKind["hls"]
	require.True(t, ok, "the report lists the HLS stream: %+v", rep.Parts)
	assert.Equal(t, egress.Complete, hls.Status, hls.Error)
	require.Len(t, hls.Files, 1)
	playlist := hls.Files[0]
	require.True(t, strings.HasSuffix(playlist.Key, ".m3u8"), playlist.Key)
	body, err := os.ReadFile(download(t, playlist.URL))
	require.NoError(t, err)
	var segments []string
	for _, line := range strings.Split(string(body), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			segments = append(segments, line)
		}
	}
	t.Logf("playlist %s (%s): %d segments %v", playlist.Key, playlist.Duration, len(segments), segments)
	require.NotEmpty(t, segments, "the playlist lists segments:\n%s", body)
	// A player plays the segments one after the other: MPEG-TS concatenates.
	stream := filepath.Join(t.TempDir(), "stream.ts")
	var all []byte
	for i, seg := range segments {
		u, err := s.store.DownloadURL(ctx, path.Join(path.Dir(playlist.Key), seg), 0)
		require.NoError(t, err, "segment %s is in the bucket", seg)
		f := download(t, u)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NotEmpty(t, b, "segment %s", seg)
		all = append(all, b...)
		segShare := testenv.ToneShare(t, f, 440)
		t.Logf("segment %s: plays %.2f s; 440 Hz is %.1f dB of its sound", seg, probedSeconds(t, f), segShare)
		// The last segment, cut at the stop, is left out: in runs it held
		// silence (1.3 s at -Inf dB) though Ada still played.
		if i < len(segments)-1 {
			assert.Greater(t, segShare, -1.0, "segment %s is Ada's tone", seg)
		}
	}
	require.NoError(t, os.WriteFile(stream, all, 0o600))
	heard, share := probedSeconds(t, stream), testenv.ToneShare(t, stream, 440)
	t.Logf("the stream plays %.2f s; 440 Hz is %.1f dB of its sound", heard, share)
	assert.Greater(t, heard, 3.0, "the stream holds Ada's playing")
	assert.Greater(t, share, -1.0, "the stream is Ada's tone")
}
