package shows_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// Bo's gain is far too high, Ada plays a clean sine at -20 dBFS, on two shows
// at once. The recorders hear them live: Bo's show says it clips while he
// plays (one event, however long he clips) and its clipped seconds rise; when
// his show closes, it says how long it clipped. Ada's never clips, and her
// integrated loudness is what ffmpeg measures of the file she plays. The
// shows' live meters end with them.
func TestAShowThatClipsSaysSoWhileItPlays(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 90*time.Second)
	svc, m := s.metered(t, -20)
	sets := map[string]string{"bo-set": testenv.OverdrivenTone(t, 440, 30*time.Second), "ada-set": testenv.SineAt(t, 1000, -20, 30*time.Second)}
	s.play(t, ctx, svc, sets)

	started, saidAt := s.when(t, events.ClippingStarted, "bo-set", "", 20*time.Second)
	_, playedAt := s.when(t, events.TrackPublished, "bo-set", "p", time.Second)
	t.Logf("Bo's show said it clips %s after his track was published", saidAt.Sub(playedAt).Round(10*time.Millisecond))
	assert.Less(t, saidAt.Sub(playedAt), 10*time.Second, "two clipped seconds, and the meter's start, are all it waits for")
	require.NotNil(t, started.Loudness)
	assert.Greater(t, started.Loudness.TruePeak, loudness.ClipAt, "the event says how far over")
	first := svc.LiveLoudness()["bo-set"].Clipped
	require.Eventually(t, func() bool {
		live := svc.LiveLoudness()
		return live["bo-set"].Clipped >= first+3*time.Second && live["ada-set"].At > 8*time.Second
	}, 20*time.Second, 100*time.Millisecond, "Bo's clipped seconds rise as he plays")
	live := svc.LiveLoudness()
	t.Logf("Bo live: %+v", live["bo-set"])
	t.Logf("Ada live: %+v", live["ada-set"])
	assert.True(t, live["bo-set"].Clipping)
	assert.Zero(t, live["ada-set"].Clipped, "Ada never clips")
	direct := testenv.Loudness(t, sets["ada-set"]).Integrated
	t.Logf("Ada's file, by ffmpeg: %.1f LUFS; live: %.1f LUFS", direct, live["ada-set"].Integrated)
	assert.InDelta(t, direct, live["ada-set"].Integrated, 1.0, "live, Ada is as loud as her file")

	for name := range sets {
		_, err := svc.Close(ctx, name)
		require.NoError(t, err)
	}
	stopped, _ := s.when(t, events.ClippingStopped, "bo-set", "", 10*time.Second)
	require.NotNil(t, stopped.Loudness)
	t.Logf("Bo's clipping: %+v", *stopped.Loudness)
	assert.Greater(t, stopped.Loudness.For, 5*time.Second, "it says how long he clipped")
	assert.Eventually(t, func() bool { return m.LiveRuns() == 0 && len(svc.LiveLoudness()) == 0 }, 10*time.Second, 50*time.Millisecond,
		"closed shows take their meters and figures with them")
	s.seen.mu.Lock()
	defer s.seen.mu.Unlock()
	clips := 0
	for _, e := range s.seen.evs {
		if e.Kind == events.ClippingStarted || e.Kind == events.ClippingStopped {
			assert.Equal(t, "bo-set", e.Room, "only Bo's show clips")
			clips++
		}
	}
	assert.Equal(t, 2, clips, "one clipping, told twice: it started, it stopped")
}

