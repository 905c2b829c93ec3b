package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/access/authtest"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// Credentials that are present but wrong are refused, never skipped in favour of
// a method tried later: a wrong API key sent with a valid Bearer token is a 401,
// not the Bearer's user. Forward-auth headers that are not the proxy's are
// ignored (anyone can send them), and then the next method decides.
func TestWrongCredentialsAreNeverSkipped(t *testing.T) {
	p := authtest.NewIDP(t)
	s := defaultSettings()
	s.JWKSURL, s.JWTIssuer, s.JWTAudience = p.Server.URL, authtest.Issuer, authtest.Audience
	s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
	a := access.New(s.AuthConfig(), discardLog())
	good := "Bearer " + authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", p.RSA, authtest.Claims([]string{adminGroup}, nil))
	bad := "Bearer " + authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", p.RSA, authtest.Claims(nil, func(c jwt.MapClaims) { c["aud"] = "grafana" }))
	ask := func(from string, headers ...string) (api.User, error) {
		t.Helper()
		r := httptest.NewRequestWithContext(context.Background(), "GET", "/api/rooms", nil)
		r.RemoteAddr = from
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		return a.Authenticate(r, false)
	}
	const proxy, stranger = "127.0.0.1:5000", "198.51.100.7:5000"

	for name, c := range map[string]struct {
		from    string
		headers []string
	}{
		"wrong API key with a valid Bearer":      {stranger, []string{"X-API-Key", "wrong-key-0123456789", "Authorization", good}},
		"wrong API key with a viewer key's user": {stranger, []string{"X-API-Key", testViewerKey + "x", "Authorization", good}},
		"untrusted forward-auth, wrong API key, valid Bearer": {stranger, []string{"X-authentik-username", "mallory",
			"X-authentik-groups", adminGroup, access.ProxySecretHeader, testProxySecret, "X-API-Key", "wrong-key-0123456789", "Authorization", good}},
		"proxy without its secret, wrong Bearer": {proxy, []string{"X-authentik-username", "mallory", "X-authentik-groups", adminGroup, "Authorization", bad}},
	} {
		u, err := ask(c.from, c.headers...)
		assert.Error(t, err, "%s: let in as %+v", name, u)
	}

	// The order: forward-auth (when it is the proxy's), then the API key, then Bearer.
	u, err := ask(proxy, "X-authentik-username", "ada", "X-authentik-groups", "crew", access.ProxySecretHeader, testProxySecret,
		"X-API-Key", "wrong-key-0123456789", "Authorization", bad)
	require.NoError(t, err)
	assert.Equal(t, "forward-auth", u.Method)
	u, err = ask(stranger, "X-authentik-username", "mallory", "X-authentik-groups", adminGroup, "X-API-Key", testViewerKey, "Authorization", good)
	require.NoError(t, err)
	assert.Equal(t, api.User{Name: "api-key", Method: "api-key", Role: api.Viewer, KeyID: access.KeyID(testViewerKey)}, u, "the viewer key decides, not the admin's Bearer after it")
	u, err = ask(stranger, "X-authentik-username", "mallory", "Authorization", good)
	require.NoError(t, err)
	assert.Equal(t, "bearer", u.Method)
	assert.Equal(t, "ada", u.Name)
}

// LiveKit refusing our key: /api/health names the failed check ("api", LiveKit
// answered but refused the call) and the routes answer 502 upstream_auth, not a
// 401 the caller could mistake for their own. The bucket refusing our keys is a
// 502 storage_auth.
func TestUpstreamRefusingOurCredentialsIs502(t *testing.T) {
	env := testenv.LiveKit(t)
	wrong := *env
	wrong.APISecret = "not-the-secret-livekit-knows-0123456789"
	m := testenv.MinIO(t)
	store := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: "not-the-minio-secret-0123"}
	s := newStageWith(t, &wrong, store, nil)

	code, body := s.call(t, "GET", "/api/health", nil, noAuth...)
	assert.Equal(t, 503, code, "%s", body)
	h := decodeAs[healthResponse](t, body)
	assert.Equal(t, "unavailable", h.Status)
	assert.Equal(t, "api", h.LiveKit, "names the failed check")
	assert.Equal(t, "LiveKit refused our credentials", h.Error)
	code, body = s.call(t, "GET", "/api/rooms", nil)
	assert.Equal(t, 502, code, "%s", body)
	assert.Equal(t, "upstream_auth", errorCode(t, body))
	code, body = s.call(t, "GET", "/api/recordings?room=jam", nil)
	assert.Equal(t, 502, code, "%s", body)
	assert.Equal(t, "storage_auth", errorCode(t, body))
}

