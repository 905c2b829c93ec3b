package main

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// Ada plays on stage and the operator mutes her: the request scripts/walk
// follows through the code. STREAMKIT_WALK_MUTES repeats the mute (default
// once), so that two coverage profiles, of one mute and of two, tell which
// functions one mute runs; nothing else talks to the dashboard or runs our
// code a varying number of times meanwhile.
func TestAnOperatorMutesAda(t *testing.T) {
	testenv.RequireNetNS(t)
	s := newStage(t, nil)
	code, body := s.call(t, "POST", "/api/rooms", map[string]any{"name": "stage"})
	require.Equal(t, 201, code, "%s", body)
	code, body = s.call(t, "POST", "/api/tokens", map[string]any{"role": "performer", "room": "stage", "identity": "ada"})
	require.Equal(t, 201, code, "%s", body)
	ada := s.env.Join(t, decodeAs[tokenResponse](t, body).Token, nil)
	pub, err := testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	// Her track is awaited from LiveKit by the SDK's own client: polling the
	// dashboard (or our library) would run a varying number of our
	// functions, and the walk would count them.
	lk := lksdk.NewRoomServiceClient(s.env.URL, s.env.APIKey, s.env.APISecret)
	require.True(t, poll(t, wait, "her track never showed", func() (bool, string) {
		res, err := lk.ListParticipants(t.Context(), &livekit.ListParticipantsRequest{Room: "stage"})
		return err == nil && len(res.Participants) == 1 && len(res.Participants[0].Tracks) == 1 &&
			res.Participants[0].Tracks[0].Sid == pub.SID(), fmt.Sprint(res, err)
	}))
	mutes := 1
	if v := os.Getenv("STREAMKIT_WALK_MUTES"); v != "" {
		mutes, err = strconv.Atoi(v)
		require.NoError(t, err, "STREAMKIT_WALK_MUTES")
	}
	for range mutes {
		code, body := s.call(t, "POST", "/api/rooms/stage/participants", map[string]any{"action": "mute", "identity": "ada"})
		require.Equal(t, 200, code, "%s", body)
		res := decodeAs[participantActionResult](t, body)
		require.Len(t, res.Tracks, 1)
		assert.True(t, res.Tracks[0].Muted, "her track is muted")
	}
}
