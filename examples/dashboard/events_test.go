package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/livekit/protocol/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// newLiveStage is a stage whose LiveKit sends its webhooks to the dashboard.
func newLiveStage(t *testing.T, tweak func(*config.Settings)) *stage {
	t.Helper()
	hook := newHookFront(t)
	st := newStageWith(t, testenv.LiveKit(t, testenv.WithRedis(), hook.option()), egress.Storage{}, tweak)
	hook.to(st)
	return st
}

// hookFront takes LiveKit's webhooks for a dashboard that does not exist yet:
// LiveKit must know the URL before it starts, the dashboard comes after it.
type hookFront struct {
	srv    *httptest.Server
	target atomic.Value // http.Handler
	// passing is held (shared) while a webhook is handed on: serve waits for
	// those in flight, so none reaches the old target after serve returns
	// (a webhook applied just after the doctor's probe room opened passes
	// for the probe's own).
	passing sync.RWMutex
	// lose makes the front answer 200 and hand nothing on: LiveKit believes
	// the webhook arrived (a proxy that lost it), so it never retries.
	lose atomic.Bool

	mu      sync.Mutex
	holding bool            // keep webhooks back (as a slow network would)
	held    []*http.Request // kept back, in arrival order, bodies read
}

func newHookFront(t testing.TB) *hookFront {
	h := &hookFront{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.lose.Load() {
			return
		}
		h.mu.Lock()
		if h.holding {
			body, _ := io.ReadAll(r.Body)
			late := r.Clone(context.Background())
			late.Body = io.NopCloser(bytes.NewReader(body))
			h.held = append(h.held, late)
			h.mu.Unlock()
			return // LiveKit counts it delivered; it arrives late, on release
		}
		h.mu.Unlock()
		h.passing.RLock()
		defer h.passing.RUnlock()
		next, _ := h.target.Load().(http.Handler)
		if next == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable) // LiveKit retries
			return
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// option makes a LiveKit send its webhooks here.
func (h *hookFront) option() testenv.Option {
	return testenv.WithWebhook(h.srv.URL + "/api/webhooks/livekit")
}

// to hands the webhooks on to st's dashboard.
func (h *hookFront) to(st *stage) { h.serve(st.srv.Config.Handler) }

// serve hands the webhooks on to next, once those on their way to the old
// target have arrived.
func (h *hookFront) serve(next http.Handler) {
	h.passing.Lock()
	defer h.passing.Unlock()
	h.target.Store(next)
}

// sse is a page's EventSource: it reads the stream and keeps every event.
type sse struct {
	mu     sync.Mutex
	evs    []events.Event
	last   string // the last id: line
	cancel context.CancelFunc
	done   chan struct{}
}

func openStream(t *testing.T, url, key, lastID string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &sse{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				s.mu.Lock()
				s.last = id
				s.mu.Unlock()
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var e events.Event
				if json.Unmarshal([]byte(data), &e) == nil {
					s.mu.Lock()
					s.evs = append(s.evs, e)
					s.mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sse) close() { s.cancel(); <-s.done }

func (s *sse) all() []events.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]events.Event(nil), s.evs...)
}

func (s *sse) lastID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// has reports whether an event of kind about room (and who) has arrived.
func (s *sse) has(kind events.Kind, room, who string) bool {
	for _, e := range s.all() {
		if e.Kind == kind && e.Room == room && (who == "" || (e.Participant != nil && e.Participant.Identity == who)) {
			return true
		}
	}
	return false
}

func storyOf(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		k := strconv.FormatUint(e.Revision, 10) + " " + string(e.Kind) + " " + e.Room
		if e.Participant != nil {
			k += " " + e.Participant.Identity
		}
		out = append(out, k)
	}
	return out
}