// fakeDestinations is a restream whose destination changes are recorded in order.
type fakeDestinations struct {
	media.Egresses
	mu    sync.Mutex
	calls []string
}

func (f *fakeDestinations) Get(ctx context.Context, id string) (egress.Egress, error) {
	return egress.Egress{ID: id, Kind: "restream", Status: egress.Active, Streams: []egress.Stream{{URL: "rtmp://a.rtmp.youtube.com/live2/{redacted}"}}}, nil
}

func (f *fakeDestinations) AddDestinations(ctx context.Context, id string, urls ...string) (egress.Egress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "add "+strings.Join(urls, " "))
	return egress.Egress{ID: id}, nil
}

func (f *fakeDestinations) RemoveDestinations(ctx context.Context, id string, urls ...string) (egress.Egress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "remove "+strings.Join(urls, " "))
	return egress.Egress{ID: id}, nil
}

// noRecordings stands in for a bucket the test never reads.
type noRecordings struct{ archive.Recordings }

// Swapping platforms in one request adds the new destination before removing the
// old one, so the show is never left sending nowhere.
func TestDestinationsAddFirst(t *testing.T) {
	f := &fakeDestinations{}
	st := defaultSettings()
	st.RestreamAllow = mustHostList(t, "a.rtmp.youtube.com,live.twitch.tv")
	srv := httptest.NewServer(NewServer(Deps{Log: discardLog(), Settings: st, Egress: f, Recordings: noRecordings{}, Resolver: fakeDNS}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequest("POST", srv.URL+"/api/egress/EG_show/destinations",
		strings.NewReader(`{"remove":["rtmp://a.rtmp.youtube.com/live2/old"],"add":["rtmp://live.twitch.tv/app/new"]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body := mustRead(t, resp)
	require.Equal(t, 200, resp.StatusCode, "%s", body)
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Equal(t, []string{"add rtmp://live.twitch.tv/app/new", "remove rtmp://a.rtmp.youtube.com/live2/old"}, f.calls)
}

// DASHBOARD_LOG_LEVEL, DASHBOARD_READ_TIMEOUT and DASHBOARD_IDLE_TIMEOUT take
// effect in the server run starts: at warn the request lines are gone and the
// warnings stay; a client that stops halfway through its headers, or an idle
// keep-alive connection, is closed after its timeout (plus a margin: a bound,
// not a measurement).
func TestLogLevelAndTimeoutsTakeEffect(t *testing.T) {
	start := func(extra map[string]string) (string, *testenv.Buffer) {
		t.Helper()
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		env := map[string]string{"LIVEKIT_URL": "http://" + testenv.HungServer(t), "LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "a-secret-for-tests-only-0123456789abcdef",
			"DASHBOARD_ADDR": addr, "DASHBOARD_API_KEYS": testAPIKey + ":admin", "DASHBOARD_ADMIN_GROUP": adminGroup,
			"DASHBOARD_HEALTH_TIMEOUT": "200ms"} // LiveKit is a hung server here: waitUp asks for health
		maps.Copy(env, extra)
		out := &testenv.Buffer{}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"dashboard"}, func(k string) string { return env[k] }, out) }()
		t.Cleanup(func() { stop(); <-done })
		waitUp(t, addr, done)
		return addr, out
	}
	mint := func(addr string) {
		t.Helper()
		req, err := http.NewRequest("POST", "http://"+addr+"/api/tokens", strings.NewReader(`{"role":"listener","room":"jam","identity":"bob"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", testAPIKey)
		req.Header.Set("X-authentik-username", "mallory") // not from a proxy: a warning
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		assert.Equal(t, 201, resp.StatusCode, "%s", mustRead(t, resp))
	}

	addr, out := start(nil)
	mint(addr)
	assert.Contains(t, out.String(), `"level":"INFO","msg":"token minted"`, "info: the default")
	// The mint is the request's one line: what was minted, then how it was asked.
	assert.Regexp(t, `"level":"INFO","msg":"token minted",.*"method":"POST","path":"/api/tokens","status":201`, out.String())

	const timeout, margin = time.Second, 2 * time.Second
	addr, out = start(map[string]string{"DASHBOARD_LOG_LEVEL": "warn", "DASHBOARD_READ_TIMEOUT": "1s", "DASHBOARD_IDLE_TIMEOUT": "1s"})
	mint(addr)
	assert.Contains(t, out.String(), `"level":"WARN","msg":"forward-auth headers from an untrusted address ignored"`)
	assert.NotContains(t, out.String(), `"level":"INFO"`, "warn: no info lines")

	closedWithin := func(c net.Conn) time.Duration {
		t.Helper()
		began := time.Now()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(timeout+margin)))
		_, err := io.Copy(io.Discard, c) // until the server closes it
		require.NoError(t, err, "the server kept the connection open past its timeout")
		return time.Since(began)
	}
	half, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer half.Close()
	_, err = half.Write([]byte("POST /api/tokens HTTP/1.1\r\nHost: dashboard\r\n")) // and nothing more
	require.NoError(t, err)
	assert.Less(t, closedWithin(half), timeout+margin, "a request still arriving after DASHBOARD_READ_TIMEOUT")

	idle, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer idle.Close()
	_, err = idle.Write([]byte("GET /api/openapi.json HTTP/1.1\r\nHost: dashboard\r\n\r\n"))
	require.NoError(t, err)
	assert.Less(t, closedWithin(idle), timeout+margin, "an idle keep-alive connection after DASHBOARD_IDLE_TIMEOUT")

	// LiveKit hangs for DASHBOARD_LIVEKIT_TIMEOUT (3 s); the answer, a 503, comes
	// after DASHBOARD_WRITE_TIMEOUT: with 1 s it is never sent, with 30 s it is.
	rooms := func(addr string) (int, error) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+"/api/rooms", nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", testAPIKey)
		resp, err := (&http.Client{Timeout: 3*time.Second + 2*margin}).Do(req)
		if err != nil {
			return 0, err
		}
		mustRead(t, resp)
		return resp.StatusCode, nil
	}
	addr, _ = start(map[string]string{"DASHBOARD_LIVEKIT_TIMEOUT": "3s", "DASHBOARD_WRITE_TIMEOUT": "30s"})
	code, err := rooms(addr)
	require.NoError(t, err)
	assert.Equal(t, 503, code)
	addr, _ = start(map[string]string{"DASHBOARD_LIVEKIT_TIMEOUT": "3s", "DASHBOARD_WRITE_TIMEOUT": "1s"})
	code, err = rooms(addr)
	assert.Error(t, err, "an answer (%d) written after DASHBOARD_WRITE_TIMEOUT", code)
}

// SIGTERM waits DASHBOARD_SHUTDOWN_TIMEOUT for a request in flight, then gives
// up and says so (a bound, not a measurement).
func TestShutdownTimeoutTakesEffect(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	env := map[string]string{"LIVEKIT_URL": "http://" + testenv.HungServer(t), "LIVEKIT_API_KEY": "devkey",
		"LIVEKIT_API_SECRET": "a-secret-for-tests-only-0123456789abcdef", "DASHBOARD_ADDR": addr, "DASHBOARD_API_KEYS": testAPIKey,
		"DASHBOARD_ADMIN_GROUP": adminGroup, "DASHBOARD_SHUTDOWN_TIMEOUT": "1s", "DASHBOARD_LIVEKIT_TIMEOUT": "30s"}
	ctx, sigterm := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dashboard"}, func(k string) string { return env[k] }, io.Discard) }()
	waitUp(t, addr, done)
	// A request that LiveKit (hung) keeps in flight far longer than the grace.
	go func() {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/rooms", nil)
		req.Header.Set("X-API-Key", testAPIKey)
		if resp, err := (&http.Client{Timeout: 40 * time.Second}).Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond) // the request is in flight
	sigterm()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "requests still running after 1s")
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waited past DASHBOARD_SHUTDOWN_TIMEOUT")
	}
}
