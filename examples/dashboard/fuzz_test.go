package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// fuzzBody posts arbitrary bytes to a route of a dashboard on a real LiveKit: the
// answer is never a 5xx, and every error has the one JSON shape.
func fuzzBody(f *testing.F, method, path string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	st := newStage(f, nil) // one LiveKit for every input
	f.Fuzz(func(t *testing.T, body string) {
		code, out := st.call(t, method, path, body)
		assert.Less(t, code, 500, "body %q → %d %s", body, code, out)
		if code >= 400 {
			var e errorBody
			require.NoError(t, json.Unmarshal(out, &e), "%s", out)
			assert.NotEmpty(t, e.Error.Code)
		}
	})
}

func FuzzCreateRoom(f *testing.F) {
	fuzzBody(f, "POST", "/api/rooms", `{"name":"jam"}`, `{"name":"a b"}`, `{"name":""}`, `{"name":"x","emptyTimeout":-5}`,
		`{"name":"x","minPlayoutDelay":500,"maxPlayoutDelay":100}`, `[]`, `null`, `{"name":"\u0000"}`, "\xff")
}

func FuzzTokens(f *testing.F) {
	fuzzBody(f, "POST", "/api/tokens", `{"role":"listener","room":"jam","identity":"bob","ttl":60}`,
		`{"role":"performer","room":"jam","identity":"ada","name":"Ada","metadata":"{}"}`, `{"role":"moderator"}`,
		`{"role":"listener","room":"jam","identity":"b","ttl":99999999999}`, `{"ttl":"soon"}`)
}

func FuzzParticipantAction(f *testing.F) {
	fuzzBody(f, "POST", "/api/rooms/jam/participants", `{"action":"mute","identity":"ada"}`, `{"action":"remove","identity":"ada"}`,
		`{"action":"promote","identity":""}`, `{"action":"unmute","identity":"ada","trackSid":"TR_x"}`, `{"action":"x"}`)
}

// Path parameters: any room name, escaped into the URL, gets a 2xx or a clear 4xx.
func FuzzPathName(f *testing.F) {
	for _, s := range []string{"jam", "a b", "", "..", "%", strings.Repeat("x", 300), "ü", "a/b", "\x00"} {
		f.Add(s)
	}
	st := newStage(f, nil)
	f.Fuzz(func(t *testing.T, name string) {
		for _, m := range []string{"GET /api/rooms/%s", "GET /api/rooms/%s/participants", "DELETE /api/stream/rooms/%s"} {
			method, path, _ := strings.Cut(fmt.Sprintf(m, url.PathEscape(name)), " ")
			code, out := st.call(t, method, path, nil)
			assert.Less(t, code, 500, "%s %s → %d %s", method, path, code, out)
		}
	})
}

// SIGTERM while a request is still arriving: the server stops accepting, but the
// request completes.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	env := testenv.LiveKit(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	getenv := func(k string) string {
		return map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
			"DASHBOARD_ADDR": addr, "DASHBOARD_API_KEYS": testAPIKey}[k]
	}
	ctx, sigterm := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dashboard"}, getenv, io.Discard) }()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/api/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)

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
	time.Sleep(200 * time.Millisecond) // the request is in flight
	sigterm()
	time.Sleep(200 * time.Millisecond)
	_, _ = w.Write([]byte(`"identity":"bob"}`))
	w.Close()

	assert.Equal(t, 201, <-answered, "the in-flight request completes")
	require.NoError(t, <-done)
	_, err = http.Get("http://" + addr + "/api/health")
	assert.Error(t, err, "no longer accepting")
}

// Invalid settings stop start-up, naming the setting.
func TestInvalidSettingsStopStartUp(t *testing.T) {
	for env, want := range map[string]string{
		"DASHBOARD_TRUSTED_PROXIES": "DASHBOARD_TRUSTED_PROXIES",
		"DASHBOARD_RATE_LIMIT":      "DASHBOARD_RATE_LIMIT",
		"DASHBOARD_JWKS_URL":        "DASHBOARD_JWKS_URL",
		"DASHBOARD_API_KEYS":        "DASHBOARD_API_KEYS",
	} {
		err := run(context.Background(), []string{"dashboard"}, func(k string) string {
			if k == env {
				return "not valid here"
			}
			return ""
		}, io.Discard)
		require.Error(t, err, env)
		assert.Contains(t, err.Error(), want)
	}
	err := run(context.Background(), []string{"dashboard"}, func(string) string { return "" }, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "LIVEKIT_URL is not set")
}
