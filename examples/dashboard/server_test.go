package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

const (
	testAPIKey = "key-for-tests-0123456789" // an admin's
	// Keys of the other roles, for the role tests.
	testOperatorKey = "operator-key-0123456789"
	testViewerKey   = "viewer-key-0123456789ab"
	wait, tick      = 15 * time.Second, 50 * time.Millisecond
	publicWS        = "wss://livekit.example.test"
)

// stage is a dashboard in front of a real LiveKit, with its logs captured and
// every answer checked for leaked credentials.
type stage struct {
	env   *testenv.Env
	sm    *spacemusic.Client
	ing   *ingress.Service
	srv   *httptest.Server
	logs  *testenv.Buffer
	api   *contract // checks every exchange against the OpenAPI document
	live  Events    // the watched model behind the live routes; nil without it
	shows *shows.Service
	t     testing.TB // the test the stage was made for

	mu      sync.Mutex
	secrets []string // must never appear in a log line: credentials, tokens, stream keys
}

// withAdminGroup is an environment with only the one setting start-up insists on.
func withAdminGroup(k string) string {
	return map[string]string{"DASHBOARD_ADMIN_GROUP": adminGroup}[k]
}

func defaultSettings() settings {
	s, err := loadSettings(nil, withAdminGroup, io.Discard)
	if err != nil {
		panic(err)
	}
	s.APIKeys = []apiKey{{testAPIKey, admin}, {testOperatorKey, operator}, {testViewerKey, viewer}}
	s.RateLimit, s.RateBurst = 100000, 100000
	s.LiveKitTimeout = 2 * time.Second // an outage shows quickly
	return s
}

// newStage starts a LiveKit (with Redis, so ingresses can be managed) and a
// dashboard in front of it.
func newStage(t testing.TB, tweak func(*settings)) *stage {
	t.Helper()
	return newStageOn(t, testenv.LiveKit(t, testenv.WithRedis()), tweak)
}

// newStageOn puts a dashboard in front of an existing LiveKit.
func newStageOn(t testing.TB, env *testenv.Env, tweak func(*settings)) *stage {
	t.Helper()
	return newStageWith(t, env, egress.Storage{}, tweak)
}

// newStageWith puts a dashboard in front of an existing LiveKit, recording into
// storage when it names a bucket.
func newStageWith(t testing.TB, env *testenv.Env, storage egress.Storage, tweak func(*settings)) *stage {
	t.Helper()
	return newStageLive(t, env, storage, tweak, true)
}

// newStageLive is newStageWith, with the live model or without it (a test that
// counts every request reaching LiveKit would count the model's lists).
func newStageLive(t testing.TB, env *testenv.Env, storage egress.Storage, tweak func(*settings), live bool) *stage {
	t.Helper()
	return newStageAt(t, env, storage, tweak, live, publicWS)
}

// newStageAt is newStageLive handing out ws as LIVEKIT_WS_URL: a browser that
// really connects (the monitor) needs LiveKit's own URL.
func newStageAt(t testing.TB, env *testenv.Env, storage egress.Storage, tweak func(*settings), live bool, ws string) *stage {
	t.Helper()
	s := defaultSettings()
	if tweak != nil {
		tweak(&s)
	}
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, PublicURL: ws, APIKey: env.APIKey, APISecret: env.APISecret,
		Timeout: s.LiveKitTimeout, Storage: storage, ServerVersion: env.Version})
	require.NoError(t, err)
	logs := &testenv.Buffer{}
	st := &stage{t: t, env: env, sm: sm, ing: sm.Ingress, logs: logs, secrets: []string{env.APISecret, testAPIKey, testOperatorKey, testViewerKey, testProxySecret}}
	deps := Deps{Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Settings: s, WSURL: sm.Config().WSURL(), Health: sm, Rooms: sm.Rooms, Tokens: sm.Tokens, Ingress: sm.Ingress,
		Resolver: fakeDNS} // tests never resolve real names
	if sm.Egress != nil {
		deps.Egress, deps.Recordings = sm.Egress, sm.Recordings
		st.secrets = append(st.secrets, storage.SecretKey)
	}
	// The live model, as in production: a Watch fed by the webhook route (when
	// LiveKit was started with the dashboard's webhook URL: newLiveStage).
	if live {
		ctx, cancel := context.WithCancel(context.Background())
		stopWatch, err := watchLiveKit(ctx, &deps, sm.Config(), s, deps.Log)
		require.NoError(t, err)
		t.Cleanup(func() { cancel(); stopWatch() })
		st.live = deps.Events
	}
	shows, err := showsOn(sm, deps.Events, "", nil)
	require.NoError(t, err)
	deps.Shows, st.shows = shows, shows
	deps.Doctor = newDoctor(sm, s, nil) // webhooks: TestTheDoctorNamesWhatIsBroken
	deps.Rehearsals = rehearser{rehearsal.Config{URL: env.URL, Tokens: sm.Tokens, MetricsURL: env.MetricsURL}}
	var h http.Handler
	st.api, h = newContract(t, NewServer(deps))
	st.srv = httptest.NewServer(h)
	t.Cleanup(st.srv.Close)
	t.Cleanup(func() {
		// Whatever happened, no credential may have reached a log line.
		out := logs.String()
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, secret := range st.secrets {
			assert.NotContains(t, out, secret, "a secret reached the logs")
		}
	})
	return st
}

