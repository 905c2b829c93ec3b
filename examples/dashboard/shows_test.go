package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// newShowStage is a dashboard on a LiveKit (with Redis, so ingresses can be
// made) whose client has a bucket configured: shows that record or restream
// may be opened. Nothing records here (no Egress runs, no music plays), so the
// bucket is never reached.
func newShowStage(t testing.TB) *stage {
	t.Helper()
	hook := newHookFront(t) // the live model, as deployed: GET /api/shows answers from it once a webhook came
	env := testenv.LiveKit(t, testenv.WithRedis(), hook.option())
	st := newStageWith(t, env, egress.Storage{Endpoint: "http://127.0.0.1:9", Bucket: "recordings",
		AccessKey: "show-stage-access", SecretKey: "show-stage-secret-0123456789"}, nil)
	hook.to(st)
	return st
}

// The stream key of a platform a show restreams to: a secret of the operator's.
const showPlatformURL = "rtmp://a.rtmp.youtube.com/live2/" + platformKey

func fridayJam() map[string]any {
	return map[string]any{"name": "friday-jam",
		"performers": []map[string]any{{"identity": "ada", "name": "Ada"}, {"identity": "obs-main", "name": "Main mix", "via": "obs"}},
		"ingest":     map[string]any{"kind": "rtmp"}, "record": []string{"audio", "stems"}, "restream": []string{showPlatformURL},
		"listenerTtlSeconds": 3600, "endAfterSeconds": 600}
}

// The operator opens tonight's show: the answer carries at once what OBS and
// the performers need. Opening it again creates nothing new (one room, one
// ingress in LiveKit); a performer can be added, a changed ingest cannot.
func TestOperatorOpensAShowOnce(t *testing.T) {
	st := newShowStage(t)

	code, body := st.as(t, testOperatorKey, "POST", "/api/shows", fridayJam())
	require.Equal(t, 201, code, "%s", body)
	show := decodeAs[showroutes.Opened](t, body)
	assert.True(t, show.Created)
	assert.Equal(t, "friday-jam", show.Name)
	assert.Equal(t, "armed", show.Phase, "a show with a recording plan waits for its music")
	require.NotNil(t, show.OBS, "OBS settings at once")
	assert.NotEmpty(t, show.OBS.StreamKey) // the server URL needs a real Ingress: TestShowRecordsItselfAndReports
	require.NotNil(t, show.OBS.Encoder)
	assert.Equal(t, "AAC", show.OBS.Encoder.AudioCodec)
	require.Len(t, show.Performers, 2)
	ada := show.Performers[0]
	assert.Equal(t, "ada", ada.Identity)
	assert.Equal(t, "browser", ada.Via)
	assert.Equal(t, publicWS, ada.WSURL)
	claims, err := st.sm.Tokens.Verify(ada.Token)
	require.NoError(t, err, "ada's join token is a real performer token")
	assert.Equal(t, "friday-jam", claims.Grant.Room)
	assert.True(t, *claims.Grant.CanPublish)
	assert.Equal(t, "obs", show.Performers[1].Via)
	assert.Empty(t, show.Performers[1].Token, "the OBS performer comes through the ingest")
	assert.Equal(t, 3600, show.Listeners.TTLSeconds)
	assert.Equal(t, 600, show.Spec.EndAfterSeconds, "seconds in, seconds out")
	assert.Equal(t, 1, show.Spec.Restreams)
	st.keepOutOfLogs(show.OBS.StreamKey, ada.Token)

	// Again, the same spec (through the gateway's path): nothing new.
	code, body = st.as(t, testOperatorKey, "POST", "/api/stream/shows", fridayJam())
	require.Equal(t, 200, code, "%s", body)
	again := decodeAs[showroutes.Opened](t, body)
	assert.False(t, again.Created)
	require.NotNil(t, again.OBS)
	assert.Equal(t, show.OBS.IngressID, again.OBS.IngressID, "the same ingress")
	assert.Equal(t, show.OBS.StreamKey, again.OBS.StreamKey, "OBS keeps its settings")
	rs, err := st.sm.Rooms.List(t.Context(), "friday-jam")
	require.NoError(t, err)
	assert.Len(t, rs, 1, "one room in LiveKit")
	ins, err := st.sm.Ingress.List(t.Context(), ingress.ListOptions{Room: "friday-jam"})
	require.NoError(t, err)
	assert.Len(t, ins, 1, "one ingress in LiveKit")

	// A performer joins the line-up: applied live.
	more := fridayJam()
	more["performers"] = append(more["performers"].([]map[string]any), map[string]any{"identity": "bob", "name": "Bob"})
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", more)
	require.Equal(t, 200, code, "%s", body)
	assert.Len(t, decodeAs[showroutes.Opened](t, body).Performers, 3)

	// A changed ingest cannot be applied to an open show: refused, naming it.
	changed := fridayJam()
	changed["performers"] = more["performers"]
	changed["ingest"] = map[string]any{"kind": "whip"}
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", changed)
	require.Equal(t, 409, code, "%s", body)
	assert.Equal(t, "show_spec_changed", errorCode(t, body))
	assert.Contains(t, string(body), "ingest")

	// A room that is no show is not taken over, nor closed.
	code, body = st.as(t, testOperatorKey, "POST", "/api/rooms", map[string]any{"name": "lobby"})
	require.Equal(t, 201, code, "%s", body)
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "lobby"})
	require.Equal(t, 409, code, "%s", body)
	assert.Equal(t, "not_a_show", errorCode(t, body))
	code, body = st.as(t, testOperatorKey, "DELETE", "/api/shows/lobby", nil)
	require.Equal(t, 409, code, "%s", body)
	assert.Equal(t, "not_a_show", errorCode(t, body))
	rs, err = st.sm.Rooms.List(t.Context(), "lobby")
	require.NoError(t, err)
	assert.Len(t, rs, 1, "the lobby stays open")

	// Closing: the report; closing again: the same report, not an error.
	code, body = st.as(t, testOperatorKey, "DELETE", "/api/shows/friday-jam", nil)
	require.Equal(t, 200, code, "%s", body)
	rep := decodeAs[showroutes.Report](t, body)
	assert.Equal(t, "friday-jam", rep.Name)
	assert.False(t, rep.ClosedAt.Before(rep.OpenedAt))
	code, body = st.as(t, testOperatorKey, "DELETE", "/api/shows/friday-jam", nil)
	require.Equal(t, 200, code, "closing twice is fine: %s", body)
	assert.Equal(t, rep.ClosedAt, decodeAs[showroutes.Report](t, body).ClosedAt, "the same report")
	rs, err = st.sm.Rooms.List(t.Context(), "friday-jam")
	require.NoError(t, err)
	assert.Empty(t, rs, "the stage is closed")
	ins, err = st.sm.Ingress.List(t.Context(), ingress.ListOptions{Room: "friday-jam"})
	require.NoError(t, err)
	assert.Empty(t, ins, "the ingress is gone")
	code, body = st.as(t, testOperatorKey, "DELETE", "/api/shows/never-opened", nil)
	assert.Equal(t, 404, code, "%s", body)
}

