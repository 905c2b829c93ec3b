package shows_test

import (
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// Mid-show, someone joins as the show's recorder with a token made elsewhere
// (another tool holding the API key). The watched model reports an impostor;
// the recorder takes its identity back and records on: the show's report has
// the part the intrusion cut and a part holding Ada's audio after it.
func TestAnImpostorDoesNotEndTheRecording(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 90*time.Second)
	svc := s.service(t)
	s.background(t, svc.Run)
	show, err := svc.Open(ctx, shows.Spec{Name: "late-set", Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}},
		Record: []string{"audio"}})
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, s.env.Join(t, show.Performers[0].Token.JWT, nil), testenv.Tone(t, 440, time.Minute))
	require.NoError(t, err)
	s.nth(t, 1, events.RecordingStarted, "late-set", "", 15*time.Second)
	time.Sleep(2 * time.Second) // the first part holds some music

	imp, err := s.issuer.Monitor("late-set", capture.Identity)
	require.NoError(t, err)
	intruded := time.Now()
	if lk, err := lksdk.ConnectToRoomWithToken(s.env.WSURL, imp.JWT, &lksdk.RoomCallback{}, lksdk.WithAutoSubscribe(false)); err == nil {
		t.Cleanup(lk.Disconnect) // the recorder coming back drops it, often before its connect completes
	}
	e, _ := s.nth(t, 1, events.Impostor, "late-set", capture.Identity, 15*time.Second)
	require.NotNil(t, e.Participant, "no impostor event")
	s.nth(t, 2, events.RecordingStarted, "late-set", "", 20*time.Second) // the recorder is back
	time.Sleep(3 * time.Second)

	rep, err := svc.Close(ctx, "late-set")
	require.NoError(t, err)
	require.Len(t, rep.Parts, 2, "%+v", rep.Parts)
	for i, p := range rep.Parts {
		assert.Equal(t, egress.Complete, p.Status, "part %d: %s", i+1, p.Error)
		require.Len(t, p.Files, 1)
		assert.Greater(t, p.Files[0].Duration, time.Second, "part %d holds audio", i+1)
	}
	assert.True(t, rep.Parts[1].StartedAt.After(intruded), "the second part is the audio after the intrusion")
	assert.NotEqual(t, rep.Parts[0].Files[0].Key, rep.Parts[1].Files[0].Key, "nothing overwritten")
}
