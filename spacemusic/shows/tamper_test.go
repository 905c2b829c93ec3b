package shows_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// Max holds a moderator's token for tonight's stage, which lets him rewrite
// the room's metadata through LiveKit's API. He marks the show closing before
// the music starts. The show reports the tampering (a problem, an event) and
// does not obey it: when Ada plays, it records as its plan says; it is not
// closed, and only Close (an admin's, in the dashboard) ends it.
func TestAModeratorCannotStopTheShow(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 2*time.Minute)
	svc, err := shows.New(shows.Config{Rooms: s.rooms, Ingress: s.ingress, Tokens: s.issuer, Egress: s.egress, Secret: s.env.APISecret,
		Recordings: s.store, Watch: s.watch, URL: s.env.WSURL}) // egress records the audio: Run starts it
	require.NoError(t, err)
	s.background(t, svc.Run)
	spec := shows.Spec{Name: "sealed-jam", Performers: []shows.Performer{{Identity: "ada"}}, Record: []string{shows.RecordAudio}}
	show, err := svc.Open(ctx, spec)
	require.NoError(t, err)
	assert.Equal(t, shows.Armed, show.Phase)

	rs, err := s.rooms.List(ctx, "sealed-jam")
	require.NoError(t, err)
	require.Len(t, rs, 1)
	flipped := strings.Replace(rs[0].Metadata, `"v":1,`, `"v":1,"closing":true,`, 1)
	require.NotEqual(t, rs[0].Metadata, flipped)
	mod, err := s.issuer.Moderator("sealed-jam", "max")
	require.NoError(t, err)
	updateMetadata(t, s.env.URL, mod.JWT, "sealed-jam", flipped)
	rs, err = s.rooms.List(ctx, "sealed-jam")
	require.NoError(t, err)
	require.Equal(t, flipped, rs[0].Metadata, "LiveKit took the moderator's metadata")

	got, err := svc.Get(ctx, "sealed-jam")
	require.NoError(t, err)
	assert.Equal(t, shows.Armed, got.Phase, "not closing")
	assert.True(t, slices.ContainsFunc(got.Problems, func(p string) bool { return strings.Contains(p, "changed outside streamkit") }), "%v", got.Problems)

	ada := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, time.Minute))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(svc.Starts(), func(x shows.Started) bool { return x.Show == "sealed-jam" && x.Kind == shows.RecordAudio })
	}, 30*time.Second, 50*time.Millisecond, "the show did not record: it obeyed the moderator's closing")
	s.when(t, events.ShowTampered, "sealed-jam", "", 10*time.Second) // in every replica's stream and timeline

	_, err = svc.Open(ctx, spec)
	assert.ErrorIs(t, err, shows.ErrTampered, "a tampered show is not taken for a good one")
	rs, err = s.rooms.List(ctx, "sealed-jam")
	require.NoError(t, err)
	assert.Len(t, rs, 1, "still open")
	rep, err := svc.Close(ctx, "sealed-jam")
	require.NoError(t, err, "closing is the remedy")
	assert.True(t, slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, "changed outside streamkit") }), "%v", rep.Problems)
	require.NotEmpty(t, rep.Parts, "the recording is the show's")
}

// updateMetadata is LiveKit's RoomService.UpdateRoomMetadata called with a
// participant's token, as a moderator's client can.
func updateMetadata(t *testing.T, url, token, room, md string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"room": room, "metadata": md})
	require.NoError(t, err)
	req, err := http.NewRequest("POST", strings.TrimSuffix(url, "/")+"/twirp/livekit.RoomService/UpdateRoomMetadata", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, "%s", out)
}
