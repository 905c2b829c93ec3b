package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
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
	d := recordingDashboard(t, hook, env, m.Endpoint, m, map[string]string{
		"DASHBOARD_SPOOL_DIR": t.TempDir(), "DASHBOARD_FFMPEG": testenv.Binary(t, "ffmpeg", "ffmpeg")})

	code, body := d.call(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "bo-set",
		"performers": []map[string]any{{"identity": "bo", "name": "Bo"}}, "record": []string{"audio"}})
	require.Equal(t, 201, code, "%s", body)
	performerPlays(t, env, "bo-set", "bo", testenv.OverdrivenTone(t, 440, 60*time.Second))

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
