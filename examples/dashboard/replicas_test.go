package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// replica is one whole dashboard process (run), as a deployment runs it:
// its own address, LiveKit's Redis as the shared event log.
type replica struct {
	url  string
	stop func()
}

// startReplica runs a dashboard on addr (a free port when empty) beside env,
// sharing env's Redis, and waits until its model has listed LiveKit.
func startReplica(t *testing.T, env *testenv.Env, addr string) *replica {
	t.Helper()
	if addr == "" {
		addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	vars := map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
		"DASHBOARD_ADDR": addr, "DASHBOARD_ADMIN_GROUP": adminGroup, "REDIS_URL": "redis://" + env.RedisAddr,
		"DASHBOARD_API_KEYS": testAPIKey + ":admin," + testOperatorKey + ":operator," + testViewerKey + ":viewer"}
	logs := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- dashboard on %s ----\n%s", addr, logs.String())
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dashboard"}, func(k string) string { return vars[k] }, logs) }()
	waitUp(t, addr, done)
	r := &replica{url: "http://" + addr}
	r.stop = sync.OnceFunc(func() {
		cancel()
		assert.NoError(t, <-done, "the replica on %s stopped", addr)
	})
	t.Cleanup(r.stop)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, body := r.get(c, "", "/api/health")
		h := decodeAs[healthResponse](c, body)
		assert.True(c, h.Model != nil && h.Model.Synced)
	}, 15*time.Second, 50*time.Millisecond, "the replica on %s never listed LiveKit", addr)
	return r
}

func (r *replica) addr() string { return r.url[len("http://"):] }

