package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
)

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
		var e api.ErrorBody
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
	s := newStage(t, func(s *config.Settings) { s.BodyLimit = 1024 })
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
		if rt.Request == nil || rt.Needs == recordingService {
			continue
		}
		code, body := s.call(t, rt.Method, strings.ReplaceAll(rt.Path, "{name}", "r"), `{"bogus":1}`)
		assert.Equal(t, 400, code, "%s %s: %s", rt.Method, rt.Path, body)
		assert.Equal(t, "unknown_field", errorCode(t, body), rt.Path)
	}
}

// Browsers from the allow-list get CORS headers and preflights; others do not.
// Every answer carries a request ID, the caller's own when it sent a sane one.
func TestCORSAndRequestIDs(t *testing.T) {
	s := newStage(t, func(s *config.Settings) { s.CORSOrigins = []string{"https://stream.spacemusic.tv"} })

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
