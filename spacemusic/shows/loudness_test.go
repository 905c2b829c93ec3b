package shows_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// Two sets on one night. Bo's gain is far too high (his tone decodes clipped
// at full scale); Ada plays a clean tone, and the operator's target (-20
// LUFS) is near her level. Each show's report gives each recording's
// loudness, measured from the file in the bucket: Bo's is flagged for its true
// peak, Ada's measures as ffmpeg run by hand on her source file and is not.
func TestTheReportSaysWhichSetClipped(t *testing.T) {
	s := newStage(t, withEgress)
	ctx := testenv.Within(t, 60*time.Second)
	svc, m := s.metered(t, -20)
	sets := map[string]string{"bo-set": testenv.OverdrivenTone(t, 440, 20*time.Second), "ada-set": testenv.Tone(t, 440, 20*time.Second)}
	s.play(t, ctx, svc, sets)
	for name := range sets {
		s.when(t, events.RecordingStarted, name, "", 15*time.Second)
	}
	time.Sleep(4 * time.Second) // a few seconds of each set

	reports := map[string]shows.Report{}
	for name := range sets {
		rep, err := svc.Close(ctx, name)
		require.NoError(t, err)
		require.Len(t, rep.Parts, 1, "%+v", rep.Parts)
		require.Len(t, rep.Parts[0].Files, 1)
		f := rep.Parts[0].Files[0]
		require.NotNil(t, f.Loudness, "the file's loudness: %s", f.LoudnessError)
		t.Logf("%s: %s long, %+v; problems %q", name, f.Duration, *f.Loudness, rep.Problems)
		reports[name] = rep
	}
	bo := reports["bo-set"].Parts[0].Files[0].Loudness
	assert.Greater(t, bo.TruePeak, loudness.ClipAt, "Bo's set clips")
	assert.Positive(t, bo.Clipped)
	assert.NotEmpty(t, bo.Flags)
	assert.Contains(t, strings.Join(bo.Flags, "\n"), "true peak", "the report says so")

	ada := reports["ada-set"].Parts[0].Files[0].Loudness
	direct := sourceLoudness(t, sets["ada-set"])
	t.Logf("Ada's source file, by ffmpeg directly: %.1f LUFS", direct)
	assert.InDelta(t, direct, ada.Integrated, 1.0, "the recording is as loud as what she played")
	assert.LessOrEqual(t, ada.TruePeak, loudness.ClipAt)
	assert.Empty(t, ada.Flags)
	assert.Empty(t, reports["ada-set"].Problems)

	// Each recording was measured once; a second Close answers the same figures.
	assert.EqualValues(t, 2, m.Runs())
	again, err := svc.Close(ctx, "bo-set")
	require.NoError(t, err)
	assert.Equal(t, bo, again.Parts[0].Files[0].Loudness)
	assert.EqualValues(t, 2, m.Runs())
}

// sourceLoudness is ffmpeg's integrated loudness of a file, run by hand.
func sourceLoudness(t *testing.T, file string) float64 {
	t.Helper()
	_, err := os.Stat(file)
	require.NoError(t, err)
	out, err := exec.Command(testenv.Binary(t, "ffmpeg", "ffmpeg"), "-hide_banner", "-nostats", "-i", file,
		"-af", "ebur128=peak=true", "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, summary, ok := strings.Cut(string(out), "Summary:")
	require.True(t, ok, "%s", out)
	for _, line := range strings.Split(summary, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "I:"); ok {
			x, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			require.NoError(t, err)
			return x
		}
	}
	t.Fatalf("no integrated loudness in %s", summary)
	return 0
}
