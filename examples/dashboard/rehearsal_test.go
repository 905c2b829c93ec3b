package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/rehearsals"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
)

// rehearsalEnded polls the show's latest rehearsal on s until it is no longer
// running, and answers it (the zero state when s never rehearsed the show).
func (s *stage) rehearsalEnded(t *testing.T, show string) rehearsals.State {
	t.Helper()
	var st rehearsals.State
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, body := s.call(t, "GET", "/api/shows/"+show+"/rehearsal", nil)
		if code == 404 {
			st = rehearsals.State{}
			return
		}
		if assert.Equal(c, 200, code, "%s", body) && assert.NoError(c, json.Unmarshal(body, &st)) {
			assert.NotEqual(c, rehearsals.Running, st.State)
		}
	}, time.Minute, 100*time.Millisecond, "the rehearsal of %s ends", show)
	return st
}

// rehearsalKinds are the rehearsal events of room that who may read from the
// event stream, in order, with the rehearsal's id.
func (s *stage) rehearsalKinds(t *testing.T, room string, who ...string) (kinds []events.Kind, ids map[string]bool) {
	t.Helper()
	code, body := s.call(t, "GET", "/api/events?follow=false&after=0&room="+room, nil, who...)
	require.Equal(t, 200, code, "%s", body)
	ids = map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		var e events.Event
		if !strings.HasPrefix(line, "data: ") || json.Unmarshal([]byte(line[6:]), &e) != nil || e.Rehearsal == nil {
			continue
		}
		kinds = append(kinds, e.Kind)
		ids[e.Rehearsal.ID] = true
	}
	return kinds, ids
}

// An admin rehearses tonight's show before the doors open: the dashboard
// answers 202 at once and the rehearsal goes on; a second one meanwhile is
// told to come back (429). Each step and the end are events on the stream,
// to admins only, and GET answers each step's figures and the capacity.
// Operators and viewers may not rehearse or read it; hostile options and an
// unknown show are client faults. Once the performer plays, the show is live:
// a rehearsal is refused (409) unless forced, and a forced one listens to the
// show itself.
func TestAnAdminRehearsesAShowsAudience(t *testing.T) {
	testenv.RequireNetNS(t)
	testenv.HoldMediaSlot(t)
	s := newLiveStage(t, nil)
	code, body := s.call(t, "POST", "/api/shows", map[string]any{"name": "gig"})
	require.Contains(t, []int{200, 201}, code, "%s", body)
	path := "/api/shows/gig/rehearsal"
	code, body = s.call(t, "GET", path, nil)
	assert.Equal(t, 404, code, "not rehearsed yet: %s", body)

	code, body = s.call(t, "POST", path, map[string]any{"steps": []int{1, 2}, "holdSeconds": 2})
	require.Equal(t, 202, code, "%s", body)
	started := decodeAs[rehearsals.State](t, body)
	assert.Equal(t, rehearsals.Running, started.State)
	assert.Equal(t, []int{1, 2}, started.Planned)
	assert.NotEmpty(t, started.ID)
	code, body = s.call(t, "POST", path, map[string]any{"steps": []int{1}, "holdSeconds": 1})
	assert.Equal(t, 429, code, "%s", body)
	assert.Equal(t, "rehearsal_busy", errorCode(t, body))

	first := s.rehearsalEnded(t, "gig")
	assert.Equal(t, rehearsals.Done, first.State, first.Error)
	assert.Equal(t, started.ID, first.ID)
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
	kinds, ids := s.rehearsalKinds(t, "gig")
	assert.Equal(t, []events.Kind{events.RehearsalStarted, events.RehearsalStepped, events.RehearsalStepped, events.RehearsalEnded}, kinds)
	assert.Equal(t, map[string]bool{started.ID: true}, ids)
	for _, who := range []string{testOperatorKey, testViewerKey} {
		kinds, _ := s.rehearsalKinds(t, "gig", "X-API-Key", who)
		assert.Empty(t, kinds, "a rehearsal's events are for admins")
		_, body := s.call(t, "GET", "/api/rooms/gig/timeline", nil, "X-API-Key", who)
		assert.NotContains(t, string(body), "rehearsal_")
	}
	_, body = s.call(t, "GET", "/api/rooms/gig/timeline", nil)
	assert.Contains(t, string(body), `"kind":"rehearsal_ended"`, "the show's story tells admins")

	for _, who := range []string{testOperatorKey, testViewerKey} {
		for _, method := range []string{"POST", "GET"} {
			code, body = s.call(t, method, path, map[string]any{"steps": []int{1}}, "X-API-Key", who)
			assert.Equal(t, 403, code, "%s %s", method, body)
		}
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
	code, body = s.call(t, "GET", "/api/shows/no-such-show/rehearsal", nil)
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
	require.Equal(t, 202, code, "%s", body)
	forced := s.rehearsalEnded(t, "gig")
	assert.Equal(t, rehearsals.Done, forced.State, forced.Error)
	assert.False(t, forced.Synthetic)
	assert.Equal(t, "gig", forced.Room, "a forced rehearsal listens to the show itself")
	require.Len(t, forced.Steps, 1)
	assert.Positive(t, forced.Steps[0].Received)
}
