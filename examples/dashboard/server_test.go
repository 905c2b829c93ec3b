package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
)

const testAPIKey = "key-for-tests-0123456789"

// stage is a dashboard in front of a real LiveKit, with its logs captured.
type stage struct {
	env  *testenv.Env
	srv  *httptest.Server
	logs *syncBuffer
	deps *Deps
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func defaultSettings() settings {
	s, err := loadSettings(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		panic(err)
	}
	s.APIKeys = []string{testAPIKey}
	s.RateLimit, s.RateBurst = 10000, 10000
	return s
}

func newStage(t testing.TB, tweak func(*settings)) *stage {
	t.Helper()
	env := testenv.LiveKit(t)
	s := defaultSettings()
	if tweak != nil {
		tweak(&s)
	}
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, PublicURL: "wss://livekit.example.test", APIKey: env.APIKey, APISecret: env.APISecret, Timeout: 2 * time.Second})
	require.NoError(t, err)
	logs := &syncBuffer{}
	d := &Deps{SM: sm, Log: slog.New(slog.NewJSONHandler(logs, nil)), Settings: s, Auth: newAuthenticator(s), Metrics: newMetrics(sm.Rooms)}
	srv := httptest.NewServer(NewServer(d))
	t.Cleanup(srv.Close)
	st := &stage{env: env, srv: srv, logs: logs, deps: d}
	t.Cleanup(func() {
		// Whatever happened, no secret may have reached a log line.
		assert.NotContains(t, logs.String(), env.APISecret)
		assert.NotContains(t, logs.String(), testAPIKey)
	})
	return st
}