// keepOutOfLogs adds values that no log line of this dashboard may hold (checked
// when the test ends), beyond the ones it starts with and the tokens and stream
// keys its answers hand out: bearer tokens, storage keys, platforms' stream keys.
func (s *stage) keepOutOfLogs(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
}

// call sends a request with the test API key unless headers say otherwise, and
// checks that the answer holds no server credential.
func (s *stage) call(t testing.TB, method, path string, body any, headers ...string) (int, []byte) {
	t.Helper()
	code, out, err := s.try(t, http.DefaultClient, method, path, body, headers...)
	require.NoError(t, err)
	return code, out
}

// try is call for worker goroutines and polled conditions, where a fatal check
// would end the wrong goroutine: a request that fails is returned, not fatal.
// The answer is still checked for leaked credentials (assert is safe anywhere).
func (s *stage) try(t assert.TestingT, client *http.Client, method, path string, body any, headers ...string) (int, []byte, error) {
	req, err := s.request(t, method, path, body, headers...)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, out, err
	}
	s.checkAnswer(t, out)
	return resp.StatusCode, out, nil
}

// helper marks the caller as a test helper when t is a testing.TB; polled
// conditions pass an *assert.CollectT instead (require inside a plain
// Eventually's condition would end the wrong goroutine: EventuallyWithT).
func helper(t any) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

// checkAnswer fails t if out holds a credential, and remembers the tokens and
// stream keys it hands out so that the log check looks for them too.
func (s *stage) checkAnswer(t assert.TestingT, out []byte) {
	assert.NotContains(t, string(out), s.env.APISecret, "the LiveKit API secret leaked into an answer")
	for _, k := range []string{testAPIKey, testOperatorKey, testViewerKey, testProxySecret} {
		assert.NotContains(t, string(out), k, "an API key or the proxy secret leaked into an answer")
	}
	if sk := s.sm.Config().Storage.SecretKey; sk != "" {
		assert.NotContains(t, string(out), sk, "the storage secret key leaked into an answer")
	}
	var minted struct{ Token, StreamKey string }
	if json.Unmarshal(out, &minted) == nil {
		s.mu.Lock()
		for _, v := range []string{minted.Token, minted.StreamKey} {
			if v != "" {
				s.secrets = append(s.secrets, v)
			}
		}
		s.mu.Unlock()
	}
}

func (s *stage) do(t testing.TB, method, path string, body any, headers ...string) *http.Response {
	t.Helper()
	req, err := s.request(t, method, path, body, headers...)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func (s *stage) request(t any, method, path string, body any, headers ...string) (*http.Request, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(headers) == 0 {
		headers = []string{"X-API-Key", testAPIKey}
	}
	// A broken contract fails this test, the one that asked (the stage's own
	// test when a polled condition asks).
	tb, ok := t.(testing.TB)
	if !ok {
		tb = s.t
	}
	s.api.asking(tb)
	req.Header.Set(contractTestHeader, tb.Name())
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req, nil
}

// seen is a polled answer, for poll's message.
func seen(code int, body []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d %s", code, body)
}

// poll asks cond every tick, on the test's goroutine, until it holds; after
// within it marks the test failed with what and cond's last word (the body it saw
// last, not one from before the wait) and returns false.
func poll(t testing.TB, within time.Duration, what string, cond func() (bool, string)) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := cond()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("%s (waited %s); last seen: %s", what, within, last)
			return false
		}
		time.Sleep(tick)
	}
}

// noAuth is the headers argument of a request without credentials.
var noAuth = []string{"X-None", ""}

func errorCode(t testing.TB, body []byte) string {
	t.Helper()
	var e errorBody
	require.NoError(t, json.Unmarshal(body, &e), "error body must be JSON: %s", body)
	require.NotEmpty(t, e.Error.Code, "error body: %s", body)
	require.NotEmpty(t, e.Error.Message, "error body: %s", body)
	return e.Error.Code
}

func decodeAs[T any](t require.TestingT, body []byte) T {
	helper(t)
	var v T
	require.NoError(t, json.Unmarshal(body, &v), "%s", body)
	return v
}

