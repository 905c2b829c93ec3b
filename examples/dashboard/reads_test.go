package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// read is a GET as a viewer, with the answer's model revision (0: LiveKit
// answered directly).
func (st *stage) read(t require.TestingT, path string) (int, []byte, uint64) {
	helper(t)
	req, err := st.request(t, "GET", path, nil, "X-API-Key", testViewerKey)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body := mustRead(t, resp)
	st.checkAnswer(t, body)
	rev, _ := strconv.ParseUint(resp.Header.Get(live.RevisionHeader), 10, 64)
	if rev != 0 {
		age, err := strconv.ParseInt(resp.Header.Get(live.AgeHeader), 10, 64)
		require.NoError(t, err, "a model answer tells its age")
		assert.GreaterOrEqual(t, age, int64(0))
	}
	return resp.StatusCode, body, rev
}

// An operator runs a show from the page while LiveKit's webhooks are held up:
// every change she makes through the dashboard is in her very next read, which
// the model answers (not LiveKit). When the held webhooks arrive they change
// nothing and nothing is told twice.
func TestReadsComeFromTheModelAndShowYourOwnWrites(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	st := newStageWith(t, testenv.LiveKit(t, testenv.WithRedis(), hook.option()), egress.Storage{}, nil)
	stream := openStream(t, st.srv.URL+"/api/events", testViewerKey, "")

	// Before any webhook, the model cannot know it is told everything: LiveKit answers.
	status, body, rev := st.read(t, "/api/rooms")
	require.Equal(t, 200, status, string(body))
	assert.Zero(t, rev, "no webhook yet: LiveKit answered")
	hook.to(st)

	// The stage opens and Ada plays, as LiveKit's webhooks tell.
	status, body = st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"ryw"}`)
	require.Equal(t, 201, status, string(body))
	tok, err := st.sm.Tokens.Performer("ryw", "ada")
	require.NoError(t, err)
	ada := st.env.Join(t, tok.JWT, nil)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return stream.has(events.TrackPublished, "ryw", "ada") }, 10*time.Second, 20*time.Millisecond)

	status, body, rev = st.read(t, "/api/rooms/ryw")
	require.Equal(t, 200, status, string(body))
	require.NotZero(t, rev, "the model answers once webhooks arrive")
	detail := decodeAs[rooms.Detail](t, body)
	require.Len(t, detail.Participants, 1)
	require.Len(t, detail.Participants[0].Tracks, 1)
	assert.Equal(t, "audio", detail.Participants[0].Tracks[0].Kind)
	assert.Equal(t, 1, detail.NumPublishers)

	// From here on LiveKit's webhooks do not get through.
	hook.hold()

	status, body = st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"ryw-2","metadata":"friday jam"}`)
	require.Equal(t, 201, status, string(body))
	status, body, rev = st.read(t, "/api/rooms/ryw-2")
	require.Equal(t, 200, status, "a room just created is in the next read: %s", body)
	assert.NotZero(t, rev)
	assert.Equal(t, "friday jam", decodeAs[rooms.Detail](t, body).Metadata)
	_, body, _ = st.read(t, "/api/rooms")
	assert.Equal(t, []string{"ryw", "ryw-2"}, roomNames(decodeAs[[]rooms.Room](t, body)))

	act := func(key, action string) {
		t.Helper()
		status, body := st.as(t, key, "POST", "/api/rooms/ryw/participants", `{"action":"`+action+`","identity":"ada"}`)
		require.Equal(t, 200, status, string(body))
	}
	adaNow := func() (rooms.Participant, bool) {
		t.Helper()
		status, body, rev := st.read(t, "/api/rooms/ryw/participants")
		require.Equal(t, 200, status, string(body))
		require.NotZero(t, rev)
		for _, p := range decodeAs[[]rooms.Participant](t, body) {
			if p.Identity == "ada" {
				return p, true
			}
		}
		return rooms.Participant{}, false
	}
	act(testOperatorKey, "mute")
	p, ok := adaNow()
	require.True(t, ok)
	require.Len(t, p.Tracks, 1)
	assert.True(t, p.Tracks[0].Muted, "muted in the next read")

	act(testOperatorKey, "demote")
	p, ok = adaNow()
	require.True(t, ok)
	assert.False(t, p.Permission.CanPublish, "demoted in the next read")

	act(testAPIKey, "remove")
	_, ok = adaNow()
	assert.False(t, ok, "removed in the next read")

	status, body = st.as(t, testAPIKey, "DELETE", "/api/rooms/ryw-2", "")
	require.Equal(t, 204, status, string(body))
	status, body, _ = st.read(t, "/api/rooms/ryw-2")
	assert.Equal(t, 404, status, "a room just closed is gone from the next read: %s", body)
	assert.Equal(t, "not_found", errorCode(t, body))

	// The held webhooks arrive late: they change nothing, and the story tells
	// each step once.
	require.Eventually(t, func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		return len(hook.held) >= 4 // ryw-2 opened and closed, ada's track gone, ada left
	}, 10*time.Second, 20*time.Millisecond, "LiveKit sent its webhooks")
	_, _, revBefore := st.read(t, "/api/rooms")
	assert.GreaterOrEqual(t, hook.release(t), 4)
	_, _, revAfter := st.read(t, "/api/rooms")
	assert.Equal(t, revBefore, revAfter, "late webhooks of what the model already has change nothing: %v", storyOf(stream.all()))
	told := map[string]int{}
	for _, e := range stream.all() {
		step := string(e.Kind) + " " + e.Room
		if e.Participant != nil {
			step += " " + e.Participant.Identity
		}
		if e.Track != nil {
			step += " " + e.Track.SID
		}
		told[step]++
	}
	for step, n := range told {
		assert.Equal(t, 1, n, "told once: %s (story %v)", step, storyOf(stream.all()))
	}

	// And the model agrees with LiveKit.
	want, err := st.sm.Rooms.List(t.Context())
	require.NoError(t, err)
	_, body, rev = st.read(t, "/api/rooms")
	require.NotZero(t, rev)
	assert.Equal(t, roomNames(want), roomNames(decodeAs[[]rooms.Room](t, body)))
}