// call sends a request with the test API key unless headers say otherwise.
func (s *stage) call(t *testing.T, method, path string, body any, headers ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(headers) == 0 {
		headers = []string{"X-API-Key", testAPIKey}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e errorBody
	require.NoError(t, json.Unmarshal(body, &e), "error body must be JSON: %s", body)
	require.NotEmpty(t, e.Error.Code, "error body: %s", body)
	return e.Error.Code
}

// An operator opens a stage, hands out tokens, looks at it and closes it, through
// both the dashboard's paths and the API gateway's /api/stream paths.
func TestOperatorRunsAShow(t *testing.T) {
	s := newStage(t, nil)

	code, body := s.call(t, "GET", "/api/health", nil, "X-None", "")
	require.Equal(t, 200, code, "%s", body)

	for _, prefix := range []string{"/api", "/api/stream"} {
		name := "jam" + strings.ReplaceAll(prefix, "/", "-")
		code, body = s.call(t, "POST", prefix+"/rooms", map[string]any{"name": name, "departureTimeout": 60, "maxParticipants": 20})
		require.Equal(t, 201, code, "%s", body)
		var room map[string]any
		require.NoError(t, json.Unmarshal(body, &room))
		assert.Equal(t, name, room["name"])
		assert.EqualValues(t, 60, room["departureTimeout"])

		code, body = s.call(t, "GET", prefix+"/rooms", nil)
		require.Equal(t, 200, code)
		assert.Contains(t, string(body), `"name":"`+name+`"`)

		code, body = s.call(t, "GET", prefix+"/rooms/"+name, nil)
		require.Equal(t, 200, code, "%s", body)
		assert.Contains(t, string(body), `"participants":[]`)

		code, body = s.call(t, "GET", prefix+"/rooms/"+name+"/participants", nil)
		require.Equal(t, 200, code, "%s", body)
		assert.Equal(t, "[]\n", string(body))

		for _, role := range []string{"performer", "listener", "moderator"} {
			code, body = s.call(t, "POST", prefix+"/tokens", map[string]any{"role": role, "room": name, "identity": "ada", "ttl": 600})
			require.Equal(t, 201, code, "%s", body)
			var tok tokenResponse
			require.NoError(t, json.Unmarshal(body, &tok))
			assert.Equal(t, "wss://livekit.example.test", tok.WSURL)
			assert.WithinDuration(t, time.Now().Add(10*time.Minute), tok.ExpiresAt, 5*time.Second)
			claims, err := s.deps.SM.Tokens.Verify(tok.Token)
			require.NoError(t, err)
			assert.Equal(t, name, claims.Grant.Room)
			assert.Equal(t, role != "listener", *claims.Grant.CanPublish, role)
			assert.NotContains(t, s.logs.String(), tok.Token, "tokens must not be logged")
		}

		code, body = s.call(t, "POST", prefix+"/rooms/"+name+"/participants", map[string]any{"action": "mute", "identity": "nobody"})
		assert.Equal(t, 404, code, "%s", body)

		code, _ = s.call(t, "DELETE", prefix+"/rooms/"+name, nil)
		require.Equal(t, 204, code)
		code, body = s.call(t, "GET", prefix+"/rooms/"+name, nil)
		assert.Equal(t, 404, code)
		assert.Equal(t, "not_found", errorCode(t, body))
	}

	code, body = s.call(t, "GET", "/metrics", nil)
	require.Equal(t, 200, code)
	assert.Contains(t, string(body), `dashboard_http_requests_total{method="POST",route="/api/stream/tokens",status="201"} 3`)
	assert.Contains(t, string(body), "dashboard_livekit_up 1")
}

// The OpenAPI document lists exactly the routes the server answers.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := newStage(t, nil)
	code, body := s.call(t, "GET", "/api/openapi.json", nil, "X-None", "")
	require.Equal(t, 200, code)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	assert.Equal(t, "3.0.3", doc.OpenAPI)

	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			assert.Contains(t, op, "responses", path)
			// The server answers it: anything but "no such route".
			code, body := s.call(t, strings.ToUpper(method), strings.ReplaceAll(path, "{name}", "no-such-room"), "{}")
			if code == 404 {
				assert.NotEqual(t, "route_not_found", errorCode(t, body), "%s %s is documented but not served", method, path)
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range routes() {
		for _, p := range rt.prefixes() {
			served[rt.method+" "+p+rt.path] = true
		}
	}
	assert.Equal(t, served, documented)

	code, body = s.call(t, "GET", "/api/not-a-route", nil)
	assert.Equal(t, 404, code)
	assert.Equal(t, "route_not_found", errorCode(t, body))
}

// Bad input gets a clear 4xx and never a 5xx.
func TestBadInputIsRefused(t *testing.T) {
	s := newStage(t, func(s *settings) { s.BodyLimit = 1024 })
	for name, c := range map[string]struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		"malformed json":    {"POST", "/api/rooms", `{"name":`, 400, "malformed_json"},
		"not json at all":   {"POST", "/api/rooms", `name=x`, 400, "malformed_json"},
		"two json values":   {"POST", "/api/rooms", `{"name":"a"}{"name":"b"}`, 400, "malformed_json"},
		"empty body":        {"POST", "/api/tokens", ``, 400, "invalid_argument"},
		"unknown field":     {"POST", "/api/rooms", `{"name":"x","colour":"red"}`, 400, "unknown_field"},
		"wrong type":        {"POST", "/api/rooms", `{"name":42}`, 400, "invalid_argument"},
		"oversized body":    {"POST", "/api/rooms", `{"name":"x","metadata":"` + strings.Repeat("m", 2048) + `"}`, 413, "body_too_large"},
		"name with space":   {"POST", "/api/rooms", map[string]any{"name": "friday jam"}, 400, "invalid_argument"},
		"name too long":     {"POST", "/api/rooms", map[string]any{"name": strings.Repeat("a", 129)}, 400, "invalid_argument"},
		"negative timeout":  {"POST", "/api/rooms", map[string]any{"name": "x", "emptyTimeout": -1}, 400, "invalid_argument"},
		"huge timeout":      {"POST", "/api/rooms", map[string]any{"name": "x", "emptyTimeout": 1 << 40}, 400, "invalid_argument"},
		"unknown role":      {"POST", "/api/tokens", map[string]any{"role": "king", "room": "r", "identity": "a"}, 400, "invalid_argument"},
		"listener too long": {"POST", "/api/tokens", map[string]any{"role": "listener", "room": "r", "identity": "a", "ttl": 90000}, 400, "invalid_argument"},
		"no identity":       {"POST", "/api/tokens", map[string]any{"role": "performer", "room": "r"}, 400, "invalid_argument"},
		"unknown action":    {"POST", "/api/rooms/r/participants", map[string]any{"action": "dance", "identity": "a"}, 400, "invalid_argument"},
		"missing room":      {"GET", "/api/rooms/no-such-room/participants", nil, 404, "not_found"},
		"bad path name":     {"GET", "/api/rooms/a%20b", nil, 400, "invalid_argument"},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := s.call(t, c.method, c.path, c.body)
			assert.Equal(t, c.status, code, "%s", body)
			assert.Equal(t, c.code, errorCode(t, body))
		})
	}
}

// LiveKit goes down mid-show: health says so at once, routes answer a clear 503,
// and the dashboard recovers by itself when LiveKit is back.
func TestLiveKitOutage(t *testing.T) {
	s := newStage(t, nil)
	if s.env.Stop == nil {
		t.Skip("the external/docker LiveKit is not ours to stop") // never in CI: CI uses the process backend
	}
	s.env.Stop()
	client := &http.Client{Timeout: time.Second} // "within a second": a bound, not a benchmark
	resp, err := client.Get(s.srv.URL + "/api/health")
	require.NoError(t, err)
	var h healthResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "readiness", h.LiveKit)

	code, body := s.call(t, "GET", "/api/rooms", nil)
	assert.Equal(t, 503, code)
	assert.Equal(t, "livekit_unavailable", errorCode(t, body))

	s.env.Start()
	code, _ = s.call(t, "GET", "/api/health", nil)
	assert.Equal(t, 200, code)
	code, _ = s.call(t, "GET", "/api/rooms", nil)
	assert.Equal(t, 200, code)
}