// An operator opens a stage, hands out tokens, looks at it and closes it, through
// both the dashboard's paths and the API gateway's /api/stream paths.
func TestOperatorRunsAShow(t *testing.T) {
	s := newStage(t, nil)

	code, body := s.call(t, "GET", "/api/health", nil, noAuth...)
	require.Equal(t, 200, code, "%s", body)
	h := decodeAs[healthResponse](t, body)
	assert.Equal(t, "ok", h.Status)
	assert.Equal(t, "ok", h.LiveKit)

	for _, prefix := range []string{"/api", "/api/stream"} {
		name := "jam" + strings.ReplaceAll(prefix, "/", "-")
		code, body = s.call(t, "POST", prefix+"/rooms", map[string]any{"name": name, "departureTimeout": 60, "maxParticipants": 20, "metadata": `{"set":"one"}`})
		require.Equal(t, 201, code, "%s", body)
		room := decodeAs[map[string]any](t, body)
		assert.Equal(t, name, room["name"])
		assert.EqualValues(t, 60, room["departureTimeout"])
		assert.EqualValues(t, 20, room["maxParticipants"])

		code, body = s.call(t, "GET", prefix+"/rooms", nil)
		require.Equal(t, 200, code)
		assert.Contains(t, string(body), `"name":"`+name+`"`)

		code, body = s.call(t, "GET", prefix+"/rooms/"+name, nil)
		require.Equal(t, 200, code, "%s", body)
		assert.Contains(t, string(body), `"participants":[]`)
		assert.Contains(t, string(body), `"metadata":"{\"set\":\"one\"}"`)

		code, body = s.call(t, "GET", prefix+"/rooms/"+name+"/participants", nil)
		require.Equal(t, 200, code, "%s", body)
		assert.Equal(t, "[]\n", string(body))

		for _, role := range []string{"performer", "listener", "moderator"} {
			code, body = s.call(t, "POST", prefix+"/tokens", map[string]any{"role": role, "room": name, "identity": "ada", "name": "Ada", "ttl": 600})
			require.Equal(t, 201, code, "%s", body)
			tok := decodeAs[tokenResponse](t, body)
			assert.Equal(t, publicWS, tok.WSURL, "the public LIVEKIT_WS_URL, not the internal one")
			assert.Equal(t, name, tok.Room)
			assert.Equal(t, "ada", tok.Identity)
			assert.WithinDuration(t, time.Now().Add(10*time.Minute), tok.ExpiresAt, 5*time.Second)
			claims, err := s.sm.Tokens.Verify(tok.Token)
			require.NoError(t, err)
			assert.Equal(t, name, claims.Grant.Room)
			assert.Equal(t, role != "listener", *claims.Grant.CanPublish, role)
			assert.Equal(t, role == "moderator", claims.Grant.RoomAdmin, role)
		}

		code, _ = s.call(t, "DELETE", prefix+"/rooms/"+name, nil)
		require.Equal(t, 204, code)
		code, body = s.call(t, "GET", prefix+"/rooms/"+name, nil)
		assert.Equal(t, 404, code)
		assert.Equal(t, "not_found", errorCode(t, body))
	}

	code, body = s.call(t, "GET", "/metrics", nil, noAuth...)
	require.Equal(t, 200, code)
	assert.Contains(t, string(body), `dashboard_http_requests_total{method="POST",route="/api/stream/tokens",status="201"} 3`)
	assert.Contains(t, string(body), `dashboard_http_requests_total{method="GET",route="/api/rooms/{name}",status="404"} 1`)
	assert.Contains(t, string(body), "dashboard_livekit_up 1")
	assert.Contains(t, string(body), "dashboard_rooms_active 0")
	assert.Contains(t, string(body), `dashboard_ingresses{state="publishing"} 0`)
}

