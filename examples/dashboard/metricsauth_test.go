package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
)

// /metrics is public by default, for health and load figures; the per-room
// series are labelled with the shows' names, which are not. An anonymous
// scrape gets no room names; a scrape with credentials gets them, whether it
// sends X-API-Key or the key as Bearer (Prometheus's credentials_file). A key
// as Bearer is a key on /metrics only: elsewhere Bearer is the identity
// provider's, and a wrong credential is refused, not served as anonymous.
func TestRoomNamesStayOutOfAnonymousScrapes(t *testing.T) {
	testenv.RequireNetNS(t)
	st := newLiveStage(t, nil)
	status, made := st.as(t, testOperatorKey, "POST", "/api/rooms", `{"name":"secret-gig"}`)
	require.Equal(t, 201, status, string(made))
	scrape := func(headers ...string) (int, string) {
		t.Helper()
		code, body := st.call(t, "GET", "/metrics", nil, headers...)
		return code, string(body)
	}
	// Polled with try and c: scrape requires with the outer t, which would hang here.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, body, err := st.try(c, http.DefaultClient, "GET", "/metrics", nil, "X-API-Key", testViewerKey)
		require.NoError(c, err)
		assert.True(c, strings.Contains(string(body), `dashboard_room_participants{room="secret-gig"}`), "the model knows the room")
	}, 10*time.Second, 50*time.Millisecond)

	code, body := scrape(noAuth...)
	anon := body
	require.Equal(t, 200, code, "metrics stay public")
	assert.Contains(t, anon, "dashboard_rooms_active 1", "the totals are public")
	assert.False(t, strings.Contains(anon, "secret-gig"), "no show name in an anonymous scrape")
	assert.False(t, strings.Contains(anon, "dashboard_room_"), "no per-room series at all")

	code, body = scrape("Authorization", "Bearer "+testViewerKey)
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `dashboard_room_participants{room="secret-gig"}`, "a viewer key as Bearer")
	for _, bad := range [][]string{{"Authorization", "Bearer not-a-key-0123456789"}, {"X-API-Key", "not-a-key-0123456789"}} {
		code, body = scrape(bad...)
		assert.Equal(t, 401, code, "a wrong %s is refused, not served as anonymous: %s", bad[0], body)
	}
	code, body = scrape("Authorization", "Bearer "+testViewerKey+"x")
	assert.Equal(t, 401, code, body)
	// Another scheme is not ours to check (a proxy's Basic auth passed on):
	// the scrape stays anonymous.
	code, body = scrape("Authorization", "Basic dXNlcjpwYXNz")
	assert.Equal(t, 200, code, body)
	assert.False(t, strings.Contains(body, "secret-gig"), "anonymous: no show names")

	// Elsewhere an API key as Bearer is no credential (Bearer is the identity
	// provider's JWT, off on this stage).
	s2, out := st.call(t, "GET", "/api/rooms", nil, "Authorization", "Bearer "+testAPIKey)
	assert.Equal(t, 401, s2, string(out))

	// An operator who wants the names public says so.
	open := newStageOn(t, st.env, func(s *config.Settings) { s.MetricsPublicRooms = true })
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, body, err := open.try(c, http.DefaultClient, "GET", "/metrics", nil, noAuth...)
		require.NoError(c, err)
		assert.True(c, strings.Contains(string(body), `dashboard_room_participants{room="secret-gig"}`),
			"DASHBOARD_METRICS_PUBLIC_ROOMS=true serves them to anyone")
	}, 10*time.Second, 50*time.Millisecond)

	// Made private, /metrics takes the key as Bearer too.
	private := newStageOn(t, st.env, func(s *config.Settings) { s.MetricsPublic = false })
	code, _ = private.call(t, "GET", "/metrics", nil, noAuth...)
	assert.Equal(t, 401, code)
	code, out = private.call(t, "GET", "/metrics", nil, "Authorization", "Bearer "+testViewerKey)
	assert.Equal(t, 200, code, string(out))
}