// An attacker with the viewer key reads every show route: the stream key, the
// performers' tokens and the restream destination (with the platform's key)
// are in no byte of any answer, while the operator who opened the show got them.
func TestViewersSeeNoShowSecrets(t *testing.T) {
	st := newShowStage(t)
	code, body := st.as(t, testOperatorKey, "POST", "/api/shows", fridayJam())
	require.Equal(t, 201, code, "%s", body)
	show := decodeAs[showroutes.Opened](t, body)
	require.NotNil(t, show.OBS)
	given := []string{show.OBS.StreamKey, show.Performers[0].Token}
	for _, s := range given {
		require.NotEmpty(t, s)
		require.Contains(t, string(body), s, "the operator who opened the show got it")
	}
	secrets := append(given, platformKey, showPlatformURL)
	st.keepOutOfLogs(secrets...)

	for _, path := range []string{"/api/shows", "/api/shows/friday-jam", "/api/stream/shows", "/api/stream/shows/friday-jam"} {
		code, body := st.as(t, testViewerKey, "GET", path, nil)
		require.Equal(t, 200, code, "%s: %s", path, body)
		for _, s := range secrets {
			assert.NotContains(t, string(body), s, "%s shows a viewer a secret", path)
		}
		assert.Contains(t, string(body), `"phase":"armed"`, path)
	}
	// The list from the live model, as the page reads it on every event.
	var fromModel []byte
	poll(t, wait, "the list never came from the model", func() (bool, string) {
		resp := st.do(t, "GET", "/api/shows", nil, "X-API-Key", testViewerKey)
		fromModel = mustRead(t, resp)
		return resp.StatusCode == 200 && resp.Header.Get(live.RevisionHeader) != "" && strings.Contains(string(fromModel), "friday-jam"), string(fromModel)
	})
	st.checkAnswer(t, fromModel)
	for _, s := range secrets {
		assert.NotContains(t, string(fromModel), s, "the model's list shows a viewer a secret")
	}
	assert.Contains(t, string(fromModel), `"phase":"armed"`)
	// Nor do the other reads, which carry the room's metadata (the stored spec)
	// and the show's events.
	for _, path := range []string{"/api/rooms", "/api/rooms/friday-jam", "/api/rooms/friday-jam/timeline", "/api/events?follow=false&after=0", "/api/ingress"} {
		code, body := st.as(t, testViewerKey, "GET", path, nil)
		require.Equal(t, 200, code, "%s: %s", path, body)
		require.Contains(t, string(body), "friday-jam", path)
		for _, s := range secrets {
			assert.NotContains(t, string(body), s, "%s shows a viewer a secret", path)
		}
	}

	code, body = st.as(t, testViewerKey, "GET", "/api/shows/friday-jam", nil)
	require.Equal(t, 200, code, "%s", body)
	v := decodeAs[showroutes.View](t, body)
	assert.Equal(t, 1, v.Spec.Restreams, "how many destinations, not where")
	require.NotNil(t, v.Ingest)
	assert.Equal(t, show.OBS.IngressID, v.Ingest.ID)
}