// The machine has no ffmpeg (or the operator named a wrong one): shows are
// recorded all the same, and the dashboard says once that they are not
// measured live.
func TestWithoutFFmpegAShowIsStillRecordedAndSaysSoOnce(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 90*time.Second)
	m, err := loudness.New(loudness.Config{FFmpeg: "/nonexistent/ffmpeg"})
	require.NoError(t, err)
	var log testenv.Buffer
	svc := s.service(t, func(c *shows.Config) {
		c.Loudness = m
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	s.background(t, svc.Run)
	tone := testenv.Tone(t, 440, 30*time.Second)
	s.play(t, ctx, svc, map[string]string{"bo-set": tone, "ada-set": tone})
	for _, name := range []string{"bo-set", "ada-set"} {
		s.when(t, events.RecordingStarted, name, "", 15*time.Second)
	}
	time.Sleep(4 * time.Second)
	for _, name := range []string{"bo-set", "ada-set"} {
		rep, err := svc.Close(ctx, name)
		require.NoError(t, err)
		require.Len(t, rep.Parts, 1, "%+v", rep.Parts)
		assert.Equal(t, egress.Complete, rep.Parts[0].Status, rep.Parts[0].Error)
		require.Len(t, rep.Parts[0].Files, 1)
		assert.Greater(t, rep.Parts[0].Files[0].Duration, 3*time.Second, "%s is recorded", name)
	}
	assert.Equal(t, 1, strings.Count(log.String(), "live loudness is unavailable"), "said once:\n%s", log.String())
	assert.Empty(t, svc.LiveLoudness())
}

// play opens a recorded show per name, whose one performer plays its file.
func (s *stage) play(t *testing.T, ctx context.Context, svc *shows.Service, sets map[string]string) {
	t.Helper()
	for name, file := range sets {
		show, err := svc.Open(ctx, shows.Spec{Name: name, Performers: []shows.Performer{{Identity: "p", Name: "P"}}, Record: []string{"audio"}})
		require.NoError(t, err)
		_, err = testenv.PublishTone(t, s.env.Join(t, show.Performers[0].Token.JWT, nil), file)
		require.NoError(t, err)
	}
}

// metered is a running shows service whose Meter (ffmpeg's) flags against
// target.
func (s *stage) metered(t *testing.T, target float64) (*shows.Service, *loudness.Meter) {
	t.Helper()
	m, err := loudness.New(loudness.Config{FFmpeg: testenv.Binary(t, "ffmpeg", "ffmpeg"), Target: target})
	require.NoError(t, err)
	svc := s.service(t, func(c *shows.Config) { c.Loudness = m })
	s.background(t, svc.Run)
	return svc, m
}

// The attacker's angle: a performer's client sends Opus packets whose TOC byte
// is right and whose body is garbage, for as long as a song. The recorder
// keeps them as it keeps any audio (the part plays as long as they lasted),
// and the live meter neither holds it nor outlives the show.
func TestAPerformerSendingGarbageDoesNotBreakTheRecording(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 90*time.Second)
	svc, m := s.metered(t, -20)
	show, err := svc.Open(ctx, shows.Spec{Name: "mallory-set", Performers: []shows.Performer{{Identity: "p", Name: "P"}}, Record: []string{"audio"}})
	require.NoError(t, err)
	room := s.env.Join(t, show.Performers[0].Token.JWT, nil)
	track, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	require.NoError(t, err)
	_, err = room.LocalParticipant.PublishTrack(track, testenv.MusicTrack)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(28, 1))
	const sent = 6 * time.Second
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range int(sent / (20 * time.Millisecond)) {
		packet := make([]byte, 120)
		for i := range packet {
			packet[i] = byte(rng.UintN(256))
		}
		packet[0] = 0xfc // CELT fullband 20 ms, stereo, one frame: the recorder takes it as Opus
		<-tick.C
		require.NoError(t, track.WriteSample(pionmedia.Sample{Data: packet, Duration: 20 * time.Millisecond}, nil))
	}
	rep, err := svc.Close(ctx, "mallory-set")
	require.NoError(t, err)
	require.Len(t, rep.Parts, 1, "%+v", rep.Parts)
	assert.Equal(t, egress.Complete, rep.Parts[0].Status, rep.Parts[0].Error)
	require.Len(t, rep.Parts[0].Files, 1)
	t.Logf("the garbage part: %s; live meters running: %d", rep.Parts[0].Files[0].Duration, m.LiveRuns())
	assert.Greater(t, rep.Parts[0].Files[0].Duration, sent-2*time.Second, "every packet that arrived is recorded")
	assert.Eventually(t, func() bool { return m.LiveRuns() == 0 }, 10*time.Second, 50*time.Millisecond, "the meter ends with the show")
}