// do calls the replica with key (none when empty).
func (r *replica) do(t require.TestingT, key, method, path, body string) (int, []byte) {
	helper(t)
	req, err := http.NewRequest(method, r.url+path, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp.StatusCode, mustRead(t, resp)
}

func (r *replica) get(t require.TestingT, key, path string) (int, []byte) {
	helper(t)
	return r.do(t, key, "GET", path, "")
}

// accepted is how many of LiveKit's webhooks this replica took, by its metrics.
func (r *replica) accepted(t require.TestingT) int {
	helper(t)
	_, body := r.get(t, "", "/metrics")
	m := regexp.MustCompile(`(?m)^dashboard_webhooks_total\{result="accepted"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return n
}

// balancer is the load balancer in front of the replicas: LiveKit posts each
// webhook to one URL, and the balancer hands it to one replica, in turn.
type balancer struct {
	srv *httptest.Server
	mu  sync.Mutex
	to  []*replica
	n   int
}

func newBalancer(t *testing.T) *balancer {
	b := &balancer{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		if len(b.to) == 0 {
			b.mu.Unlock()
			http.Error(w, "no replica", http.StatusServiceUnavailable) // LiveKit retries
			return
		}
		to := b.to[b.n%len(b.to)]
		b.n++
		b.mu.Unlock()
		req, err := http.NewRequestWithContext(r.Context(), r.Method, to.url+r.URL.Path, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, "replica unreachable", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *balancer) option() testenv.Option {
	return testenv.WithWebhook(b.srv.URL + "/api/webhooks/livekit")
}

// serve puts exactly these replicas behind the balancer.
func (b *balancer) serve(rs ...*replica) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.to = rs
}

// Two dashboard replicas share LiveKit's Redis behind one webhook URL. Each
// takes some of LiveKit's webhooks, yet the pages open on both see one story:
// the same events, with the same ids, in the same order. One replica restarts
// while the show goes on; its page reconnects with the last id it saw and gets
// exactly what happened meanwhile, nothing twice, and the restarted replica
// still tells the room's story from before the restart.
func TestReplicasTellOneStoryThroughARestart(t *testing.T) {
	testenv.RequireNetNS(t)
	lb := newBalancer(t)
	env := testenv.LiveKit(t, testenv.WithRedis(), lb.option())
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	join := func(token func(room, identity string, opts ...tokens.Option) (tokens.Token, error), who string) func() {
		tok, err := token("stage", who)
		require.NoError(t, err)
		return env.Join(t, tok.JWT, nil).Disconnect
	}

	a, b := startReplica(t, env, ""), startReplica(t, env, "")
	lb.serve(a, b)
	onA := openStream(t, a.url+"/api/events", testViewerKey, "")
	onB := openStream(t, b.url+"/api/events", testViewerKey, "")
	bothSee := func(what string, kind events.Kind, who string, streams ...*sse) {
		t.Helper()
		for _, s := range streams {
			require.Eventually(t, func() bool { return s.has(kind, "stage", who) }, 10*time.Second, 20*time.Millisecond,
				"%s: got %v", what, storyOf(s.all()))
		}
	}

	// The show begins: the stage opens, ada comes on.
	status, body := a.do(t, testOperatorKey, "POST", "/api/rooms", `{"name":"stage"}`)
	require.Equal(t, 201, status, string(body))
	adaLeaves := join(issuer.Performer, "ada")
	bothSee("ada joined", events.ParticipantJoined, "ada", onA, onB)
	for name, r := range map[string]*replica{"a": a, "b": b} {
		assert.EventuallyWithT(t, func(c *assert.CollectT) { assert.Positive(c, r.accepted(c)) }, 2*time.Second, 20*time.Millisecond, "%s took some of LiveKit's webhooks", name)
	}

	// b goes away for a restart (the balancer takes it out first); the show
	// goes on without it: bob comes to listen.
	lb.serve(a)
	b.stop()
	seen := onB.lastID()
	require.NotEmpty(t, seen)
	join(issuer.Listener, "bob")
	bothSee("bob joined, while b was away", events.ParticipantJoined, "bob", onA)

	// b is back, on the same address and Redis; its page reconnects as an
	// EventSource does, with the last id it saw.
	b = startReplica(t, env, b.addr())
	lb.serve(a, b)
	again := openStream(t, b.url+"/api/events", testViewerKey, seen)
	adaLeaves()
	bothSee("ada left", events.ParticipantLeft, "ada", onA, again)
	status, body = b.do(t, testAPIKey, "DELETE", "/api/rooms/stage", "")
	require.Equal(t, 204, status, string(body))
	bothSee("the stage closed", events.RoomClosed, "", onA, again)
	// LiveKit shows bob out with the stage, sometimes after it tells the stage
	// closed: the story ends when both pages have that too.
	bothSee("bob shown out", events.ParticipantLeft, "bob", onA, again)

	// One story: what b's page saw before and after the restart is what a's
	// page saw, id for id.
	story := func() []string { return storyOf(onA.all()) }
	onBoth := func() []string { return append(storyOf(onB.all()), storyOf(again.all())...) }
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual(story(), onBoth()) }, 5*time.Second, 20*time.Millisecond,
		"b's page, before and after the restart, against a's:\nb: %v\na: %v", onBoth(), story())
	t.Logf("the story on both replicas: %v", story())
	var last uint64
	for _, e := range append(onB.all(), again.all()...) {
		assert.Greater(t, e.Revision, last, "each id once, in order: %v", onBoth())
		last = e.Revision
	}
	for _, e := range onA.all() {
		assert.False(t, e.Resync, "webhooks told it all: %v", story())
	}

	// The restarted replica tells the stage's story from its first event,
	// from before the restart too.
	status, body = b.get(t, testViewerKey, "/api/rooms/stage/timeline")
	require.Equal(t, 200, status, string(body))
	assert.Equal(t, story(), storyOf(decodeAs[live.TimelinePage](t, body).Events), "the stage's timeline on the restarted replica")
}

// LiveKit's webhooks are lost for a while (a proxy answers them and hands
// nothing on): a room opens and a performer comes and goes without a word to
// the dashboard. Its resync lists LiveKit every period and tells the page what
// it missed within one period, each correction marked as found by resync and
// counted in /metrics; the model and /api/health agree with the stream.
func TestResyncTellsWhatLostWebhooksDidNot(t *testing.T) {
	testenv.RequireNetNS(t)
	const period = 2 * time.Second
	// One period to notice, and the list itself (a loaded 2-core machine).
	within := period + 2*time.Second
	hook := newHookFront(t)
	st := newStageWith(t, testenv.LiveKit(t, testenv.WithRedis(), hook.option()), egress.Storage{}, func(s *config.Settings) { s.Resync = period })
	hook.to(st)
	stream := openStream(t, st.srv.URL+"/api/events", testViewerKey, "")
	join := func(room, who string) func() {
		tok, err := st.sm.Tokens.Performer(room, who)
		require.NoError(t, err)
		return st.env.Join(t, tok.JWT, nil).Disconnect
	}
	// see waits for an event until by: one period (and a list) after what it
	// tells happened.
	see := func(what string, by time.Time, kind events.Kind, room, who string) events.Event {
		t.Helper()
		var got events.Event
		require.Eventually(t, func() bool {
			for _, e := range stream.all() {
				if e.Kind == kind && e.Room == room && (who == "" || (e.Participant != nil && e.Participant.Identity == who)) {
					got = e
					return true
				}
			}
			return false
		}, time.Until(by), 20*time.Millisecond, "%s: got %v", what, storyOf(stream.all()))
		return got
	}

	// While webhooks arrive, they tell the story.
	status, body := st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"foyer"}`)
	require.Equal(t, 201, status, string(body))
	see("the foyer opened", time.Now().Add(within), events.RoomOpened, "foyer", "")
	// The stream tells the dashboard's own write at once; the webhook that
	// follows must arrive before they are lost.
	require.Eventually(t, func() bool { return !st.live.LastWebhook().IsZero() }, 10*time.Second, 20*time.Millisecond, "the foyer's webhook arrived")

	// From now on every webhook is lost. Ada joins the back stage, which her
	// join opens (LiveKit creates a room on its first join).
	hook.lose.Store(true)
	lost := time.Now()
	adaLeaves := join("back-stage", "ada")
	by := time.Now().Add(within)
	opened := see("the lost room_started, found by resync", by, events.RoomOpened, "back-stage", "")
	joined := see("ada's lost join, found by resync", by, events.ParticipantJoined, "back-stage", "ada")
	assert.True(t, opened.Resync, "marked as found by resync: %v", opened)
	assert.True(t, joined.Resync, "marked as found by resync: %v", joined)
	require.Eventually(t, func() bool {
		s := st.live.Snapshot()
		return s.Rooms["foyer"] != nil && s.Rooms["back-stage"] != nil && s.Rooms["back-stage"].Participants["ada"].Identity == "ada"
	}, time.Second, 20*time.Millisecond, "the model has the room and ada")

	adaLeaves()
	left := see("ada's lost leave, found by resync", time.Now().Add(within), events.ParticipantLeft, "back-stage", "ada")
	assert.True(t, left.Resync, "marked as found by resync: %v", left)

	// The model says where it stands: synced lately, at the stream's last id,
	// and no webhook since they were lost.
	status, body = st.as(t, "", "GET", "/api/health", "")
	require.Equal(t, 200, status, string(body))
	h := decodeAs[healthResponse](t, body)
	require.NotNil(t, h.Model)
	assert.True(t, h.Model.Synced)
	assert.Equal(t, stream.lastID(), strconv.FormatUint(h.Model.Revision, 10), "the model is at the stream's last event")
	assert.Less(t, h.Model.LagMS, within.Milliseconds(), "listed LiveKit within the last period")
	require.NotNil(t, h.Model.LastWebhookAgeMS)
	assert.GreaterOrEqual(t, *h.Model.LastWebhookAgeMS, time.Since(lost).Milliseconds()-healthMaxAge.Milliseconds(), "no webhook since they were lost")
	_, has := st.live.Snapshot().Rooms["back-stage"].Participants["ada"]
	assert.False(t, has, "ada is gone from the model")

	// /metrics counts each correction the stream shows, by kind.
	found := map[events.Kind]int{}
	for _, e := range stream.all() {
		if e.Resync {
			found[e.Kind]++
		}
	}
	for _, kind := range []events.Kind{events.RoomOpened, events.ParticipantJoined, events.ParticipantLeft} {
		assert.Positive(t, found[kind], "%s corrected: %v", kind, storyOf(stream.all()))
	}
	status, body = st.as(t, "", "GET", "/metrics", "")
	require.Equal(t, 200, status)
	counted := map[events.Kind]int{}
	for _, m := range regexp.MustCompile(`(?m)^dashboard_resync_corrections_total\{kind="([a-z_]+)"\} (\d+)$`).FindAllSubmatch(body, -1) {
		counted[events.Kind(m[1])], _ = strconv.Atoi(string(m[2]))
	}
	assert.Equal(t, found, counted, "dashboard_resync_corrections_total counts the corrections the stream showed")

	t.Logf("found by resync %s after the webhooks were lost: %v", time.Since(lost).Round(time.Millisecond), storyOf(stream.all()))

	// Webhooks arrive again, and tell the rest.
	hook.lose.Store(false)
	join("back-stage", "bob")
	see("bob joined", time.Now().Add(within), events.ParticipantJoined, "back-stage", "bob")
}

// A webhook held up while replica B restarts arrives after B listed LiveKit
// (so B's model already has what it tells). It is still part of the shared
// timeline: B's resumed page gets it, as A's does.
func TestALateWebhookAcrossARestartReachesEveryPage(t *testing.T) {
	testenv.RequireNetNS(t)
	var mu sync.Mutex
	var to []*replica
	n := 0
	held := make(chan struct{})
	close(held)
	waiting := make(chan struct{}, 64) // a webhook is being held
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := held
		mu.Unlock()
		select {
		case <-h:
		default:
			waiting <- struct{}{}
		}
		select {
		case <-h:
		case <-r.Context().Done():
			return
		}
		mu.Lock()
		x := to[n%len(to)]
		n++
		mu.Unlock()
		req, _ := http.NewRequestWithContext(context.Background(), r.Method, x.url+r.URL.Path, r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, "x", 502)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer srv.Close()
	env := testenv.LiveKit(t, testenv.WithRedis(), testenv.WithWebhook(srv.URL+"/api/webhooks/livekit"))
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	a, b := startReplica(t, env, ""), startReplica(t, env, "")
	mu.Lock()
	to = []*replica{a, b}
	mu.Unlock()
	onA := openStream(t, a.url+"/api/events", testViewerKey, "")
	onB := openStream(t, b.url+"/api/events", testViewerKey, "")
	status, body := a.do(t, testOperatorKey, "POST", "/api/rooms", `{"name":"stage"}`)
	require.Equal(t, 201, status, string(body))
	tok, err := issuer.Performer("stage", "ada")
	require.NoError(t, err)
	ada := env.Join(t, tok.JWT, nil)
	require.Eventually(t, func() bool { return onB.has(events.ParticipantJoined, "stage", "ada") }, 10*time.Second, 20*time.Millisecond)
	mu.Lock()
	to = []*replica{a}
	mu.Unlock()
	b.stop()
	seen := onB.lastID()
	mu.Lock()
	held = make(chan struct{})
	mu.Unlock()
	tok2, err := issuer.Listener("stage", "bob")
	require.NoError(t, err)
	env.Join(t, tok2.JWT, nil)
	select { // bob's webhook is sent, and held
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("LiveKit never sent bob's webhook")
	}
	b = startReplica(t, env, b.addr()) // returns once B has listed LiveKit: bob is in its model
	require.Empty(t, waiting, "nothing else was held")
	mu.Lock()
	to = []*replica{a, b}
	mu.Unlock()
	again := openStream(t, b.url+"/api/events", testViewerKey, seen)
	mu.Lock()
	close(held)
	mu.Unlock()
	require.Eventually(t, func() bool { return onA.has(events.ParticipantJoined, "stage", "bob") }, 10*time.Second, 20*time.Millisecond)
	ada.Disconnect()
	require.Eventually(t, func() bool {
		return onA.has(events.ParticipantLeft, "stage", "ada") && again.has(events.ParticipantLeft, "stage", "ada")
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(time.Second) // anything told twice would arrive by now
	onBoth := append(onB.all(), again.all()...)
	assert.Equal(t, storyOf(onA.all()), storyOf(onBoth), "B's page, before and after the restart, tells A's story")
	_, tl := b.get(t, testViewerKey, "/api/rooms/stage/timeline")
	assert.Equal(t, storyOf(onA.all()), storyOf(decodeAs[live.TimelinePage](t, tl).Events), "and so does B's timeline")
}
