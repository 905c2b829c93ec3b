package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
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
		var e api.ErrorBody
		require.NoError(t, json.Unmarshal(out, &e), "%s", out)
		assert.NotEmpty(t, e.Error.Code, "%s", out)
		assert.Contains(t, api.ErrorCodes, e.Error.Code, "codes are from the documented list")
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
		// An operator's close: the opener rule reads the name before the handler.
		code, out := st.call(t, "DELETE", "/api/shows/"+p, nil, "X-API-Key", testOperatorKey)
		assert.Less(t, code, 500, "DELETE /api/shows/%s → %d %s", p, code, out)
		assertErrorShape(t, code, out)
	})
}

// Recording bodies, on a real Egress and MinIO. No seed names a room with a
// track, so nothing actually records while the fuzzer runs.
func FuzzStartEgress(f *testing.F) {
	fuzzBodyOn(f, newRecordingStage(f), "POST", "/api/egress", `{"kind":"audio","room":"jam"}`, `{"kind":"stems","room":"jam"}`,
		`{"kind":"audio","room":"jam","identity":"ada","bitrate":9999}`, `{"kind":"restream","room":"jam","urls":["rtmp://127.0.0.1:1/x/y"]}`,
		`{"kind":"restream","room":"jam","urls":["javascript:alert(1)"]}`, `{"kind":"room","room":"jam","layout":"grid","audioOnly":true}`,
		`{"kind":"hls","room":"jam","filename":"x"}`, `{"kind":"audio","room":"jam","filename":"../../etc/{room_name}"}`, `{"kind":"audio","room":"a b"}`,
		`{"kind":"video","room":"jam","identity":"obs","filename":"take-1"}`)
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

// DASHBOARD_API_KEYS: any value is refused or parsed into keys of at least 16
// characters, each with a role, each a piece of the input, and each parsing
// back to itself when written as key:role.
func FuzzAPIKeys(f *testing.F) {
	for _, s := range []string{"key1-0123456789abc:admin,key2-0123456789abc:viewer,key3-0123456789abc", "k:admin", ":admin",
		"0123456789abcdef:admin:viewer", "0123456789abcdef:Admin", "0123456789abcdef:", ",,,", "0123456789abcdef:operator ,", "ü0123456789abcdef:viewer"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		keys, err := access.ParseAPIKeys(v)
		if err != nil {
			if len(v) >= 16 {
				assert.NotContains(t, err.Error(), v, "the keys are not echoed")
			}
			return
		}
		for _, k := range keys {
			assert.GreaterOrEqual(t, len(k.Key), 16)
			assert.Contains(t, []api.Role{api.Viewer, api.Operator, api.Admin}, k.Role)
			assert.Contains(t, v, k.Key)
			again, err := access.ParseAPIKeys(k.Key + ":" + k.Role.String())
			require.NoError(t, err)
			assert.Equal(t, []access.APIKey{k}, again)
		}
	})
}

// Bearer group claims of any shape, under any claim name: never a panic, never
// an empty group, and a role only from the configured groups.
func FuzzGroupsClaim(f *testing.F) {
	for _, s := range [][2]string{{`{"groups":["a","stream-admins"]}`, "groups"}, {`{"realm_access":{"roles":["stream-operators"]}}`, "realm_access.roles"},
		{`{"groups":"stream-admins|crew"}`, "groups"}, {`{"groups":[1,null,{"x":"stream-admins"}]}`, "groups"}, {`{"a":{"b":"c"}}`, "a.b.c"},
		{`{"a.b":["stream-admins"]}`, "a.b"}, {`{}`, ""}, {`{"groups":null}`, "."}} {
		f.Add(s[0], s[1])
	}
	a := &access.Authenticator{AdminGroup: adminGroup, OperatorGroup: operatorGroup}
	f.Fuzz(func(t *testing.T, raw, name string) {
		var c map[string]any
		if json.Unmarshal([]byte(raw), &c) != nil {
			return
		}
		groups := access.GroupsClaim(c, name)
		for _, g := range groups {
			assert.NotEmpty(t, g)
		}
		switch r := a.RoleOf(groups); r {
		case api.Admin:
			assert.Contains(t, groups, adminGroup)
		case api.Operator:
			assert.Contains(t, groups, operatorGroup)
		default:
			assert.Equal(t, api.Viewer, r)
		}
	})
}

