package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// waitUp waits for a dashboard started by run to answer.
func waitUp(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			require.FailNow(t, "run returned early", "%v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/api/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, 60*time.Second, 50*time.Millisecond)
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

// The README's run command: -dev starts a real LiveKit for the process and serves
// the dashboard without auth on loopback, saying so loudly; stopping it stops all.
func TestDevMode(t *testing.T) {
	testenv.RequireNetNS(t) // dev mode starts LiveKit Ingress when installed, which carries media
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	out := &syncBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dashboard", "-dev", "-addr", addr}, func(string) string { return "" }, out)
	}()
	waitUp(t, addr, done)

	resp, err := http.Get("http://" + addr + "/api/rooms") // no credentials
	require.NoError(t, err)
	body := mustRead(t, resp)
	assert.Equal(t, 200, resp.StatusCode, "%s", body)
	assert.Equal(t, "no authentication", resp.Header.Get("X-Dashboard-Dev-Mode"))
	assert.Contains(t, out.String(), `"level":"WARN","msg":"DEV MODE: NO AUTHENTICATION`)
	assert.Contains(t, out.String(), "dashboard: serving on http://"+addr)
	resp, err = http.Get("http://" + addr + "/api/me")
	require.NoError(t, err)
	assert.Contains(t, string(mustRead(t, resp)), `"role":"admin"`, "the dev user is an admin")

	resp, err = http.Post("http://"+addr+"/api/tokens", "application/json", strings.NewReader(`{"role":"performer","room":"dev","identity":"ada"}`))
	require.NoError(t, err)
	body = mustRead(t, resp)
	assert.Equal(t, 201, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"wsUrl":"ws://127.0.0.1:`)

	if !strings.Contains(out.String(), "running without LiveKit Ingress") {
		resp, err = http.Post("http://"+addr+"/api/ingress", "application/json", strings.NewReader(`{"kind":"rtmp","room":"dev","identity":"obs"}`))
		require.NoError(t, err)
		body = mustRead(t, resp)
		assert.Equal(t, 201, resp.StatusCode, "%s", body)
		assert.Contains(t, string(body), `"serverUrl":"rtmp://127.0.0.1:`)
	}

	stop()
	require.NoError(t, <-done)
	_, err = http.Get("http://" + addr + "/api/health")
	assert.Error(t, err, "stopped")
}

// The README documents every setting.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, k := range knobs {
		assert.Contains(t, string(readme), "`"+k.env+"`", "README.md lacks %s", k.env)
		assert.Contains(t, string(readme), "`-"+k.flag+"`", "README.md lacks -%s", k.flag)
	}
	for _, rt := range (&server{}).routes() {
		assert.Contains(t, string(readme), rt.path, "README.md lacks the route %s", rt.path)
	}
}
