package main

import (
	"sync/atomic"
	"testing"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Identities are not for the taking. LiveKit disconnects whoever holds an
// identity when a second participant joins under it, so a token of any role
// for someone in the room now is a removal: an operator is refused it (through
// POST /api/tokens and through a show's answer), an admin may mint it. The
// watched model says who is in the room. The recorder's and the monitors'
// identities are handed to nobody, admins included.
func TestIdentitiesAreNotForTheTaking(t *testing.T) {
	testenv.RequireNetNS(t) // Ada really joins (signalling only: she publishes nothing)
	st := newShowStage(t)
	show := map[string]any{"name": "late-set", "performers": []map[string]any{{"identity": "ada", "name": "Ada"}}}

	// The operator opens the show; Ada is not there yet, so her token is in the answer.
	code, body := st.as(t, testOperatorKey, "POST", "/api/shows", show)
	require.Equal(t, 201, code, "%s", body)
	opened := decodeAs[showroutes.Opened](t, body)
	require.Len(t, opened.Performers, 1)
	require.NotEmpty(t, opened.Performers[0].Token, "ada is not on stage yet: her token is handed out")

	// Ada joins with it. The model (fed by LiveKit's webhooks) sees her.
	var dropped atomic.Value
	st.env.Join(t, opened.Performers[0].Token, &lksdk.RoomCallback{OnDisconnectedWithReason: func(r lksdk.DisconnectionReason) { dropped.Store(r) }})
	require.Eventually(t, func() bool {
		snap, serving := (&live.Model{Events: st.live}).Serving()
		if !serving || snap.Rooms["late-set"] == nil {
			return false
		}
		_, here := snap.Rooms["late-set"].Participants["ada"]
		return here
	}, wait, tick, "the model never saw ada join")
	adaSID := func() string {
		p, err := st.sm.Rooms.Participant(t.Context(), "late-set", "ada")
		require.NoError(t, err, "ada is still on stage")
		return p.SID
	}
	sid := adaSID()

	// A token of any role for Ada, from an operator: refused, naming why.
	for _, role := range []string{"listener", "performer"} {
		req := map[string]any{"role": role, "room": "late-set", "identity": "ada"}
		code, body = st.as(t, testOperatorKey, "POST", "/api/tokens", req)
		assert.Equal(t, 403, code, "an operator's %s token for ada on stage: %s", role, body)
		assert.Equal(t, "forbidden", errorCode(t, body))
		assert.Contains(t, string(body), "ada, who is in late-set now")
	}
	// The show's answer to the operator holds Ada's entry without a token, and says why.
	code, body = st.as(t, testOperatorKey, "POST", "/api/shows", show)
	require.Equal(t, 200, code, "%s", body)
	again := decodeAs[showroutes.Opened](t, body)
	require.Len(t, again.Performers, 1)
	assert.Empty(t, again.Performers[0].Token, "an operator got a token for ada while she is on stage")
	assert.Contains(t, again.Performers[0].Note, "ada is in late-set now")
	// The monitor never takes anyone's place: its identity is fresh and reserved.
	code, body = st.as(t, testOperatorKey, "POST", "/api/rooms/late-set/monitor", nil)
	require.Equal(t, 201, code, "%s", body)
	mon := decodeAs[tokenResponse](t, body)
	assert.True(t, tokens.Reserved(mon.Identity), "the monitor's identity %q is not reserved", mon.Identity)
	// Ada was never disconnected: same session.
	assert.Equal(t, sid, adaSID())
	assert.Nil(t, dropped.Load(), "ada was disconnected")

	// An admin may: removing her is an admin's call.
	code, body = st.as(t, testAPIKey, "POST", "/api/tokens", map[string]any{"role": "listener", "room": "late-set", "identity": "ada"})
	assert.Equal(t, 201, code, "%s", body)
	code, body = st.as(t, testAPIKey, "POST", "/api/shows", show)
	require.Equal(t, 200, code, "%s", body)
	assert.NotEmpty(t, decodeAs[showroutes.Opened](t, body).Performers[0].Token, "the admin gets ada's token")

	// Reserved identities go to nobody, through tokens, shows or an ingest.
	for _, id := range []string{tokens.RecorderIdentity, "streamkit-anything", "StreamKit-Recorder", mon.Identity} {
		for _, key := range []string{testOperatorKey, testAPIKey} {
			for _, role := range []string{"listener", "performer", "moderator"} {
				code, body = st.as(t, key, "POST", "/api/tokens", map[string]any{"role": role, "room": "late-set", "identity": id})
				assert.Equal(t, 403, code, "%s token for %s: %s", role, id, body)
				assert.Equal(t, "reserved_identity", errorCode(t, body), "%s", body)
			}
			code, body = st.as(t, key, "POST", "/api/shows", map[string]any{"name": "late-set-2", "performers": []map[string]any{{"identity": id}}})
			assert.Equal(t, 403, code, "a show with performer %s: %s", id, body)
			assert.Equal(t, "reserved_identity", errorCode(t, body), "%s", body)
			code, body = st.as(t, key, "POST", "/api/ingress", map[string]any{"kind": "rtmp", "room": "late-set", "identity": id})
			assert.Equal(t, 403, code, "an ingest joining as %s: %s", id, body)
			assert.Equal(t, "reserved_identity", errorCode(t, body), "%s", body)
		}
	}
	code, _ = st.as(t, testAPIKey, "GET", "/api/shows/late-set-2", nil)
	assert.Equal(t, 404, code, "a refused show created nothing")
	// A performer merely called monitor-something is not reserved.
	code, body = st.as(t, testOperatorKey, "POST", "/api/tokens", map[string]any{"role": "listener", "room": "late-set", "identity": "monitor-mia"})
	assert.Equal(t, 201, code, "%s", body)
}

// Someone joins as the show's recorder with a token made elsewhere (another
// tool holding the API key): operators see an impostor event on the event
// stream and in the room's timeline. The project's own participants under
// reserved identities (the recorder with its proof, the page's monitor) are
// not impostors, and the proof never reaches a viewer.
func TestImpostorsAreSeen(t *testing.T) {
	testenv.RequireNetNS(t) // real participants join (signalling only: nobody publishes)
	st := newLiveStage(t, nil)
	stream := openStream(t, st.srv.URL+"/api/events", testViewerKey, "")
	_, err := st.sm.Rooms.Create(t.Context(), "late-set", rooms.CreateOptions{})
	require.NoError(t, err)
	join := func(jwt string) {
		if lk, err := lksdk.ConnectToRoomWithToken(st.env.WSURL, jwt, &lksdk.RoomCallback{}, lksdk.WithAutoSubscribe(false)); err == nil {
			t.Cleanup(lk.Disconnect)
		}
	}
	seen := func(who string) func() bool {
		return func() bool { return stream.has(events.ParticipantJoined, "late-set", who) }
	}

	// Ours: the recorder with its proof, and the page's monitor.
	own, err := st.sm.Tokens.Monitor("late-set", tokens.RecorderIdentity, st.sm.Tokens.WithOwnProof("late-set", tokens.RecorderIdentity))
	require.NoError(t, err)
	join(own.JWT)
	code, body := st.as(t, testOperatorKey, "POST", "/api/rooms/late-set/monitor", nil)
	require.Equal(t, 201, code, "%s", body)
	mon := decodeAs[tokenResponse](t, body)
	join(mon.Token)
	require.Eventually(t, seen(tokens.RecorderIdentity), wait, tick, "the recorder's join never reached the stream")
	require.Eventually(t, seen(mon.Identity), wait, tick, "the monitor's join never reached the stream")

	// The impostor: the recorder's identity, minted elsewhere, without the proof.
	imp, err := st.sm.Tokens.Monitor("late-set", tokens.RecorderIdentity)
	require.NoError(t, err)
	join(imp.JWT)
	require.Eventually(t, func() bool { return stream.has(events.Impostor, "late-set", tokens.RecorderIdentity) }, wait, tick,
		"no impostor event reached the stream: %v", storyOf(stream.all()))
	var impostors []events.Event
	for _, e := range stream.all() {
		if e.Kind == events.Impostor {
			impostors = append(impostors, e)
		}
		if e.Participant != nil {
			assert.NotContains(t, e.Participant.Attributes, tokens.OwnAttribute, "the proof reached a viewer")
		}
	}
	require.Len(t, impostors, 1, "only the impostor is one: %v", storyOf(stream.all()))
	// watchHistory requires; given c, a failed read fails this tick, not the test's goroutine.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		story := st.watchHistory(c, "late-set")
		told := false
		for _, e := range story {
			if e.Kind == events.Impostor && e.Participant.SID == impostors[0].Participant.SID {
				told = true
			}
		}
		assert.True(c, told, "the timeline does not tell the impostor: %v", storyOf(story))
	}, wait, tick)
}