// An operator watches the page while a show happens: the stage opens, a
// performer joins and plays, the stage closes. Each step reaches the open event
// stream from LiveKit's webhook, and the room's timeline tells the story after
// the room is gone.
func TestTheShowReachesThePageAsItHappens(t *testing.T) {
	testenv.RequireNetNS(t)
	st := newLiveStage(t, nil)
	stream := openStream(t, st.srv.URL+"/api/events", testViewerKey, "")
	within := func(what string, ok func() bool) {
		t.Helper()
		require.Eventually(t, ok, 10*time.Second, 20*time.Millisecond, "%s: got %v", what, storyOf(stream.all()))
	}

	status, body := st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"live-stage"}`)
	require.Equal(t, 201, status, string(body))
	within("room opened", func() bool { return stream.has(events.RoomOpened, "live-stage", "") })

	tok, err := st.sm.Tokens.Performer("live-stage", "ada")
	require.NoError(t, err)
	ada := st.env.Join(t, tok.JWT, nil)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 20*time.Second))
	require.NoError(t, err)
	within("ada joined", func() bool { return stream.has(events.ParticipantJoined, "live-stage", "ada") })
	within("ada plays", func() bool { return stream.has(events.TrackPublished, "live-stage", "ada") })

	status, body = st.as(t, testAPIKey, "DELETE", "/api/rooms/live-stage", "")
	require.Equal(t, 204, status, string(body))
	within("room closed", func() bool { return stream.has(events.RoomClosed, "live-stage", "") })
	for _, e := range stream.all() {
		assert.False(t, e.Resync, "webhooks told it, not a resync: %v", storyOf(stream.all()))
	}

	// The room is gone; its story is not.
	status, body = st.as(t, testViewerKey, "GET", "/api/rooms/live-stage/timeline", "")
	require.Equal(t, 200, status, string(body))
	tl := decodeAs[live.TimelinePage](t, body)
	story := storyOf(tl.Events)
	require.NotEmpty(t, story)
	assert.Contains(t, story[0], "room_opened")
	assert.Contains(t, story[len(story)-1], "room_closed")
	status, body = st.as(t, testViewerKey, "GET", "/api/rooms/never-was/timeline", "")
	assert.Equal(t, 404, status, string(body))

	// Health and metrics tell how current the model is and that webhooks arrive.
	status, body = st.as(t, "", "GET", "/api/health", "")
	require.Equal(t, 200, status, string(body))
	h := decodeAs[healthResponse](t, body)
	require.NotNil(t, h.Model)
	assert.True(t, h.Model.Synced)
	assert.Positive(t, h.Model.Revision)
	require.NotNil(t, h.Model.LastWebhookAgeMS, "webhooks arrived")
	status, body = st.as(t, "", "GET", "/metrics", "")
	require.Equal(t, 200, status)
	assert.Regexp(t, `dashboard_webhooks_total\{result="accepted"\} [1-9]`, string(body))
	assert.Contains(t, string(body), "dashboard_event_streams 1\n")
	assert.Regexp(t, `dashboard_model_revision [1-9]`, string(body))
}

// A page that lost its connection reconnects with the last id it saw and gets
// exactly what it missed, in order; a room filter keeps other rooms out.
func TestEventStreamResumesWithoutAGap(t *testing.T) {
	testenv.RequireNetNS(t)
	st := newLiveStage(t, nil)
	first := openStream(t, st.srv.URL+"/api/events", testViewerKey, "")
	status, body := st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"first"}`)
	require.Equal(t, 201, status, string(body))
	require.Eventually(t, func() bool { return first.has(events.RoomOpened, "first", "") }, 10*time.Second, 20*time.Millisecond)
	seen := first.lastID()
	first.close()

	// While the page is away: two more rooms.
	for _, name := range []string{"second", "third"} {
		status, body := st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"`+name+`"}`)
		require.Equal(t, 201, status, string(body))
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.NotEmpty(c, st.watchHistory(c, "third")) }, 10*time.Second, 20*time.Millisecond)

	again := openStream(t, st.srv.URL+"/api/events", testViewerKey, seen)
	require.Eventually(t, func() bool { return again.has(events.RoomOpened, "third", "") }, 10*time.Second, 20*time.Millisecond)
	got := storyOf(again.all())
	assert.Contains(t, got[0], "room_opened second", "resumed right after the last event seen: %v", got)
	n, _ := strconv.ParseUint(seen, 10, 64)
	assert.Equal(t, n+1, again.all()[0].Revision, "no gap: %v", got)

	only := openStream(t, st.srv.URL+"/api/events?room=fourth", testViewerKey, seen)
	status, body = st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"fourth"}`)
	require.Equal(t, 201, status, string(body))
	require.Eventually(t, func() bool { return only.has(events.RoomOpened, "fourth", "") }, 10*time.Second, 20*time.Millisecond)
	for _, e := range only.all() {
		assert.Equal(t, "fourth", e.Room, "the filter lets only that room through")
	}
}

// as calls the dashboard with key (none when empty), checking the answer
// holds no credential.
func (st *stage) as(t *testing.T, key, method, path string, body any) (int, []byte) {
	t.Helper()
	if body == "" {
		body = nil
	}
	if key == "" {
		return st.call(t, method, path, body, noAuth...)
	}
	return st.call(t, method, path, body, "X-API-Key", key)
}

// watchHistory is the room's story as the dashboard's timeline route tells it.
func (st *stage) watchHistory(t require.TestingT, room string) []events.Event {
	helper(t)
	code, body, err := st.try(t, http.DefaultClient, "GET", "/api/rooms/"+room+"/timeline", "", "X-API-Key", testViewerKey)
	require.NoError(t, err)
	if code != 200 {
		return nil
	}
	return decodeAs[live.TimelinePage](t, body).Events
}

