package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
)

// waitUp waits for a dashboard started by run to answer, failing at once if run
// returned (all in the test's goroutine: require may stop only that one).
func waitUp(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			require.FailNow(t, "run returned early", "%v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/api/health")
		if err == nil {
			resp.Body.Close()
			return
		}
		require.True(t, time.Now().Before(deadline), "the dashboard did not answer on %s within 60 s: %v", addr, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// SIGTERM while a request is still arriving: the server stops accepting new
// connections, but the request in flight completes.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	env := testenv.LiveKit(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	getenv := func(k string) string {
		return map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
			"DASHBOARD_ADDR": addr, "DASHBOARD_API_KEYS": testAPIKey, "DASHBOARD_ADMIN_GROUP": adminGroup}[k]
	}
	ctx, sigterm := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dashboard"}, getenv, io.Discard) }()
	waitUp(t, addr, done)

	body, w := io.Pipe()
	req, err := http.NewRequest("POST", "http://"+addr+"/api/tokens", body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", testAPIKey)
	answered := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	_, _ = w.Write([]byte(`{"role":"listener","room":"jam",`))
	time.Sleep(200 * time.Millisecond) // the request is in flight, its body half sent
	sigterm()
	require.Eventually(t, func() bool { // no longer accepting
		c, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/api/health")
		if err == nil {
			c.Body.Close()
		}
		return err != nil
	}, 5*time.Second, 20*time.Millisecond)
	_, _ = w.Write([]byte(`"identity":"bob"}`))
	w.Close()

	assert.Equal(t, 201, <-answered, "the in-flight request completes")
	require.NoError(t, <-done)
}

