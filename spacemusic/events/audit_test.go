package events_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/audit"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// flagged is what the model told of the music profile so far, as
// "identity/code".
func flagged(t *testing.T, w *events.Watch) []string {
	evs, err := w.Since(t.Context(), 0)
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		if e.Kind == events.AudioFlagged {
			out = append(out, e.Participant.Identity+"/"+string(e.Finding.Code))
		}
	}
	return out
}

// A performer on a voice call's defaults is told about once per point: her
// track muted and unmuted, or listed again, tells nothing new; the page's
// warnings stay as long as the track does.
func TestAVoiceTrackIsFlaggedOncePerFinding(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	ctx := t.Context()
	_, ok, _ := w.Apply(ctx, joined("stage", "RM_1", "ada", "PA_1"))
	require.True(t, ok)
	voice := published("stage", "ada", "PA_1", "TR_1")
	voice.Track = &events.Track{SID: "TR_1", Kind: "audio", Codec: "opus", DTX: true, EchoCancellation: true}
	_, ok, _ = w.Apply(ctx, voice)
	require.True(t, ok)
	want := []string{"ada/mono", "ada/dtx", "ada/echo_cancellation"}
	assert.Equal(t, want, flagged(t, w))

	muted := voice
	muted.Kind, muted.Track = events.TrackUpdated, &events.Track{SID: "TR_1", Kind: "audio", Codec: "opus", DTX: true, EchoCancellation: true, Muted: true}
	_, ok, _ = w.Apply(ctx, muted)
	require.True(t, ok, "the mute is news")
	_, ok, _ = w.Apply(ctx, voice)
	assert.False(t, ok, "the same publish again changes nothing")
	assert.Equal(t, want, flagged(t, w), "told once per track and finding")

	d, ok := w.Snapshot().RoomDetail("stage")
	require.True(t, ok)
	require.Len(t, d.Participants, 1)
	var codes []audit.Code
	for _, f := range d.Participants[0].Warnings {
		codes = append(codes, f.Code)
		assert.Equal(t, "TR_1", f.Track)
	}
	assert.Equal(t, []audit.Code{audit.Mono, audit.DTX, audit.EchoCancellation}, codes)

	// A new session publishes a new track: told again.
	_, _, _ = w.Apply(ctx, left("stage", "RM_1", "ada", "PA_1"))
	_, _, _ = w.Apply(ctx, joined("stage", "RM_1", "ada", "PA_2"))
	music := published("stage", "ada", "PA_2", "TR_2")
	music.Track = &events.Track{SID: "TR_2", Kind: "audio", Codec: "opus", Stereo: true}
	_, ok, _ = w.Apply(ctx, music)
	require.True(t, ok)
	assert.Equal(t, want, flagged(t, w), "the music preset passes")
}

// OBS's input is known once the ingest is live, after its track: the sample
// rate is told then, in OBS's words.
func TestAnIngestsInputIsJudgedWhenItGoesLive(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	ctx := t.Context()
	obs := published("stage", "obs", "PA_9", "TR_9")
	obs.Participant.Kind, obs.Participant.Role = "ingress", events.Ingest
	obs.Track = &events.Track{SID: "TR_9", Kind: "audio", Codec: "opus", Stereo: true}
	_, ok, _ := w.Apply(ctx, obs)
	require.True(t, ok)
	assert.Empty(t, flagged(t, w), "stereo Opus, DTX off: nothing yet")

	in := events.IngestState{Ingress: ingress.Ingress{ID: "IN_1", Kind: ingress.RTMP, Room: "stage", Identity: "obs", State: ingress.Publishing,
		Input: &ingress.Input{Audio: &ingress.InputAudio{Codec: "audio/aac", Channels: 2, SampleRate: 44_100}}}}
	_, ok, _ = w.Apply(ctx, events.Event{Kind: events.IngestLive, Room: "stage", At: time.Unix(200, 0), Ingest: &in})
	require.True(t, ok)
	assert.Equal(t, []string{"obs/sample_rate"}, flagged(t, w))
	ws := w.Snapshot().Warnings("stage", w.Snapshot().Rooms["stage"].Participants["obs"])
	require.Len(t, ws, 1)
	assert.Equal(t, "OBS: set Settings → Audio → Sample Rate to 48 kHz", ws[0].Fix)
}