// Who may reach the live routes: the webhook route takes only what LiveKit
// signed (no user auth can stand in for the signature), the event stream only a
// signed-in user, and hostile input gets a clear 4xx.
func TestLiveRoutesRefuseStrangers(t *testing.T) {
	testenv.RequireNetNS(t)
	st := newStage(t, nil)
	body := []byte(`{"event":"room_started","id":"EV_forged","room":{"name":"forged","sid":"RM_x"}}`)
	post := func(authz, ctype string, b []byte, key string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, st.srv.URL+"/api/webhooks/livekit", bytes.NewReader(b))
		require.NoError(t, err)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var e api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Code
	}
	forged, err := auth.NewAccessToken(st.env.APIKey, strings.Repeat("f", 40)).SetValidFor(time.Minute).ToJWT()
	require.NoError(t, err)
	cases := []struct {
		name, authz, ctype, key string
		status                  int
		code                    string
	}{
		{"no signature", "", "application/webhook+json", "", 401, "unauthenticated"},
		{"an admin's API key is no signature", "", "application/webhook+json", testAPIKey, 401, "unauthenticated"},
		{"signed with another secret", forged, "application/webhook+json", "", 401, "unauthenticated"},
		{"garbage token", "Bearer not.a.jwt", "application/webhook+json", "", 401, "unauthenticated"},
		{"a form", forged, "application/x-www-form-urlencoded", "", 415, "unsupported_media_type"},
	}
	for _, c := range cases {
		status, code := post(c.authz, c.ctype, body, c.key)
		assert.Equal(t, c.status, status, c.name)
		assert.Equal(t, c.code, code, c.name)
	}
	// An oversized body signed as LiveKit signs (our key and secret, its
	// sha256): only its size can refuse it.
	huge := bytes.Repeat([]byte("x"), 2<<20)
	sum := sha256.Sum256(huge)
	real, err := auth.NewAccessToken(st.env.APIKey, st.env.APISecret).SetValidFor(time.Minute).SetSha256(base64.StdEncoding.EncodeToString(sum[:])).ToJWT()
	require.NoError(t, err)
	status, code := post(real, "application/webhook+json", huge, "")
	assert.Equal(t, 413, status, "an oversized body is refused for its size")
	assert.Equal(t, "body_too_large", code)
	status, b := st.as(t, testViewerKey, "GET", "/api/rooms/forged/timeline", "")
	assert.Equal(t, 404, status, "a forged webhook left no trace: %s", b)

	status, _ = st.as(t, "", "GET", "/api/events", "")
	assert.Equal(t, 401, status, "the event stream needs a signed-in user")
	for _, bad := range []string{"?room=" + strings.Repeat("r", 200), "?room=a%20b"} {
		status, b := st.as(t, testViewerKey, "GET", "/api/events"+bad, "")
		assert.Equal(t, 400, status, "%s: %s", bad, b)
	}
	req, err := http.NewRequest(http.MethodGet, st.srv.URL+"/api/events", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", testViewerKey)
	req.Header.Set("Last-Event-ID", "not-a-number")
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	assert.Equal(t, 400, r2.StatusCode)
}

// The page is live: while its event stream is up it asks the server nothing on
// its own, and a performer joining the open room shows up within a second,
// without a reload.
func TestThePageIsLive(t *testing.T) {
	testenv.RequireNetNS(t)
	st := newLiveStage(t, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup, s.OperatorGroup = adminGroup, operatorGroup
	})
	status, body := st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"live-room"}`)
	require.Equal(t, 201, status, string(body))

	b := openDashboard(t, st.srv.URL+"/", "mia")
	b.until("the event stream is up", `document.querySelector("#live").textContent === "live"`)
	b.until("the room in the list", `!!document.querySelector('#rooms tr[data-room="live-room"]')`)
	b.click(`#rooms tr[data-room="live-room"] button.link`)
	b.run(chromedp.Evaluate(`window.notReloaded = true`, nil))
	b.until("the room is open", `!document.querySelector("#detail").hidden`)

	// A quiet stretch: two polling periods of the old page, no request at all.
	pageRequests := func() int { return strings.Count(st.logs.String(), `"path":"/api/rooms"`) }
	before := pageRequests()
	time.Sleep(7 * time.Second)
	assert.Equal(t, before, pageRequests(), "the page polled while its event stream was up")

	tok, err := st.sm.Tokens.Performer("live-room", "ada")
	require.NoError(t, err)
	st.env.Join(t, tok.JWT, nil)
	joined := time.Now()
	b.until("ada in the room", `!!document.querySelector('#participants [data-identity="ada"]')`)
	took := time.Since(joined)
	t.Logf("a join reached the page in %s", took)
	assert.Less(t, took, time.Second, "a join reaches the page within a second")
	b.until("the join in the timeline", `[...document.querySelectorAll("#timeline li")].some(li => li.textContent.includes("ada"))`)
	var still bool
	b.run(chromedp.Evaluate(`window.notReloaded === true`, &still))
	assert.True(t, still, "the page was not reloaded")
}
