package shows

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// The controller's decisions, one reconcile each, on fakes: what it starts,
// stops, arms and closes for a show in a given state. The real stack's
// stories (shows_test.go) hold the same decisions end to end.
func TestTheControllersDecisions(t *testing.T) {
	ada := performer("ada", events.Performer, "audio")
	adaOnCamera := performer("ada", events.Performer, "audio", "video")
	obs := performer(DefaultIngestIdentity, events.Ingest, "audio")
	browser := Spec{Name: "ada-live", Performers: []Performer{{Identity: "ada"}}, Record: []string{RecordAudio}}
	withOBS := Spec{Name: "friday-jam", Ingest: Ingest{Kind: RTMP}, Record: []string{RecordAudio}}
	quiet := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		story    string
		spec     Spec
		closing  bool // the sealed spec says so (another replica's Close)
		here     bool // this Service's Close is under way
		capture  bool // the show's own recorder has its audio
		dests    []string
		prior    func(a *armed)  // what the controller knew; nil: it learns the show
		listed   []egress.Egress // what LiveKit lists running when the show is learned
		ended    []string        // recordings the model saw end
		fail     string          // the kind egress refuses to start
		tamper   bool            // the metadata LiveKit has now is forged
		stage    []events.Participant
		starts   []string
		stops    []string
		arms     []string // the recorder's sources
		settles  int
		closes   bool
		failed   bool // the show comes back after its backoff
		due      bool // the show comes back at a time (EndAfter, a part's spacing)
		reported bool // tampering reported
	}{
		{story: "a show with no plan records nothing", spec: Spec{Name: "open-mic", Performers: []Performer{{Identity: "ada"}}}, stage: []events.Participant{ada}},
		{story: "arm: nothing starts before the music", spec: browser},
		{story: "record: Ada's first audio starts the plan from her", spec: browser, stage: []events.Participant{ada}, starts: []string{"audio<-ada"}},
		{story: "a performer warming up before the ingest starts nothing", spec: withOBS, stage: []events.Participant{ada}},
		{story: "the ingest live: the plan records it", spec: withOBS, stage: []events.Participant{ada, obs}, starts: []string{"audio<-" + DefaultIngestIdentity}},
		{story: "video waits for the source's video track", spec: Spec{Name: "cam", Performers: []Performer{{Identity: "ada"}}, Record: []string{RecordVideo}},
			stage: []events.Participant{ada}},
		{story: "video starts with the source's video track", spec: Spec{Name: "cam", Performers: []Performer{{Identity: "ada"}}, Record: []string{RecordVideo}},
			stage: []events.Participant{adaOnCamera}, starts: []string{"video<-ada"}},
		{story: "a restream whose destinations this process was not told waits", spec: Spec{Name: "radio", Performers: []Performer{{Identity: "ada"}}, Restream: []string{"rtmp://a.example/x/KEY"}},
			stage: []events.Participant{ada}},
		{story: "a restream to the destinations Open gave", spec: Spec{Name: "radio", Performers: []Performer{{Identity: "ada"}}, Restream: []string{"rtmp://a.example/x/KEY"}},
			dests: []string{"rtmp://a.example/x/KEY"}, stage: []events.Participant{ada}, starts: []string{"restream<-ada to rtmp://a.example/x/KEY"}},
		{story: "stems and HLS start together", spec: Spec{Name: "stems", Performers: []Performer{{Identity: "ada"}}, Record: []string{RecordStems, RecordHLS}},
			stage: []events.Participant{ada}, starts: []string{"stems<-all", "hls<-ada"}},
		{story: "stems already recording these tracks are not started again", spec: Spec{Name: "stems", Performers: []Performer{{Identity: "ada"}}, Record: []string{RecordStems}},
			prior: func(a *armed) { a.wasLive, a.stems, a.running["stem/EG_S"] = true, "TR_ada_audio", "EG_S" }, stage: []events.Participant{ada}},
		{story: "a running part is not started twice", spec: browser, prior: func(a *armed) { a.wasLive, a.running[RecordAudio] = true, "EG_A" },
			stage: []events.Participant{ada}},
		{story: "a restarted process finds the running part in LiveKit", spec: browser, stage: []events.Participant{ada},
			listed: []egress.Egress{{ID: "EG_A", Kind: RecordAudio, Status: egress.Active}}},
		{story: "a part the model saw end is started again", spec: browser, prior: func(a *armed) { a.wasLive, a.running[RecordAudio] = true, "EG_A" },
			ended: []string{"EG_A"}, stage: []events.Participant{ada}, starts: []string{"audio<-ada"}},
		{story: "a part that ended at once waits its spacing", spec: browser, prior: func(a *armed) { a.wasLive, a.tried[RecordAudio] = true, time.Now() },
			stage: []events.Participant{ada}, due: true},
		{story: "the music stops: its parts stop, and the show waits", spec: browser, prior: func(a *armed) { a.wasLive, a.running[RecordAudio] = true, "EG_A" },
			stops: []string{"EG_A"}},
		{story: "a new part on reconnect", spec: withOBS, prior: func(a *armed) { a.wasLive, a.quiet = true, quiet },
			stage: []events.Participant{obs}, starts: []string{"audio<-" + DefaultIngestIdentity}},
		{story: "end after: quiet for less than EndAfter, the show comes back when due",
			spec:  Spec{Name: "radio", Performers: []Performer{{Identity: "ada"}}, EndAfter: time.Minute},
			prior: func(a *armed) { a.wasLive, a.running["restream"] = true, "EG_R" }, stops: []string{"EG_R"}, due: true},
		{story: "end after: quiet for EndAfter, the show is closed", spec: Spec{Name: "radio", Performers: []Performer{{Identity: "ada"}}, EndAfter: time.Minute},
			prior: func(a *armed) { a.wasLive, a.quiet = true, quiet }, closes: true},
		{story: "close: a show this Service is closing starts nothing", spec: browser, here: true, stage: []events.Participant{ada}},
		{story: "close: a show another replica is closing starts nothing", spec: browser, closing: true, stage: []events.Participant{ada}},
		{story: "close: a Close since the show was learned is read before starting", spec: browser, prior: func(a *armed) {},
			closing: true, stage: []events.Participant{ada}},
		{story: "a forged spec is reported and not obeyed", spec: browser, prior: func(a *armed) {}, tamper: true, stage: []events.Participant{ada},
			starts: []string{"audio<-ada"}, reported: true},
		{story: "a start egress refuses comes back after the backoff", spec: browser, fail: RecordAudio, stage: []events.Participant{ada}, failed: true},
		{story: "the recorder is armed before the music, from the ingest", spec: withOBS, capture: true,
			arms: []string{DefaultIngestIdentity}, settles: 1},
		{story: "the recorder has the audio: egress records the rest", spec: Spec{Name: "both", Performers: []Performer{{Identity: "ada"}}, Record: []string{RecordAudio, RecordHLS}},
			capture: true, stage: []events.Participant{ada}, arms: []string{""}, starts: []string{"hls<-ada"}},
	} {
		t.Run(c.story, func(t *testing.T) {
			r := newRig(c.capture)
			md := r.open(c.spec, c.closing && c.prior == nil)
			r.book.dests[c.spec.Name] = c.dests
			r.book.closing[c.spec.Name] = c.here
			r.model.stage(c.spec.Name, events.ParticipantJoined, c.stage...)
			if c.fail != "" {
				r.eg.fail[c.fail] = errEgressBusy
			}
			r.eg.active = c.listed
			if c.prior != nil {
				env, err := decode("test", c.spec.Name, md)
				require.NoError(t, err)
				a := &armed{sid: "RM_" + c.spec.Name, show: true, env: env, checked: r.model.Snapshot().Rooms[c.spec.Name].Metadata,
					running: map[string]string{}, tried: map[string]time.Time{}}
				c.prior(a)
				r.c.keep(c.spec.Name, a)
				if c.closing {
					closed, err := c.spec.normal()
					require.NoError(t, err)
					r.rooms.set(c.spec.Name, encode(closed, true))
				}
			}
			if c.tamper {
				r.rooms.set(c.spec.Name, `{"TAMPERED":true}`)
				r.model.mu.Lock()
				r.model.snap.Rooms[c.spec.Name].Metadata = `{"TAMPERED":true}`
				r.model.mu.Unlock()
			}
			for _, id := range c.ended {
				r.c.ended.add(id)
			}

			r.c.queue.Add(c.spec.Name)
			require.True(t, r.c.work(context.Background()))
			r.c.closes.Wait()

			assert.Equal(t, c.failed, r.c.queue.Failures(c.spec.Name) > 0, "failed")
			starts, stops := r.eg.calls()
			assert.Equal(t, c.starts, starts, "started")
			assert.Equal(t, c.stops, stops, "stopped")
			if c.capture {
				assert.Equal(t, c.arms, r.rec.arms, "the recorder armed")
				assert.Equal(t, c.settles, r.rec.settles, "the recorder settled")
			}
			assert.Equal(t, c.closes, len(r.book.closes()) == 1, "closed: %v", r.book.closes())
			_, due := r.c.queue.Due(c.spec.Name)
			assert.Equal(t, c.due || c.failed, due, "comes back at a time")
			assert.Equal(t, c.reported, len(r.book.reported) > 0, "tampering reported")
			assert.Len(t, r.book.starts, len(c.starts), "Starts has each part started")
			r.c.queue.Stop()
		})
	}
}

