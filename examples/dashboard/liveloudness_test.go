package main

import (
	"fmt"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Bo's gain is far too high on a show the dashboard records itself. The
// dashboard hears it live: the show's timeline (the shared log) says
// clipping_started with the peak, /metrics' clipped seconds for the show rise
// while he plays, and once the show closes its series are gone and its story
// says how long it clipped.
func TestAClippingShowSaysSoInItsTimelineAndMetrics(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	env := testenv.LiveKit(t, testenv.WithRedis(), hook.option())
	m := testenv.MinIO(t)
	d := &showDashboard{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), out: &testenv.Buffer{}}
	vars := map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
		"MINIO_ENDPOINT": m.Endpoint, "MINIO_BUCKET": "recordings", "MINIO_ACCESS_KEY": m.AccessKey, "MINIO_SECRET_KEY": m.SecretKey,
		"REDIS_URL": "redis://" + env.RedisAddr, "DASHBOARD_ADDR": d.addr, "DASHBOARD_ADMIN_GROUP": adminGroup,
		"DASHBOARD_API_KEYS":  testOperatorKey + ":operator," + testViewerKey + ":viewer",
		"DASHBOARD_SPOOL_DIR": t.TempDir(), "DASHBOARD_FFMPEG": testenv.Binary(t, "ffmpeg", "ffmpeg")}
	d.getenv = func(k string) string { return vars[k] }
	target, err := url.Parse("http://" + d.addr)
	require.NoError(t, err)
	hook.serve(httputil.NewSingleHostReverseProxy(target))
	d.start(t)

	code, body := d.call(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "bo-set",
		"performers": []map[string]any{{"identity": "bo", "name": "Bo"}}, "record": []string{"audio"}})
	require.Equal(t, 201, code, "%s", body)
	iss, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	tok, err := iss.Performer("bo-set", "bo")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, tok.JWT, nil), testenv.OverdrivenTone(t, 440, 60*time.Second))
	require.NoError(t, err)

	timeline := func() string {
		code, body := d.call(t, testViewerKey, "GET", "/api/rooms/bo-set/timeline", nil)
		require.Equal(t, 200, code, "%s", body)
		return string(body)
	}
	const series = `dashboard_show_clipped_seconds_total{show="bo-set"}`
	metrics := func() string {
		code, body := d.call(t, testViewerKey, "GET", "/metrics", nil)
		require.Equal(t, 200, code)
		return string(body)
	}
	require.True(t, poll(t, 30*time.Second, "the show never said it clips", func() (bool, string) {
		tl := timeline()
		return strings.Contains(tl, `"kind":"clipping_started"`) && strings.Contains(metrics(), series), tl
	}))
	assert.Contains(t, timeline(), `"truePeakDbtp"`, "the event says the peak")
	first := metricValue(t, []byte(metrics()), series)
	time.Sleep(3 * time.Second) // Bo plays on
	later := metricValue(t, []byte(metrics()), series)
	t.Logf("clipped seconds: %.1f, then %.1f", first, later)
	assert.Greater(t, later, first+2, "the clipped seconds rise while he clips")
	assert.Equal(t, 1.0, metricValue(t, []byte(metrics()), `dashboard_show_clipping{show="bo-set"}`))

	code, body = d.call(t, testOperatorKey, "DELETE", "/api/shows/bo-set", nil)
	require.Equal(t, 200, code, "%s", body)
	require.True(t, poll(t, 15*time.Second, "the show's story never said the clipping stopped", func() (bool, string) {
		tl := timeline()
		return strings.Contains(tl, `"kind":"clipping_stopped"`), tl
	}))
	require.True(t, poll(t, 10*time.Second, "the closed show kept its series", func() (bool, string) {
		body := metrics()
		return !strings.Contains(body, `show="bo-set"`), body
	}))
	assert.Equal(t, 1, strings.Count(timeline(), `"kind":"clipping_started"`), "one clipping, one event")
}