// A performer plays on stage; the moderator, through the dashboard, sees her
// track, mutes and unmutes it, sends her to the audience and back, and finally
// shows her out.
func TestModeratorActsOnParticipants(t *testing.T) {
	testenv.RequireNetNS(t)
	s := newStage(t, nil)
	code, body := s.call(t, "POST", "/api/rooms", map[string]any{"name": "stage"})
	require.Equal(t, 201, code, "%s", body)

	code, body = s.call(t, "POST", "/api/tokens", map[string]any{"role": "performer", "room": "stage", "identity": "ada", "name": "Ada"})
	require.Equal(t, 201, code, "%s", body)
	ada := s.env.Join(t, decodeAs[tokenResponse](t, body).Token, nil)
	pub, err := testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)

	// The room detail shows her and her stereo music track.
	if !poll(t, wait, "the track never showed in the room detail", func() (bool, string) {
		code, body, err := s.try(t, http.DefaultClient, "GET", "/api/rooms/stage", nil)
		return err == nil && code == 200 && strings.Contains(string(body), pub.SID()), seen(code, body, err)
	}) {
		t.FailNow()
	}
	code, body = s.call(t, "GET", "/api/stream/rooms/stage/participants", nil)
	require.Equal(t, 200, code)
	people := decodeAs[[]struct {
		Identity string
		Tracks   []struct {
			SID    string `json:"sid"`
			Kind   string
			Stereo bool
			Muted  bool
		}
	}](t, body)
	require.Len(t, people, 1)
	assert.Equal(t, "ada", people[0].Identity)
	require.Len(t, people[0].Tracks, 1)
	assert.Equal(t, "audio", people[0].Tracks[0].Kind)
	assert.True(t, people[0].Tracks[0].Stereo)

	act := func(prefix string, action map[string]any) participantActionResult {
		t.Helper()
		action["identity"] = "ada"
		code, body := s.call(t, "POST", prefix+"/rooms/stage/participants", action)
		require.Equal(t, 200, code, "%v: %s", action, body)
		return decodeAs[participantActionResult](t, body)
	}
	// Mute every audio track, then unmute the one track by its SID.
	res := act("/api", map[string]any{"action": "mute"})
	require.Len(t, res.Tracks, 1)
	assert.True(t, res.Tracks[0].Muted)
	res = act("/api/stream", map[string]any{"action": "unmute", "trackSid": pub.SID()})
	require.Len(t, res.Tracks, 1)
	assert.False(t, res.Tracks[0].Muted)

	// Off stage and back.
	res = act("/api", map[string]any{"action": "demote"})
	require.NotNil(t, res.Participant)
	assert.False(t, res.Participant.Permission.CanPublish)
	res = act("/api/stream", map[string]any{"action": "promote"})
	assert.True(t, res.Participant.Permission.CanPublish)

	// Shown out.
	act("/api", map[string]any{"action": "remove"})
	if !poll(t, wait, "she was never shown out", func() (bool, string) {
		code, body, err := s.try(t, http.DefaultClient, "GET", "/api/rooms/stage/participants", nil)
		return err == nil && code == 200 && string(body) == "[]\n", seen(code, body, err)
	}) {
		t.FailNow()
	}
	code, body = s.call(t, "POST", "/api/rooms/stage/participants", map[string]any{"action": "mute", "identity": "ada"})
	assert.Equal(t, 404, code, "%s", body)
	assert.Equal(t, "not_found", errorCode(t, body))
}