// The controller keeps a show only while the model has its room: once the
// room closed, the show is forgotten, and a room that is no show is left alone.
func TestTheControllerForgetsAClosedShow(t *testing.T) {
	r := newRig(false)
	r.open(Spec{Name: "ada-live", Performers: []Performer{{Identity: "ada"}}, Record: []string{RecordAudio}}, false)
	r.rooms.set("their-room", `{"setlist":["intro"]}`)
	r.model.stage("their-room", events.RoomOpened, performer("ada", events.Performer, "audio"))
	ctx := context.Background()
	require.NoError(t, r.c.reconcile(ctx, "ada-live", time.Now()))
	require.NoError(t, r.c.reconcile(ctx, "their-room", time.Now()))
	starts, _ := r.eg.calls()
	assert.Empty(t, starts, "their room is no show")
	require.NotNil(t, r.c.state("ada-live"))

	r.model.mu.Lock()
	delete(r.model.snap.Rooms, "ada-live")
	r.model.mu.Unlock()
	require.NoError(t, r.c.reconcile(ctx, "ada-live", time.Now()))
	assert.Nil(t, r.c.state("ada-live"), "the show is gone")
	assert.Equal(t, []string{"ada-live"}, r.book.forgot)

	r.rooms.err = errEgressBusy
	r.model.stage("late-set", events.RoomOpened)
	assert.ErrorIs(t, r.c.reconcile(ctx, "late-set", time.Now()), errUnanswered, "LiveKit did not answer: tried again")
}