// The README's run command: -dev starts the whole real stack for the process
// (LiveKit, Redis, Ingress, Egress, MinIO) and serves the dashboard without auth
// on loopback, saying so loudly; stopping it stops every process it started.
func TestDevMode(t *testing.T) {
	testenv.RequireNetNS(t)  // dev mode starts LiveKit Ingress, which carries media
	testenv.HoldMediaSlot(t) // and Ingress and Egress, one test binary at a time
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	out := &testenv.Buffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dashboard", "-dev", "-addr", addr}, func(string) string { return "" }, out)
	}()
	waitUp(t, addr, done)
	if strings.Contains(out.String(), "dev mode: running without") {
		// A newcomer's scripts/dev installs everything; a missing component here is
		// a skip locally (with the warning) and a failure in CI.
		msg := "dev mode started without a component: " + out.String()
		if testenv.InCI() {
			require.FailNow(t, msg)
		}
		t.Skip(msg)
	}

	// Every answer says it comes from a dev server, the errors too.
	var unmarked []string
	dev := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && resp.Header.Get("X-Dashboard-Dev-Mode") != "no authentication" {
			unmarked = append(unmarked, fmt.Sprintf("%s %s: %d", r.Method, r.URL.Path, resp.StatusCode))
		}
		return resp, err
	})}
	resp, err := dev.Get("http://" + addr + "/api/rooms") // no credentials
	require.NoError(t, err)
	body := mustRead(t, resp)
	assert.Equal(t, 200, resp.StatusCode, "%s", body)
	assert.Equal(t, "no authentication", resp.Header.Get("X-Dashboard-Dev-Mode"))
	assert.Contains(t, out.String(), `"level":"WARN","msg":"DEV MODE: NO AUTHENTICATION`)
	assert.Contains(t, out.String(), "dashboard: serving on http://"+addr)
	resp, err = dev.Get("http://" + addr + "/api/me")
	require.NoError(t, err)
	assert.Contains(t, string(mustRead(t, resp)), `"role":"admin"`, "the dev user is an admin")
	// A DNS-rebinding page reaches this address under its own name: refused.
	rebound, err := http.NewRequest("GET", "http://"+addr+"/api/me", nil)
	require.NoError(t, err)
	rebound.Host = "evil.example.test"
	resp, err = dev.Do(rebound)
	require.NoError(t, err)
	body = mustRead(t, resp)
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"code":"host_not_loopback"`)

	resp, err = dev.Post("http://"+addr+"/api/tokens", "application/json", strings.NewReader(`{"role":"performer","room":"dev","identity":"ada"}`))
	require.NoError(t, err)
	body = mustRead(t, resp)
	assert.Equal(t, 201, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"wsUrl":"ws://127.0.0.1:`)

	// Ingest works: an RTMP ingress with its OBS server.
	resp, err = dev.Post("http://"+addr+"/api/ingress", "application/json", strings.NewReader(`{"kind":"rtmp","room":"dev","identity":"obs"}`))
	require.NoError(t, err)
	body = mustRead(t, resp)
	assert.Equal(t, 201, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"serverUrl":"rtmp://127.0.0.1:`)
	// Recording is on: the egress and recordings routes answer (not 501).
	for _, path := range []string{"/api/egress", "/api/recordings"} {
		resp, err = dev.Get("http://" + addr + path)
		require.NoError(t, err)
		body = mustRead(t, resp)
		assert.Equal(t, 200, resp.StatusCode, "%s: %s", path, body)
	}

	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/", 200}, {"GET", "/metrics", 200}, {"GET", "/api/openapi.json", 200}, {"GET", "/static/app.js", 200},
		{"GET", "/api/nothing-here", 404}, {"PUT", "/api/rooms", 405}, {"GET", "/api/rooms/a%20b", 400}, {"GET", "/api/rooms/no-such-room", 404}} {
		req, err := http.NewRequest(c.method, "http://"+addr+c.path, nil)
		require.NoError(t, err)
		resp, err := dev.Do(req)
		require.NoError(t, err)
		assert.Equal(t, c.status, resp.StatusCode, "%s %s: %s", c.method, c.path, mustRead(t, resp))
	}
	assert.Empty(t, unmarked, "answers without the dev-mode header")
	// LiveKit's TURN runs as the seed's (UDP and TLS), and health says both answer.
	resp, err = dev.Get("http://" + addr + "/api/health")
	require.NoError(t, err)
	h := decodeAs[healthResponse](t, mustRead(t, resp))
	require.Len(t, h.TURN, 2, "%+v", h)
	for _, turn := range h.TURN {
		assert.True(t, turn.Reachable, "%+v", turn)
	}

	// Every component's address, from the dev mode's log lines.
	ports := devModePorts(t, out.String())
	for _, name := range []string{"livekit", "redis", "turn tls", "ingress rtmp", "ingress whip", "ingress health", "minio", "egress health"} {
		require.Contains(t, ports, name, "dev mode did not log the %s address", name)
		assert.True(t, listening(ports[name]), "%s is not listening on %s", name, ports[name])
	}

	stop()
	require.NoError(t, <-done)
	_, err = http.Get("http://" + addr + "/api/health")
	assert.Error(t, err, "stopped")
	for name, hostport := range ports {
		assert.False(t, listening(hostport), "%s still listens on %s after the dashboard stopped", name, hostport)
	}
}

// roundTripper is a function as an http.RoundTripper.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// devModePorts reads the host:port of every component dev mode started from its
// JSON log lines.
func devModePorts(t *testing.T, logs string) map[string]string {
	t.Helper()
	out := map[string]string{}
	hostport := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return raw // already host:port
		}
		return u.Host
	}
	for _, line := range strings.Split(logs, "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		str := func(k string) string { s, _ := l[k].(string); return s }
		switch l["msg"] {
		case "dev mode: LiveKit is up":
			out["livekit"], out["redis"] = hostport(str("url")), str("redis")
		case "dev mode: LiveKit's TURN is up":
			out["turn tls"] = str("tls")
		case "dev mode: LiveKit Ingress is up":
			out["ingress rtmp"], out["ingress whip"], out["ingress health"] = hostport(str("rtmp")), hostport(str("whip")), hostport(str("health"))
		case "dev mode: Egress and MinIO are up":
			out["egress health"] = hostport(str("egressHealth"))
			if st, ok := l["storage"].(map[string]any); ok {
				ep, _ := st["endpoint"].(string)
				out["minio"] = hostport(ep)
			}
		}
	}
	return out
}