// Bounded load on loopback: every request answered, none failed.
func TestLoadWithoutErrors(t *testing.T) {
	s := newStage(t, nil)
	const clients, window = 8, 2 * time.Second
	deadline := time.Now().Add(window)
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; n < 5000 && time.Now().Before(deadline); n++ {
				var code int
				if n%2 == 0 {
					code, _ = s.call(t, "GET", "/api/rooms", nil)
				} else {
					code, _ = s.call(t, "POST", "/api/tokens", map[string]any{"role": "listener", "room": "load", "identity": "l" + string(rune('a'+i))})
				}
				mu.Lock()
				counts[code]++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	total := counts[200] + counts[201]
	assert.Greater(t, total, 0)
	assert.Equal(t, map[int]int{200: counts[200], 201: counts[201]}, counts, "only successes expected")
	t.Logf("%d requests in %s from %d clients", total, window, clients)
}

// The rate limit answers 429 with Retry-After once a client's burst is spent.
func TestRateLimit(t *testing.T) {
	s := newStage(t, func(s *settings) { s.RateLimit, s.RateBurst = 1, 3 })
	var codes []int
	for i := 0; i < 5; i++ {
		code, _ := s.call(t, "GET", "/api/rooms", nil)
		codes = append(codes, code)
	}
	assert.Equal(t, []int{200, 200, 200, 429, 429}, codes)
}

// --- auth ---

type idp struct {
	key    *rsa.PrivateKey
	server *httptest.Server
}

func newIDP(t *testing.T) *idp {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &idp{key: key}
	p.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := base64.RawURLEncoding.EncodeToString(key.N.Bytes())
		e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{"kid": "k1", "kty": "RSA", "alg": "RS256", "n": n, "e": e}}})
	}))
	t.Cleanup(p.server.Close)
	return p
}

func (p *idp) token(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// Every non-public route refuses strangers; each of the gateway's three methods
// lets the right people in; destructive routes need the admin group.
func TestAuthMatrix(t *testing.T) {
	p := newIDP(t)
	s := newStage(t, func(s *settings) {
		s.JWKSURL, s.JWTIssuer, s.JWTAudience = p.server.URL, "https://auth.example.test", "dashboard"
		s.AdminGroup = "stream-admins"
	})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "https://auth.example.test", "aud": "dashboard", "sub": "u1", "preferred_username": "ada",
			"groups": []string{"stream-admins"}, "exp": time.Now().Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	admin := p.token(t, p.key, claims(nil))
	member := p.token(t, p.key, claims(func(c jwt.MapClaims) { c["groups"] = []string{"listeners"} }))
	refused := map[string]string{
		"expired bearer":        p.token(t, p.key, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"wrongly signed bearer": p.token(t, other, claims(nil)),
		"wrong issuer":          p.token(t, p.key, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.test" })),
		"wrong audience":        p.token(t, p.key, claims(func(c jwt.MapClaims) { c["aud"] = "other" })),
		"garbage bearer":        "not-a-jwt",
	}

	for _, rt := range routes() {
		path := strings.ReplaceAll("/api"+rt.path, "{name}", "auth-room")
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			send := func(headers ...string) (int, []byte) {
				var body any
				if rt.request != nil {
					body = "{}"
				}
				return s.call(t, rt.method, path, body, headers...)
			}
			if rt.public {
				code, _ := send("X-None", "")
				assert.NotEqual(t, 401, code)
				return
			}
			code, body := send("X-None", "")
			assert.Equal(t, 401, code, "no credentials")
			assert.Equal(t, "unauthenticated", errorCode(t, body))
			code, _ = send("X-authentik-username", "mallory", "X-authentik-groups", "stream-admins")
			assert.Equal(t, 401, code, "forward-auth headers from an untrusted address")
			code, _ = send("X-API-Key", "wrong-key-0123456789")
			assert.Equal(t, 401, code, "wrong API key")
			for why, tok := range refused {
				code, _ = send("Authorization", "Bearer "+tok)
				assert.Equal(t, 401, code, why)
			}
			for _, how := range [][]string{{"X-API-Key", testAPIKey}, {"Authorization", "Bearer " + admin}} {
				code, body = send(how...)
				assert.NotContains(t, []int{401, 403}, code, "%v: %s", how[0], body)
			}
			code, _ = send("Authorization", "Bearer "+member)
			if rt.admin {
				assert.Equal(t, 403, code, "non-admin on a destructive route")
			} else {
				assert.NotContains(t, []int{401, 403}, code)
			}
		})
	}

	// ?api_key= works, and never reaches the logs.
	code, _ := s.call(t, "GET", "/api/rooms?api_key="+testAPIKey, nil, "X-None", "")
	assert.Equal(t, 200, code)
	// Removing a participant is destructive too.
	code, body := s.call(t, "POST", "/api/rooms/auth-room/participants", map[string]any{"action": "remove", "identity": "bob"}, "Authorization", "Bearer "+member)
	assert.Equal(t, 403, code, "%s", body)
}

// Forward auth works from the trusted proxy only.
func TestForwardAuthFromTrustedProxy(t *testing.T) {
	s := newStage(t, func(s *settings) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	code, body := s.call(t, "GET", "/api/rooms", nil, "X-authentik-username", "ada", "X-authentik-groups", "crew")
	assert.Equal(t, 200, code, "%s", body)
	assert.Contains(t, s.logs.String(), `"user":"ada"`)
}