// Who may do what with shows: a viewer reads but neither opens nor closes
// one; without a key nothing at all.
func TestShowRoles(t *testing.T) {
	st := newShowStage(t)
	code, body := st.as(t, testViewerKey, "POST", "/api/shows", map[string]any{"name": "viewer-show"})
	assert.Equal(t, 403, code, "%s", body)
	assert.Equal(t, "forbidden", errorCode(t, body))
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "late-set", "performers": []map[string]any{{"identity": "ada"}}})
	require.Equal(t, 201, code, "%s", body)
	code, body = st.as(t, testViewerKey, "DELETE", "/api/shows/late-set", nil)
	assert.Equal(t, 403, code, "%s", body)
	for _, c := range []struct{ method, path string }{{"GET", "/api/shows"}, {"GET", "/api/shows/late-set"}, {"POST", "/api/shows"}, {"DELETE", "/api/shows/late-set"}} {
		var b any
		if c.method == "POST" {
			b = map[string]any{"name": "stranger"}
		}
		code, body := st.as(t, "", c.method, c.path, b)
		assert.Equal(t, 401, code, "%s %s: %s", c.method, c.path, body)
	}
	rs, err := st.sm.Rooms.List(t.Context())
	require.NoError(t, err)
	require.Len(t, rs, 1, "only the operator's show was opened")
	assert.Equal(t, "late-set", rs[0].Name, "and it is still open")
	code, body = st.as(t, testViewerKey, "GET", "/api/shows", nil)
	require.Equal(t, 200, code, "%s", body)
	assert.Contains(t, string(body), `"name":"late-set"`)
	assert.Contains(t, string(body), `"phase":"scheduled"`, "no recording plan: nothing to arm")
}