func listening(hostport string) bool {
	c, err := net.DialTimeout("tcp", hostport, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// The README documents every setting.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, k := range config.Knobs {
		assert.Contains(t, string(readme), "`"+k.Env+"`", "README.md lacks %s", k.Env)
		assert.Contains(t, string(readme), "`-"+k.Flag+"`", "README.md lacks -%s", k.Flag)
	}
	for _, rt := range (&server{}).routes() {
		assert.Contains(t, string(readme), rt.Path, "README.md lacks the route %s", rt.Path)
	}
}

// The production binary does not carry the dev launcher (it starts processes
// from a cache of binaries): only a build with -tags dev, as scripts/dev makes,
// links internal/stack, and a binary without it refuses -dev by saying so.
func TestTheProductionBinaryLeavesTheLauncherOut(t *testing.T) {
	const launcher = "github.com/spacemusic/streamkit/internal/stack"
	deps := func(tags ...string) []string {
		t.Helper()
		out, err := exec.Command("go", append(append([]string{"list", "-deps"}, tags...), ".")...).Output()
		require.NoError(t, err)
		return strings.Fields(string(out))
	}
	assert.NotContains(t, deps(), launcher, "the production build")
	assert.Contains(t, deps("-tags", "dev"), launcher, "scripts/dev's build")

	saved := devStack
	t.Cleanup(func() { devStack = saved })
	devStack = nil
	err := run(context.Background(), []string{"dashboard", "-dev", "-addr", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "built without dev mode (scripts/dev builds it with -tags dev)")
}

// healthcheckOf runs `dashboard healthcheck` with DASHBOARD_ADDR=addr.
func healthcheckOf(addr string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"dashboard", "healthcheck"},
		func(k string) string { return map[string]string{"DASHBOARD_ADDR": addr}[k] }, &out)
	return out.String(), err
}

// The container image's health check asks the dashboard it runs beside: healthy
// while LiveKit answers (also when the server listens on every address), not
// once LiveKit is gone.
func TestHealthcheckAsksItsOwnDashboard(t *testing.T) {
	env := testenv.LiveKit(t)
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	getenv := func(k string) string {
		return map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
			"DASHBOARD_ADDR": addr, "DASHBOARD_ADMIN_GROUP": adminGroup, "DASHBOARD_HEALTH_TIMEOUT": "500ms"}[k]
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dashboard"}, getenv, io.Discard) }()
	t.Cleanup(func() { stop(); <-done })
	waitUp(t, addr, done)

	out, err := healthcheckOf(addr)
	require.NoError(t, err)
	assert.Contains(t, out, "healthy")
	_, err = healthcheckOf(fmt.Sprintf("0.0.0.0:%d", port))
	assert.NoError(t, err, "a dashboard on every address is asked there")

	env.Stop()
	time.Sleep(1100 * time.Millisecond) // /api/health's answer may be 1 s old
	_, err = healthcheckOf(addr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "answered 503")
}

// Hostile or broken answers: a server that never answers costs the bound and
// no more; a redirect is a failure and is not followed (the check talks to
// DASHBOARD_ADDR only); nothing listening and a malformed address fail in words.
func TestHealthcheckIsBoundedAndStaysHome(t *testing.T) {
	start := time.Now()
	_, err := healthcheckOf(testenv.HungServer(t))
	took := time.Since(start)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not answer within 4s")
	assert.Less(t, took, healthcheckBound+time.Second)

	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/api/health", http.StatusFound))
	defer redirect.Close()
	_, err = healthcheckOf(strings.TrimPrefix(redirect.URL, "http://"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "answered 302")
	assert.Zero(t, followed.Load(), "the redirect was followed")

	_, err = healthcheckOf(fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection refused")

	_, err = healthcheckOf("no-port")
	require.EqualError(t, err, `healthcheck: invalid DASHBOARD_ADDR "no-port": not host:port`)
}
