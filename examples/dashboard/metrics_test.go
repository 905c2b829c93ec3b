package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// metricValue is the value of one series (name and labels exactly as exposed) in
// a /metrics body; the test fails when the series is not there.
func metricValue(t testing.TB, body []byte, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			return n
		}
	}
	t.Errorf("no series %s in /metrics", series)
	return -1
}

// countingRooms and countingIngress count the List calls behind the show's gauges.
type countingRooms struct {
	Rooms
	lists atomic.Int32
}

func (c *countingRooms) List(ctx context.Context, names ...string) ([]rooms.Room, error) {
	c.lists.Add(1)
	return c.Rooms.List(ctx, names...)
}

type countingIngress struct {
	media.Ingresses
	lists atomic.Int32
}

func (c *countingIngress) List(ctx context.Context, o ingress.ListOptions) ([]ingress.Ingress, error) {
	c.lists.Add(1)
	return c.Ingresses.List(ctx, o)
}

// countingEgress counts List calls and lists nothing: a LiveKit without Egress.
type countingEgress struct {
	media.Egresses
	lists atomic.Int32
}

func (c *countingEgress) List(ctx context.Context, o egress.ListOptions) ([]egress.Egress, error) {
	c.lists.Add(1)
	return nil, nil
}

// The show's gauges say what is on: two stages, a performer and a listener on
// one, an ingress waiting for OBS. They come from one ListRooms, one ListIngress
// and one ListEgress per scrape, cached 2 s; the request counter and the latency
// histogram count every request once.
func TestMetricsCountTheShow(t *testing.T) {
	testenv.RequireNetNS(t)
	s := newStage(t, nil)
	lr, li, le := &countingRooms{Rooms: s.sm.Rooms}, &countingIngress{Ingresses: s.sm.Ingress}, &countingEgress{}
	srv := httptest.NewServer(NewServer(Deps{Log: discardLog(), Settings: defaultSettings(), WSURL: publicWS,
		Health: s.sm, Rooms: lr, Tokens: s.sm.Tokens, Ingress: li, Egress: le, Recordings: noRecordings{}, Resolver: fakeDNS}))
	t.Cleanup(srv.Close)
	get := func(path string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", testAPIKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp.StatusCode, mustRead(t, resp)
	}

	ctx := t.Context()
	for _, name := range []string{"main", "side"} {
		_, err := s.sm.Rooms.Create(ctx, name, rooms.CreateOptions{})
		require.NoError(t, err)
	}
	perf, err := s.sm.Tokens.Performer("main", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, s.env.Join(t, perf.JWT, nil), testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	lis, err := s.sm.Tokens.Listener("main", "bob")
	require.NoError(t, err)
	s.env.Join(t, lis.JWT, nil)
	_, err = s.sm.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "side", Identity: "obs"}})
	require.NoError(t, err)

	// LiveKit counts participants a moment after they join.
	var body []byte
	poll(t, wait, "the gauges never showed the show", func() (bool, string) {
		_, body = get("/metrics")
		return strings.Contains(string(body), "dashboard_participants 2\n") && strings.Contains(string(body), "dashboard_publishers 1\n"), string(body)
	})
	for series, want := range map[string]float64{
		"dashboard_livekit_up":                    1,
		"dashboard_rooms_active":                  2,
		"dashboard_participants":                  2,
		"dashboard_publishers":                    1,
		"dashboard_rooms_recording":               0,
		`dashboard_ingresses{state="inactive"}`:   1,
		`dashboard_ingresses{state="publishing"}`: 0,
		`dashboard_ingresses{state="buffering"}`:  0,
		`dashboard_ingresses{state="error"}`:      0,
		`dashboard_ingresses{state="complete"}`:   0,
		`dashboard_egresses{status="active"}`:     0,
	} {
		assert.Equal(t, want, metricValue(t, body, series), series)
	}

	// One List of each per scrape, and none for scrapes within 2 s of it.
	time.Sleep(2100 * time.Millisecond) // past the cache (a bound, not a measurement)
	r0, i0, e0 := lr.lists.Load(), li.lists.Load(), le.lists.Load()
	for range 3 {
		code, _ := get("/metrics")
		require.Equal(t, 200, code)
	}
	assert.Equal(t, r0+1, lr.lists.Load(), "ListRooms calls for three scrapes within 2 s")
	assert.Equal(t, i0+1, li.lists.Load(), "ListIngress calls for three scrapes within 2 s")
	assert.Equal(t, e0+1, le.lists.Load(), "ListEgress calls for three scrapes within 2 s")
	time.Sleep(2100 * time.Millisecond)
	get("/metrics")
	assert.Equal(t, r0+2, lr.lists.Load(), "a scrape after 2 s lists again")

	// Three room lists: counted three times, each in the histogram once.
	for range 3 {
		code, _ := get("/api/rooms")
		require.Equal(t, 200, code)
	}
	_, body = get("/metrics")
	assert.Equal(t, 3.0, metricValue(t, body, `dashboard_http_requests_total{method="GET",route="/api/rooms",status="200"}`))
	assert.Equal(t, 3.0, metricValue(t, body, `dashboard_http_request_duration_seconds_count{method="GET",route="/api/rooms"}`))
	assert.Equal(t, 3.0, metricValue(t, body, `dashboard_http_request_duration_seconds_bucket{method="GET",route="/api/rooms",le="+Inf"}`))
	assert.Positive(t, metricValue(t, body, `dashboard_http_request_duration_seconds_sum{method="GET",route="/api/rooms"}`))
}