// Ada plays on a show with no restream. The operator adds a platform: Open
// writes the new spec and tells the controller. LiveKit applies metadata
// asynchronously, so ListRooms still answers the old spec: the controller
// starts the restream from the spec Open wrote, not from that read.
func TestARestreamAddedToALiveShowStartsBeforeLiveKitListsIt(t *testing.T) {
	r := newRig(false)
	radio := Spec{Name: "radio-jam", Performers: []Performer{{Identity: "ada"}}}
	r.open(radio, false)
	r.model.stage("radio-jam", events.ParticipantJoined, performer("ada", events.Performer, "audio"))
	r.c.mu.Lock()
	r.c.running = true
	r.c.mu.Unlock()
	ctx := context.Background()
	require.NoError(t, r.c.reconcile(ctx, "radio-jam", time.Now()))
	starts, _ := r.eg.calls()
	assert.Empty(t, starts, "no plan yet")

	radio.Restream = []string{"rtmp://a.example/x/KEY"}
	n, err := radio.normal()
	require.NoError(t, err)
	env, err := decode("test", "radio-jam", encode(n, false))
	require.NoError(t, err)
	r.book.dests["radio-jam"] = radio.Restream
	r.c.changed("radio-jam", env) // LiveKit's ListRooms still has the old spec
	require.True(t, r.c.work(ctx))
	starts, _ = r.eg.calls()
	assert.Equal(t, []string{"restream<-ada to rtmp://a.example/x/KEY"}, starts)
	r.c.queue.Stop()
}

// A show's night on fakes, through Run's loop (the model's events, the queue,
// the workers): Ada plays and is recorded, drops and the part stops, comes
// back and a new part starts, leaves for good, and once the show has been
// quiet for its EndAfter it is closed. A second reconcile never starts a part
// twice.
func TestAShowsNightThroughTheQueue(t *testing.T) {
	r := newRig(false)
	var ahead atomic.Int64 // how far the controller's clock is ahead
	r.c.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	r.open(Spec{Name: "ada-live", Performers: []Performer{{Identity: "ada"}}, Record: []string{RecordAudio}, EndAfter: time.Minute}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.c.run(ctx) }()
	calls := func(starts, stops int) func() bool {
		return func() bool { s, p := r.eg.calls(); return len(s) == starts && len(p) == stops }
	}
	ada := performer("ada", events.Performer, "audio")

	r.model.stage("ada-live", events.TrackPublished, ada)
	require.Eventually(t, calls(1, 0), time.Second, 5*time.Millisecond, "Ada's audio starts the recording")
	r.model.stage("ada-live", events.ParticipantJoined, ada, performer("bob", events.Listener))
	r.model.stage("ada-live", events.ParticipantLeft)
	require.Eventually(t, calls(1, 1), time.Second, 5*time.Millisecond, "the music stopped: the part stops")
	ahead.Store(int64(retryAfter)) // a part is not started again sooner
	r.model.stage("ada-live", events.TrackPublished, ada)
	require.Eventually(t, calls(2, 1), time.Second, 5*time.Millisecond, "Ada is back: a new part")
	r.model.stage("ada-live", events.ParticipantLeft)
	require.Eventually(t, calls(2, 2), time.Second, 5*time.Millisecond)
	assert.Empty(t, r.book.closes(), "not before EndAfter")
	ahead.Store(int64(retryAfter + time.Minute))
	r.model.stage("ada-live", events.ParticipantJoined, performer("bob", events.Listener))
	require.Eventually(t, func() bool { return len(r.book.closes()) == 1 }, time.Second, 5*time.Millisecond, "the quiet show is closed")

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	starts, _ := r.eg.calls()
	assert.Equal(t, []string{"audio<-ada", "audio<-ada"}, starts)
	assert.Len(t, r.book.starts, 2)
}