// The OpenAPI document lists exactly the routes the server answers: every
// documented operation is served, and the server answers nothing else (any
// other method on a documented path is a 405 naming the documented ones, and
// paths next to documented ones are a 404). What the operations take and give
// is checked on every request the tests make (contract_test.go).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := newStage(t, nil)
	code, body := s.call(t, "GET", "/api/openapi.json", nil, noAuth...)
	require.Equal(t, 200, code)
	var doc struct {
		OpenAPI string                                      `json:"openapi"`
		Paths   map[string]map[string]map[string]any        `json:"paths"`
		Comp    struct{ Schemas map[string]map[string]any } `json:"components"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	assert.Equal(t, "3.0.3", doc.OpenAPI)
	assert.Contains(t, doc.Comp.Schemas, "Error")

	// A documented path as a request path: a parameter gets a plausible value
	// (a key spans segments).
	concrete := strings.NewReplacer("{name}", "no-such-room", "{id}", "IN_none", "{key}", "no-such-room/x.ogg").Replace
	routed := func(method, path string) (int, string, http.Header) {
		t.Helper()
		var body any
		if method == "POST" || method == "PUT" || method == "PATCH" {
			body = "{}"
		}
		headers := []string{"X-API-Key", testAPIKey}
		if path == "/api/events" { // a stream never ends: a bad resume point answers at once, routed
			headers = append(headers, "Last-Event-ID", "not-a-revision")
		}
		resp := s.do(t, method, concrete(path), body, headers...)
		out := mustRead(t, resp)
		var e errorBody
		_ = json.Unmarshal(out, &e)
		return resp.StatusCode, e.Error.Code, resp.Header
	}
	notRouted := []string{"route_not_found", "method_not_allowed"}

	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		var allow []string
		for _, m := range []string{"GET", "POST", "DELETE"} { // the order of the router's Allow
			if _, ok := ops[strings.ToLower(m)]; ok {
				allow = append(allow, m)
			}
		}
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			assert.Contains(t, op, "responses", path)
			assert.NotEmpty(t, op["summary"], path)
			// The server answers it: anything but "no such route".
			code, ec, _ := routed(strings.ToUpper(method), path)
			assert.NotContains(t, notRouted, ec, "%s %s is documented but not served (%d)", method, path, code)
		}
		// Any other method is the router's 405, naming the documented methods.
		// (HEAD is GET without the body: the router answers it wherever GET.)
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			if _, ok := ops[strings.ToLower(m)]; ok {
				continue
			}
			code, ec, h := routed(m, path)
			if assert.Equal(t, "method_not_allowed", ec, "%s %s: want the router's 405, the path being documented for %s; got %d", m, path, allow, code) {
				assert.Equal(t, strings.Join(allow, ", "), h.Get("Allow"), "%s %s", m, path)
			}
		}
	}
	for _, want := range []string{"GET /api/stream/rooms", "POST /api/stream/tokens", "DELETE /api/stream/ingress", "GET /api/health", "GET /metrics",
		"GET /api/recordings/{key}", "GET /api/stream/recordings/{key}"} {
		assert.True(t, documented[want], want)
	}

	// Paths next to documented ones are not served: each path's parent and a
	// child, its twin under (or outside) /api/stream, and a few guesses.
	candidates := map[string]bool{"/api/not-a-route": true, "/api": true, "/api/stream": true, "/api/stream/": true, "/api/v1/rooms": true,
		"/debug/pprof/": true, "/api/metrics": true, "/api/rooms/no-such-room/tracks": true}
	for path := range doc.Paths {
		candidates[path[:strings.LastIndex(path, "/")]] = true
		if !strings.HasSuffix(path, "{key}") {
			candidates[path+"/extra"] = true
		}
		if twin, ok := strings.CutPrefix(path, "/api/stream/"); ok {
			candidates["/api/"+twin] = true
		} else if twin, ok := strings.CutPrefix(path, "/api/"); ok {
			candidates["/api/stream/"+twin] = true
		}
	}
	api, err := served()
	require.NoError(t, err)
	for path := range candidates {
		for _, m := range []string{"GET", "POST", "DELETE"} {
			if path == "" || api.find(httptest.NewRequest(m, concrete(path), nil)) != nil {
				continue // documented after all, as a value of a parameter
			}
			code, ec, _ := routed(m, path)
			assert.Contains(t, notRouted, ec, "%s %s is served but not documented (%d)", m, path, code)
		}
	}

	code, body = s.call(t, "GET", "/api/not-a-route", nil)
	assert.Equal(t, 404, code)
	assert.Equal(t, "route_not_found", errorCode(t, body))
	resp := s.do(t, "PUT", "/api/rooms", "{}")
	resp.Body.Close()
	assert.Equal(t, 405, resp.StatusCode)
	assert.Equal(t, "GET, POST", resp.Header.Get("Allow"))
}

// Bad input gets a clear 4xx with a stable code, never a 5xx.
func TestBadInputIsRefused(t *testing.T) {
	s := newStage(t, func(s *settings) { s.BodyLimit = 1024 })
	for name, c := range map[string]struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		"malformed json":       {"POST", "/api/rooms", `{"name":`, 400, "malformed_json"},
		"not json at all":      {"POST", "/api/rooms", `name=x`, 400, "malformed_json"},
		"two json values":      {"POST", "/api/rooms", `{"name":"a"}{"name":"b"}`, 400, "malformed_json"},
		"array, not object":    {"POST", "/api/tokens", `[]`, 400, "invalid_argument"},
		"empty body":           {"POST", "/api/tokens", ``, 400, "invalid_argument"},
		"unknown field":        {"POST", "/api/rooms", `{"name":"x","colour":"red"}`, 400, "unknown_field"},
		"wrong type":           {"POST", "/api/rooms", `{"name":42}`, 400, "invalid_argument"},
		"oversized body":       {"POST", "/api/rooms", `{"name":"x","metadata":"` + strings.Repeat("m", 2048) + `"}`, 413, "body_too_large"},
		"name with space":      {"POST", "/api/rooms", map[string]any{"name": "friday jam"}, 400, "invalid_argument"},
		"name too long":        {"POST", "/api/rooms", map[string]any{"name": strings.Repeat("a", 129)}, 400, "invalid_argument"},
		"negative timeout":     {"POST", "/api/rooms", map[string]any{"name": "x", "emptyTimeout": -1}, 400, "invalid_argument"},
		"huge timeout":         {"POST", "/api/rooms", map[string]any{"name": "x", "emptyTimeout": 1 << 40}, 400, "invalid_argument"},
		"unknown role":         {"POST", "/api/tokens", map[string]any{"role": "king", "room": "r", "identity": "a"}, 400, "invalid_argument"},
		"listener too long":    {"POST", "/api/tokens", map[string]any{"role": "listener", "room": "r", "identity": "a", "ttl": 90000}, 400, "invalid_argument"},
		"no identity":          {"POST", "/api/tokens", map[string]any{"role": "performer", "room": "r"}, 400, "invalid_argument"},
		"unknown action":       {"POST", "/api/rooms/r/participants", map[string]any{"action": "dance", "identity": "a"}, 400, "invalid_argument"},
		"track on promote":     {"POST", "/api/rooms/r/participants", map[string]any{"action": "promote", "identity": "a", "trackSid": "TR_x"}, 400, "invalid_argument"},
		"missing room":         {"GET", "/api/rooms/no-such-room/participants", nil, 404, "not_found"},
		"bad path name":        {"GET", "/api/rooms/a%20b", nil, 400, "invalid_argument"},
		"form content type":    {"POST", "/api/tokens", "name=x", 415, "unsupported_media_type"},
		"no content type":      {"POST", "/api/tokens", `{"role":"listener","room":"r","identity":"a"}`, 415, "unsupported_media_type"},
		"ingress kind":         {"POST", "/api/ingress", map[string]any{"kind": "smoke-signal", "room": "r", "identity": "a"}, 400, "invalid_argument"},
		"ingress mixed kinds":  {"POST", "/api/ingress", map[string]any{"kind": "rtmp", "room": "r", "identity": "a", "url": "http://x"}, 400, "invalid_argument"},
		"ingress bitrate":      {"POST", "/api/ingress", map[string]any{"kind": "rtmp", "room": "r", "identity": "a", "audioBitrate": 9_000_000}, 400, "invalid_argument"},
		"ingress pull ftp":     {"POST", "/api/ingress", map[string]any{"kind": "url", "room": "r", "identity": "a", "url": "ftp://x/y"}, 400, "invalid_argument"},
		"ingress delete no id": {"DELETE", "/api/ingress", nil, 400, "invalid_argument"},
		"ingress delete junk":  {"DELETE", "/api/ingress?id=../../etc", nil, 400, "invalid_argument"},
		"ingress bad room":     {"GET", "/api/ingress?room=a%20b", nil, 400, "invalid_argument"},
	} {
		t.Run(name, func(t *testing.T) {
			headers := []string{"X-API-Key", testAPIKey}
			switch name {
			case "form content type": // what a cross-site form would send
				headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
			case "no content type": // what a cross-site fetch without preflight could send
				headers = append(headers, "Content-Type", "")
			}
			code, body := s.call(t, c.method, c.path, c.body, headers...)
			assert.Equal(t, c.status, code, "%s", body)
			assert.Equal(t, c.code, errorCode(t, body))
		})
	}

	// Every JSON body of the table refuses fields it does not know (the
	// recording routes' in TestRecordingBadInput, which has a bucket).
	for _, rt := range (&server{}).routes() {
		if rt.request == nil || rt.needs == recordingService {
			continue
		}
		code, body := s.call(t, rt.method, strings.ReplaceAll(rt.path, "{name}", "r"), `{"bogus":1}`)
		assert.Equal(t, 400, code, "%s %s: %s", rt.method, rt.path, body)
		assert.Equal(t, "unknown_field", errorCode(t, body), rt.path)
	}
}

// LiveKit hangs mid-show, then dies: health says so, routes answer a clear 503
// within their deadline (never hang, never 500), and the dashboard recovers by
// itself each time LiveKit is back. A hung LiveKit accepts connections and never
// answers, so only the deadlines end those requests; a dead one refuses them at once.
func TestLiveKitOutage(t *testing.T) {
	const livekitTimeout, healthTimeout = 2 * time.Second, 500 * time.Millisecond
	s := newStage(t, func(s *settings) { s.LiveKitTimeout, s.HealthTimeout = livekitTimeout, healthTimeout })
	if s.env.Stop == nil || s.env.Freeze == nil {
		t.Skip("only the process backend can stop LiveKit") // CI uses the process backend
	}
	// A margin for the loopback round trip and a loaded machine: this bounds the
	// deadlines' effect, it is not a latency figure. Every client gives up later
	// than that, so a request the deadline does not end fails the test, not hangs it.
	const margin = 1500 * time.Millisecond
	client := &http.Client{Timeout: livekitTimeout + 2*margin}
	timed := func(method, path string, body any) (int, []byte, time.Duration) {
		t.Helper()
		start := time.Now()
		code, out, err := s.try(t, client, method, path, body)
		require.NoError(t, err, "%s %s", method, path)
		return code, out, time.Since(start)
	}
	routes := []struct {
		method, path string
		body         any
	}{{"GET", "/api/rooms", nil}, {"GET", "/api/stream/rooms/jam", nil}, {"POST", "/api/rooms", map[string]any{"name": "jam"}}, {"GET", "/api/ingress", nil}}

	// Clients keep asking while LiveKit hangs, dies and comes back. Their
	// failures are collected and judged here, on the test's goroutine.
	stop := make(chan struct{})
	var mu sync.Mutex
	seenCodes := map[int]int{}
	var failures []error
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				code, _, err := s.try(t, client, "GET", "/api/rooms", nil)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					seenCodes[code]++
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	// Whatever happens below, LiveKit is not left frozen.
	t.Cleanup(s.env.Thaw)

	// Hung. Nothing asked for health before, so no cached answer stands in for
	// the probe: its own deadline (DASHBOARD_HEALTH_TIMEOUT) ends it.
	s.env.Freeze()
	code, body, took := timed("GET", "/api/health", nil)
	require.Equal(t, 503, code, "%s", body)
	h := decodeAs[healthResponse](t, body)
	assert.Equal(t, "unavailable", h.Status)
	assert.Equal(t, "readiness", h.LiveKit, "names the failed check")
	assert.Less(t, took, healthTimeout+margin, "health's probe outlived DASHBOARD_HEALTH_TIMEOUT")
	for _, c := range routes {
		code, body, took := timed(c.method, c.path, c.body)
		assert.Equal(t, 503, code, "hung: %s %s: %s", c.method, c.path, body)
		assert.Equal(t, "livekit_unavailable", errorCode(t, body))
		assert.Less(t, took, livekitTimeout+margin, "hung: %s %s outlived DASHBOARD_LIVEKIT_TIMEOUT", c.method, c.path)
	}
	code, body, _ = timed("POST", "/api/tokens", map[string]any{"role": "listener", "room": "jam", "identity": "bob"})
	assert.Equal(t, 201, code, "tokens are minted locally, LiveKit or not: %s", body)
	code, body, took = timed("GET", "/metrics", nil)
	assert.Equal(t, 200, code)
	assert.Contains(t, string(body), "dashboard_livekit_up 0\n")
	assert.Less(t, took, livekitTimeout+margin, "a scrape outlived DASHBOARD_LIVEKIT_TIMEOUT")

	// Back from the hang.
	s.env.Thaw()
	// /api/health answers from a probe at most healthMaxAge old.
	poll(t, healthMaxAge+5*time.Second, "health stayed down after the hang", func() (bool, string) {
		code, body, err := s.try(t, client, "GET", "/api/health", nil)
		return err == nil && code == 200, seen(code, body, err)
	})
	code, _, _ = timed("GET", "/api/rooms", nil)
	assert.Equal(t, 200, code)
	poll(t, 5*time.Second, "metrics never said LiveKit is back", func() (bool, string) {
		code, body, err := s.try(t, client, "GET", "/metrics", nil)
		return err == nil && strings.Contains(string(body), "dashboard_livekit_up 1\n"), seen(code, body, err)
	})

	// Dead: refused at once.
	s.env.Stop()
	code, body, _ = timed("GET", "/api/health", nil)
	// The cached answer may still be the healthy one for healthMaxAge.
	if code == 200 {
		time.Sleep(healthMaxAge)
		code, body, _ = timed("GET", "/api/health", nil)
	}
	h = decodeAs[healthResponse](t, body)
	assert.Equal(t, 503, code)
	assert.Equal(t, "unavailable", h.Status)
	assert.Equal(t, "readiness", h.LiveKit, "names the failed check")
	for _, c := range routes {
		code, body, _ := timed(c.method, c.path, c.body)
		assert.Equal(t, 503, code, "dead: %s %s: %s", c.method, c.path, body)
		assert.Equal(t, "livekit_unavailable", errorCode(t, body))
	}
	code, body, _ = timed("POST", "/api/tokens", map[string]any{"role": "listener", "room": "jam", "identity": "bob"})
	assert.Equal(t, 201, code, "tokens are minted locally, LiveKit or not: %s", body)
	poll(t, 5*time.Second, "metrics never said LiveKit is down", func() (bool, string) {
		code, body, err := s.try(t, client, "GET", "/metrics", nil)
		return err == nil && strings.Contains(string(body), "dashboard_livekit_up 0\n"), seen(code, body, err)
	})

	s.env.Start()
	poll(t, healthMaxAge+5*time.Second, "health stayed down after the restart", func() (bool, string) {
		code, body, err := s.try(t, client, "GET", "/api/health", nil)
		return err == nil && code == 200, seen(code, body, err)
	})
	code, _, _ = timed("GET", "/api/rooms", nil)
	assert.Equal(t, 200, code)
	close(stop)
	wg.Wait()
	assert.Empty(t, failures, "every request during the outages was answered in time")
	for code := range seenCodes {
		assert.Contains(t, []int{200, 503}, code, "during the outages: %v", seenCodes)
	}
	assert.Positive(t, seenCodes[503], "the workers saw the outages: %v", seenCodes)
	t.Logf("answers while LiveKit hung, died and came back: %v", seenCodes)
}

func mustRead(t require.TestingT, resp *http.Response) []byte {
	helper(t)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// Bounded load on loopback: every request answered, none failed.
func TestLoadWithoutErrors(t *testing.T) {
	s := newStage(t, nil)
	const clients, window = 8, 2 * time.Second
	deadline := time.Now().Add(window)
	var mu sync.Mutex
	counts := map[int]int{}
	var failures []error // judged here, on the test's goroutine
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 5000 && time.Now().Before(deadline); n++ {
				var code int
				var err error
				if n%2 == 0 {
					code, _, err = s.try(t, http.DefaultClient, "GET", "/api/rooms", nil)
				} else {
					code, _, err = s.try(t, http.DefaultClient, "POST", "/api/tokens", map[string]any{"role": "listener", "room": "load", "identity": "l" + string(rune('a'+i))})
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					counts[code]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Empty(t, failures, "every request answered")
	total := counts[200] + counts[201]
	assert.Greater(t, counts[200], 0)
	assert.Greater(t, counts[201], 0)
	assert.Equal(t, map[int]int{200: counts[200], 201: counts[201]}, counts, "only successes expected")
	t.Logf("%d requests in %s from %d clients", total, window, clients)
}

// The rate limit answers 429 with Retry-After once a client's burst is spent;
// behind the trusted proxy, each forwarded client has a bucket of its own.
func TestRateLimit(t *testing.T) {
	s := newStage(t, func(s *settings) { s.RateLimit, s.RateBurst = 1, 3 })
	var codes []int
	for range 5 {
		code, _ := s.call(t, "GET", "/api/rooms", nil)
		codes = append(codes, code)
	}
	assert.Equal(t, []int{200, 200, 200, 429, 429}, codes)
	resp := s.do(t, "GET", "/api/rooms", nil)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, "rate_limited", errorCode(t, mustRead(t, resp)))

	p := newStageOn(t, s.env, func(s *settings) {
		s.RateLimit, s.RateBurst = 1, 2
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
	})
	for _, who := range []string{"203.0.113.7", "203.0.113.8"} {
		for i, want := range []int{200, 200, 429} {
			code, _ := p.call(t, "GET", "/api/rooms", nil, "X-API-Key", testAPIKey, "X-Forwarded-For", who, proxySecretHeader, testProxySecret)
			assert.Equal(t, want, code, "%s request %d", who, i)
		}
	}
}

// Browsers from the allow-list get CORS headers and preflights; others do not.
// Every answer carries a request ID, the caller's own when it sent a sane one.
func TestCORSAndRequestIDs(t *testing.T) {
	s := newStage(t, func(s *settings) { s.CORSOrigins = []string{"https://stream.spacemusic.tv"} })

	pre := s.do(t, "OPTIONS", "/api/rooms", nil, "Origin", "https://stream.spacemusic.tv", "Access-Control-Request-Method", "POST")
	pre.Body.Close()
	assert.Equal(t, 204, pre.StatusCode)
	assert.Equal(t, "https://stream.spacemusic.tv", pre.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, pre.Header.Get("Access-Control-Allow-Headers"), "X-API-Key")

	evil := s.do(t, "OPTIONS", "/api/rooms", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	evil.Body.Close()
	assert.Empty(t, evil.Header.Get("Access-Control-Allow-Origin"))
	assert.NotEqual(t, 204, evil.StatusCode)

	resp := s.do(t, "GET", "/api/rooms", nil, "X-API-Key", testAPIKey, "X-Request-ID", "req-42", "Origin", "https://stream.spacemusic.tv")
	resp.Body.Close()
	assert.Equal(t, "req-42", resp.Header.Get("X-Request-ID"))
	assert.Equal(t, "https://stream.spacemusic.tv", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, s.logs.String(), `"id":"req-42"`)

	resp = s.do(t, "GET", "/api/rooms", nil, "X-API-Key", testAPIKey, "X-Request-ID", "bad id\twith controls")
	resp.Body.Close()
	assert.Regexp(t, `^[0-9a-f]{16}$`, resp.Header.Get("X-Request-ID"))
}

// A dashboard whose ingress is not configured says so, instead of failing oddly.
func TestUnconfiguredIngress(t *testing.T) {
	s := newStage(t, nil)
	_, h := newContract(t, NewServer(Deps{Settings: defaultSettings(), Health: s.sm, Rooms: s.sm.Rooms, Tokens: s.sm.Tokens}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api/stream/ingress", nil)
	req.Header.Set("X-API-Key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	assert.Equal(t, 501, resp.StatusCode)
	assert.Equal(t, "not_configured", errorCode(t, mustRead(t, resp)))
}