func roomNames(rs []rooms.Room) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// Reads from the model are as strict with input as LiveKit's path: a bad name
// is a 400, an unknown room a 404.
func TestModelReadsRefuseBadNames(t *testing.T) {
	testenv.RequireNetNS(t)
	st := newLiveStage(t, nil)
	status, body := st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"named"}`)
	require.Equal(t, 201, status, string(body))
	require.EventuallyWithT(t, func(c *assert.CollectT) { _, _, rev := st.read(c, "/api/rooms"); assert.NotZero(c, rev) }, 10*time.Second, 20*time.Millisecond)
	for _, path := range []string{"/api/rooms/bad%20name", "/api/rooms/bad%0Aname/participants", "/api/ingress?room=a%20b"} {
		status, body, _ := st.read(t, path)
		assert.Equal(t, 400, status, "%s: %s", path, body)
		assert.Equal(t, "invalid_argument", errorCode(t, body), path)
	}
	status, body, rev := st.read(t, "/api/rooms/nobody-here/participants")
	assert.Equal(t, 404, status, string(body))
	assert.NotZero(t, rev, "the model said so")
}

// hold keeps LiveKit's webhooks back until release delivers them, late and in
// the order they came.
func (h *hookFront) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holding = true
}

// release delivers the held webhooks and lets the next ones through; it returns
// how many were held.
func (h *hookFront) release(t *testing.T) int {
	h.mu.Lock()
	held := h.held
	h.holding, h.held = false, nil
	h.mu.Unlock()
	next := h.target.Load().(http.Handler)
	for _, r := range held {
		w := httptest.NewRecorder()
		next.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code, "a late webhook is taken: %s", w.Body)
	}
	return len(held)
}

// Pages polling the rooms list between two changes share one encoding of it;
// the next snapshot is encoded anew, so nobody reads a list older than the
// model (GET /api/rooms, encodedRead).
func TestEachSnapshotIsEncodedOnce(t *testing.T) {
	var enc live.EncodedRead
	encodings := 0
	list := func(s *events.Snapshot) any { encodings++; return s.RoomList() }
	first := &events.Snapshot{Revision: 7, Rooms: map[string]*events.Room{"jam": {Room: rooms.Room{Name: "jam"}}}}
	for range 3 {
		body, err := enc.Of(first, list)
		require.NoError(t, err)
		assert.JSONEq(t, `[{"sid":"","name":"jam","numParticipants":0,"numPublishers":0,"emptyTimeout":0,"departureTimeout":0,"activeRecording":false,"createdAt":"0001-01-01T00:00:00Z"}]`, string(body))
	}
	assert.Equal(t, 1, encodings, "three reads of one snapshot")
	// The same revision, other rooms (a shared log's first sync keeps its head's
	// revision): a new snapshot is a new encoding.
	second := &events.Snapshot{Revision: 7, Rooms: map[string]*events.Room{}}
	body, err := enc.Of(second, list)
	require.NoError(t, err)
	assert.Equal(t, "[]\n", string(body))
	assert.Equal(t, 2, encodings)
}