// Hostile specs get a clear 4xx with a stable code, and nothing is created:
// bad names, a huge body, restream destinations and pull URLs that point
// inside the operator's network.
func TestHostileShowsCreateNothing(t *testing.T) {
	st := newShowStage(t)
	hostile := []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"name": "a b"}, 400, "invalid_argument"},
		{map[string]any{"name": "../etc"}, 400, "invalid_argument"},
		{map[string]any{"name": ""}, 400, "invalid_argument"},
		{map[string]any{"name": strings.Repeat("x", 200)}, 400, "invalid_argument"},
		{map[string]any{"name": "evil", "performers": []map[string]any{{"identity": "ada\n"}}}, 400, "invalid_argument"},
		{map[string]any{"name": "evil", "record": []string{"everything"}}, 400, "invalid_argument"},
		{map[string]any{"name": "evil", "endAfterSeconds": -1}, 400, "invalid_argument"},
		{map[string]any{"name": "evil", "listenerTtlSeconds": 1 << 40}, 400, "invalid_argument"},
		{map[string]any{"name": "evil", "stage": map[string]any{"emptyTimeoutSeconds": 1 << 40}}, 400, "invalid_argument"},
		{map[string]any{"name": "evil", "streamKey": "x"}, 400, "unknown_field"},
		{`{"name":"evil"`, 400, "malformed_json"},
		{`{"name":"evil","performers":[` + strings.Repeat(`{"identity":"p"},`, 5000) + `{"identity":"q"}]}`, 413, "body_too_large"},
		{map[string]any{"name": "evil", "restream": []string{"rtmp://127.0.0.1/live/key"}}, 400, "destination_not_allowed"},
		{map[string]any{"name": "evil", "restream": []string{"rtmp://169.254.169.254/live/key"}}, 400, "destination_not_allowed"},
		{map[string]any{"name": "evil", "restream": []string{"rtmp://meta.contribute.live-video.net/app/key"}}, 400, "destination_not_allowed"},
		{map[string]any{"name": "evil", "restream": []string{"rtmp://loop.contribute.live-video.net/app/key"}}, 400, "destination_not_allowed"},
		{map[string]any{"name": "evil", "restream": []string{showPlatformURL, "rtmp://rebind.contribute.live-video.net/app/key"}}, 400, "destination_not_allowed"},
		{map[string]any{"name": "evil", "restream": []string{"file:///etc/passwd"}}, 400, "invalid_argument"},
		{map[string]any{"name": "evil", "ingest": map[string]any{"kind": "url", "url": "http://169.254.169.254/latest/meta-data/"}}, 400, "pull_not_allowed"},
		{map[string]any{"name": "evil", "ingest": map[string]any{"kind": "url", "url": "file:///etc/passwd"}}, 400, "invalid_argument"},
	}
	for _, h := range hostile {
		code, body := st.as(t, testOperatorKey, "POST", "/api/shows", h.body)
		assert.Equal(t, h.status, code, "%v: %s", h.body, body)
		if code >= 400 {
			assert.Equal(t, h.code, errorCode(t, body), "%v", h.body)
		}
	}
	rs, err := st.sm.Rooms.List(t.Context())
	require.NoError(t, err)
	assert.Empty(t, rs, "no hostile spec opened a stage")
	ins, err := st.sm.Ingress.List(t.Context(), ingress.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, ins, "no hostile spec made an ingress")
	for _, path := range []string{"/api/shows/a%20b", "/api/shows/..%2Fetc"} {
		code, body := st.as(t, testViewerKey, "GET", path, nil)
		assert.Equal(t, 400, code, "%s: %s", path, body)
	}
}

// Another dashboard closes friday-jam and is held in the middle, after it
// marked the show closing, while it looks for the show's recordings (its
// requests for them wait until the test lets them go). Meanwhile the operator
// opens the show here: 409 show_closing. Once that Close is done, the show opens.
func TestOpeningAShowBeingClosedIsRefused(t *testing.T) {
	st := newShowStage(t)
	code, body := st.as(t, testOperatorKey, "POST", "/api/shows", fridayJam())
	require.Equal(t, 201, code, "%s", body)

	held := testenv.NewHeld(nil, false, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/ListEgress") })
	t.Cleanup(held.Let)
	other, err := spacemusic.New(spacemusic.Config{URL: st.env.URL, PublicURL: st.env.WSURL, APIKey: st.env.APIKey, APISecret: st.env.APISecret,
		HTTPClient: &http.Client{Transport: held}, Storage: egress.Storage{Endpoint: "http://127.0.0.1:9", Bucket: "recordings",
			AccessKey: "show-stage-access", SecretKey: "show-stage-secret-0123456789"}})
	require.NoError(t, err)
	theirs, err := other.Shows(nil)
	require.NoError(t, err)
	ctx := testenv.Within(t, 30*time.Second)
	closed := make(chan error, 1)
	go func() { _, err := theirs.Close(ctx, "friday-jam"); closed <- err }()
	select {
	case <-held.Arrived():
	case err := <-closed:
		t.Fatalf("the other dashboard's Close returned without looking for recordings: %v", err)
	case <-ctx.Done():
		t.Fatal("the other dashboard's Close never looked for recordings")
	}

	// LiveKit's ListRooms shows a metadata update a moment after
	// UpdateRoomMetadata has answered (2 of 8 runs here still listed the open
	// show): what every replica reads is what LiveKit lists, so wait for it.
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		found, err := st.sm.Rooms.List(ctx, "friday-jam")
		if assert.NoError(c, err) && assert.Len(c, found, 1) {
			assert.Contains(c, found[0].Metadata, `"closing":true`)
		}
	}, 10*time.Second, 50*time.Millisecond, "LiveKit lists the show as closing")
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", fridayJam())
	assert.Equal(t, 409, code, "%s", body)
	assert.Contains(t, string(body), "show_closing")

	held.Let()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("the other dashboard's Close did not return once let go")
	}
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", fridayJam())
	assert.Equal(t, 201, code, "closed, the show opens again: %s", body)
}