// The forward-auth proxy's secret: only the exact value proves the proxy; with
// no secret configured nothing does.
func FuzzProxySecret(f *testing.F) {
	for _, s := range []string{testProxySecret, "", testProxySecret + " ", testProxySecret[:8], "PROXY-SECRET-0123456789", "\x00"} {
		f.Add(s)
	}
	with := &access.Authenticator{ProxySecret: []byte(testProxySecret)}
	without := &access.Authenticator{}
	f.Fuzz(func(t *testing.T, sent string) {
		assert.Equal(t, sent == testProxySecret, with.ProxyProven(sent))
		assert.False(t, without.ProxyProven(sent))
	})
}

// An operator's token requests of any shape: what authorize decodes to check
// the role is what the handler mints, so a 201 is never a moderator token or
// one beyond 6 h.
func FuzzOperatorTokens(f *testing.F) {
	st := newStage(f, nil)
	for _, s := range []string{`{"role":"listener","room":"jam","identity":"bob"}`, `{"role":"moderator","room":"jam","identity":"m"}`,
		`{"role":"listener","role":"moderator","room":"jam","identity":"m"}`, `{"ROLE":"moderator","room":"jam","identity":"m"}`,
		`{"role":"performer","room":"jam","identity":"ada","ttl":21601}`, `{"role":"performer","room":"a b","identity":"ada"}`, `{"ttl":1e3}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		code, out := st.call(t, "POST", "/api/tokens", body, asOperator...)
		assert.Less(t, code, 500, "body %q → %d %s", body, code, out)
		assertErrorShape(t, code, out)
		if code == 201 {
			var req tokenRequest
			require.NoError(t, json.Unmarshal([]byte(body), &req))
			assert.NotEqual(t, "moderator", req.Role, "%s", body)
			assert.LessOrEqual(t, req.TTL, 6*3600, "%s", body)
			var tok tokenResponse
			require.NoError(t, json.Unmarshal(out, &tok))
			assert.NotEqual(t, "moderator", tok.Role)
		}
	})
}

// An operator's participant actions of any shape: a remove never reaches LiveKit.
func FuzzOperatorParticipantAction(f *testing.F) {
	st := newStage(f, nil)
	for _, s := range []string{`{"action":"remove","identity":"ada"}`, `{"action":"mute","identity":"ada"}`, `{"ACTION":"remove","identity":"ada"}`,
		`{"action":"mute","action":"remove","identity":"ada"}`, `{"action":"Remove","identity":"ada"}`, `{"action":"remove\u0000","identity":"ada"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		code, out := st.call(t, "POST", "/api/rooms/jam/participants", body, asOperator...)
		assert.Less(t, code, 500, "body %q → %d %s", body, code, out)
		assertErrorShape(t, code, out)
		var req participantAction
		if json.Unmarshal([]byte(body), &req) == nil && req.Action == "remove" {
			// Refused before the handler: 403, or the body's own 4xx; never
			// LiveKit's answer (jam does not exist: 404) nor a success.
			assert.Contains(t, []int{400, 403, 413, 415}, code, "%s → %s", body, out)
		}
	})
}

func FuzzOpenShow(f *testing.F) {
	fuzzBodyOn(f, newShowStage(f), "POST", "/api/shows", `{"name":"jam"}`, `{"name":"jam","record":["audio"]}`,
		`{"name":"friday-jam","performers":[{"identity":"ada","name":"Ada"}],"ingest":{"kind":"rtmp"},"record":["audio","stems"],"restream":["rtmp://a.rtmp.youtube.com/live2/k"]}`,
		`{"name":"x","ingest":{"kind":"url","url":"http://127.0.0.1/"}}`, `{"name":"x","restream":["rtmp://169.254.169.254/a/b"]}`,
		`{"name":"x","performers":[{"identity":"a","via":"obs"},{"identity":"b","via":"obs"}],"ingest":{"kind":"rtmp"}}`,
		`{"name":"x","endAfterSeconds":9223372036854775807}`, `{"name":"x","stage":{"maxParticipants":-1}}`, `[]`, `null`, "\xff")
}
