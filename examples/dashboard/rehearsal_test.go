package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
)

// An admin rehearses tonight's show before the doors open: the dashboard
// answers each step's figures and the capacity. A second rehearsal while one
// runs is told to come back (429); operators and viewers may not rehearse;
// hostile options and an unknown show are client faults. Once the performer
// plays, the show is live: a rehearsal is refused (409) unless forced, and a
// forced one listens to the show itself.
func TestAnAdminRehearsesAShowsAudience(t *testing.T) {
	testenv.RequireNetNS(t)
	testenv.HoldMediaSlot(t)
	s := newLiveStage(t, nil)
	code, body := s.call(t, "POST", "/api/shows", map[string]any{"name": "gig"})
	require.Contains(t, []int{200, 201}, code, "%s", body)
	path := "/api/shows/gig/rehearsal"

	var first rehearsalView
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, body, err := s.try(t, http.DefaultClient, "POST", path, map[string]any{"steps": []int{1, 2}, "holdSeconds": 2})
		if assert.NoError(t, err) && assert.Equal(t, 200, code, "%s", body) {
			assert.NoError(t, json.Unmarshal(body, &first))
		}
	}()
	time.Sleep(time.Second) // the first is joining its listeners
	code, body = s.call(t, "POST", path, map[string]any{"steps": []int{1}, "holdSeconds": 1})
	assert.Equal(t, 429, code, "%s", body)
	assert.Equal(t, "rehearsal_busy", errorCode(t, body))
	<-done
	assert.Equal(t, "gig", first.Show)
	assert.True(t, first.Synthetic, "a show that is not live is rehearsed in a test room")
	assert.Equal(t, 2, first.Capacity)
	require.Len(t, first.Steps, 2)
	for _, st := range first.Steps {
		t.Logf("%d listeners: %d/%d packets, loss %.2f %%, jitter p95 %.2f ms, join p95 %.0f ms", st.Listeners, st.Received, st.Expected, st.LossPercent, st.JitterP95Ms, st.JoinP95Ms)
		assert.Positive(t, st.Received)
		assert.True(t, st.Passed)
		if s.env.MetricsURL != "" {
			assert.NotNil(t, st.SFUCPU, "the SFU's CPU, from LiveKit's metrics")
		}
	}

	for _, who := range []string{testOperatorKey, testViewerKey} {
		code, body = s.call(t, "POST", path, map[string]any{"steps": []int{1}}, "X-API-Key", who)
		assert.Equal(t, 403, code, "%s", body)
	}
	for _, hostile := range []map[string]any{
		{"steps": []int{10, rehearsal.MaxListeners + 1}}, {"steps": []int{}}, {"steps": []int{3, 2}},
		{"holdSeconds": -1}, {"bitrate": 5_000_000}, {"lossPercent": -1}, {"jitterP95Ms": -5},
	} {
		code, body = s.call(t, "POST", path, hostile)
		assert.Equal(t, 400, code, "%v: %s", hostile, body)
		assert.Equal(t, "invalid_argument", errorCode(t, body), "%v", hostile)
	}
	code, body = s.call(t, "POST", "/api/shows/no-such-show/rehearsal", map[string]any{})
	assert.Equal(t, 404, code, "%s", body)

	tok, err := s.sm.Tokens.Performer("gig", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, s.env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, time.Minute))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, body := s.call(t, "GET", "/api/shows/gig", nil)
		return strings.Contains(string(body), `"phase":"live"`)
	}, 15*time.Second, 100*time.Millisecond, "the show goes live")
	code, body = s.call(t, "POST", path, map[string]any{"steps": []int{1}, "holdSeconds": 1})
	assert.Equal(t, 409, code, "%s", body)
	assert.Equal(t, "show_live", errorCode(t, body))

	code, body = s.call(t, "POST", path, map[string]any{"steps": []int{1}, "holdSeconds": 1, "force": true})
	require.Equal(t, 200, code, "%s", body)
	var forced rehearsalView
	require.NoError(t, json.Unmarshal(body, &forced))
	assert.False(t, forced.Synthetic)
	assert.Equal(t, "gig", forced.Room, "a forced rehearsal listens to the show itself")
	require.Len(t, forced.Steps, 1)
	assert.Positive(t, forced.Steps[0].Received)
}
