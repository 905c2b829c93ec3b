package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz targets send arbitrary input to a dashboard on a real LiveKit (one per
// target, shared by every input): the answer is never a 5xx, and every error has
// the one JSON shape. Without -fuzz, `go test` runs their seed corpus.
//
//	go test -fuzz FuzzCreateRoom -fuzztime 30s ./examples/dashboard/

func fuzzBody(f *testing.F, method, path string, seeds ...string) {
	fuzzBodyOn(f, newStage(f, nil), method, path, seeds...)
}

func fuzzBodyOn(f *testing.F, st *stage, method, path string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		code, out := st.call(t, method, path, body)
		assert.Less(t, code, 500, "body %q → %d %s", body, code, out)
		assertErrorShape(t, code, out)
	})
}

func assertErrorShape(t *testing.T, code int, out []byte) {
	t.Helper()
	if code >= 400 {
		var e errorBody
		require.NoError(t, json.Unmarshal(out, &e), "%s", out)
		assert.NotEmpty(t, e.Error.Code, "%s", out)
		assert.Contains(t, errorCodes, e.Error.Code, "codes are from the documented list")
	}
}

func FuzzCreateRoom(f *testing.F) {
	fuzzBody(f, "POST", "/api/rooms", `{"name":"jam"}`, `{"name":"a b"}`, `{"name":""}`, `{"name":"x","emptyTimeout":-5}`,
		`{"name":"x","minPlayoutDelay":500,"maxPlayoutDelay":100}`, `{"name":"x","maxParticipants":4294967296}`,
		`[]`, `null`, `{"name":"\u0000"}`, "\xff", `{"name":"x","metadata":"`+strings.Repeat("m", 70000)+`"}`)
}

func FuzzTokens(f *testing.F) {
	fuzzBody(f, "POST", "/api/tokens", `{"role":"listener","room":"jam","identity":"bob","ttl":60}`,
		`{"role":"performer","room":"jam","identity":"ada","name":"Ada","metadata":"{}"}`, `{"role":"moderator"}`,
		`{"role":"listener","room":"jam","identity":"b","ttl":99999999999}`, `{"ttl":"soon"}`, `{"role":"performer","room":"jam","identity":"ü\u202e"}`)
}

func FuzzParticipantAction(f *testing.F) {
	fuzzBody(f, "POST", "/api/rooms/jam/participants", `{"action":"mute","identity":"ada"}`, `{"action":"remove","identity":"ada"}`,
		`{"action":"promote","identity":""}`, `{"action":"unmute","identity":"ada","trackSid":"TR_x"}`, `{"action":"x"}`,
		`{"action":"demote","identity":"`+strings.Repeat("a", 300)+`"}`)
}

// URL pulls need an ingress worker to accept them (without one LiveKit rightly
// answers 503 after the deadline), so this target runs a real LiveKit Ingress.
func FuzzCreateIngress(f *testing.F) {
	st := newIngressStage(f)
	fuzzBodyOn(f, st, "POST", "/api/ingress", `{"kind":"rtmp","room":"jam","identity":"obs"}`,
		`{"kind":"rtmp","room":"jam","identity":"obs","audioOnly":true,"audioBitrate":192000}`,
		`{"kind":"rtmp","room":"jam","identity":"obs","videoPreset":"NOT_A_PRESET"}`,
		`{"kind":"whip","room":"jam","identity":"cam","transcode":true,"audioBitrate":64000}`,
		`{"kind":"whip","room":"jam","identity":"cam","audioBitrate":64000}`,
		`{"kind":"url","room":"jam","identity":"dj","url":"http://127.0.0.1:1/set.ogg"}`, `{"kind":"url","room":"jam","identity":"dj","url":"file:///etc/passwd"}`,
		`{"kind":"rtmp","room":"a b","identity":"obs"}`, `{"kind":""}`)
}

// Path and query parameters: any room name or ingress ID, escaped into the URL,
// gets a 2xx or a clear 4xx.
func FuzzPathName(f *testing.F) {
	for _, s := range []string{"jam", "a b", "", "..", "%", strings.Repeat("x", 300), "ü", "a/b", "\x00", "IN_abc", "IN_../x"} {
		f.Add(s)
	}
	st := newStage(f, nil)
	f.Fuzz(func(t *testing.T, name string) {
		p, q := url.PathEscape(name), url.QueryEscape(name)
		for _, m := range []string{"GET /api/rooms/" + p, "GET /api/rooms/" + p + "/participants", "DELETE /api/stream/rooms/" + p,
			"GET /api/ingress?room=" + q, "DELETE /api/ingress?id=" + q} {
			method, path, _ := strings.Cut(m, " ")
			code, out := st.call(t, method, path, nil)
			assert.Less(t, code, 500, "%s %s → %d %s", method, path, code, out)
			assertErrorShape(t, code, out)
		}
	})
}

// Recording bodies, on a real Egress and MinIO. No seed names a room with a
// track, so nothing actually records while the fuzzer runs.
func FuzzStartEgress(f *testing.F) {
	fuzzBodyOn(f, newRecordingStage(f), "POST", "/api/egress", `{"kind":"audio","room":"jam"}`, `{"kind":"stems","room":"jam"}`,
		`{"kind":"audio","room":"jam","identity":"ada","bitrate":9999}`, `{"kind":"restream","room":"jam","urls":["rtmp://127.0.0.1:1/x/y"]}`,
		`{"kind":"restream","room":"jam","urls":["javascript:alert(1)"]}`, `{"kind":"room","room":"jam","layout":"grid","audioOnly":true}`,
		`{"kind":"hls","room":"jam","filename":"x"}`, `{"kind":"audio","room":"jam","filename":"../../etc/{room_name}"}`, `{"kind":"audio","room":"a b"}`)
}

// Query parameters of the recording routes: any value gets a 2xx or a clear 4xx.
func FuzzRecordingQueries(f *testing.F) {
	for _, s := range []string{"jam", "", "a b", "..", "../x", "%", "EG_abc", "true", strings.Repeat("x", 300), "\x00", "-1", "99999999999"} {
		f.Add(s)
	}
	st := newRecordingStage(f)
	f.Fuzz(func(t *testing.T, v string) {
		q := url.QueryEscape(v)
		for _, m := range []string{"GET /api/egress?room=" + q, "GET /api/egress?active=" + q, "DELETE /api/egress?id=" + q,
			"GET /api/recordings?room=" + q, "GET /api/recordings?linkTtl=" + q} {
			method, path, _ := strings.Cut(m, " ")
			code, out := st.call(t, method, path, nil)
			assert.Less(t, code, 500, "%s %s → %d %s", method, path, code, out)
			assertErrorShape(t, code, out)
		}
	})
}
