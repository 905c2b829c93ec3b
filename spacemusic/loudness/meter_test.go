package loudness_test

import (
	"context"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
)

func meter(t *testing.T) *loudness.Meter {
	t.Helper()
	m, err := loudness.New(loudness.Config{FFmpeg: testenv.Binary(t, "ffmpeg", "ffmpeg")})
	require.NoError(t, err)
	require.NoError(t, m.Err())
	return m
}

func measure(t *testing.T, m *loudness.Meter, file string) loudness.Figures {
	t.Helper()
	in, err := os.Open(file)
	require.NoError(t, err)
	defer in.Close()
	f, err := m.Measure(t.Context(), in)
	require.NoError(t, err)
	return f
}

// A performer whose gain is far too high: the recording clips, and the
// figures say so, with how long.
func TestAnOverdrivenToneIsFlaggedAsClipping(t *testing.T) {
	f := measure(t, meter(t), testenv.OverdrivenTone(t, 440, 3*time.Second))
	t.Logf("overdriven tone: %+v", f)
	assert.Greater(t, f.TruePeak, loudness.ClipAt)
	assert.True(t, f.Clips())
	assert.Greater(t, f.Clipped, 2*time.Second, "it clips from start to end")
	require.NotEmpty(t, f.Flags)
	assert.Contains(t, f.Flags[0], "true peak")
}

// A clean tone measures as ffmpeg run by hand says, and an operator whose
// target is near it gets no flag. testenv.Tone is ffmpeg's sine (1/8 of full
// scale) upmixed to stereo, 3 dB down: -21 dBFS, -21.8 LUFS.
func TestACleanToneMeasuresAsFFmpegSays(t *testing.T) {
	file := testenv.Tone(t, 440, 3*time.Second)
	m, err := loudness.New(loudness.Config{FFmpeg: testenv.Binary(t, "ffmpeg", "ffmpeg"), Target: -20})
	require.NoError(t, err)
	f := measure(t, m, file)
	out, err := exec.Command(testenv.Binary(t, "ffmpeg", "ffmpeg"), "-hide_banner", "-nostats", "-i", file,
		"-af", "ebur128=peak=true", "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	direct := summaryFigure(t, string(out), "I:")
	t.Logf("clean tone: %+v; ffmpeg by hand: I %.1f LUFS", f, direct)
	assert.InDelta(t, direct, f.Integrated, 0.1)
	assert.InDelta(t, -21, f.TruePeak, 0.5)
	assert.Zero(t, f.Clipped)
	assert.Empty(t, f.Flags)
}

func summaryFigure(t *testing.T, out, label string) float64 {
	t.Helper()
	_, summary, ok := strings.Cut(out, "Summary:")
	require.True(t, ok, out)
	for _, line := range strings.Split(summary, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), label); ok {
			x, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			require.NoError(t, err)
			return x
		}
	}
	t.Fatalf("no %s in %s", label, summary)
	return 0
}

// Settings an attacker (or a typo) could give: each is refused with what is
// wrong, before anything runs.
func TestHostileSettingsAreRefused(t *testing.T) {
	for _, c := range []loudness.Config{
		{FFmpeg: "../../tmp/evil"}, {FFmpeg: "-version"}, {FFmpeg: "ffmpeg\n-i /etc/passwd"},
		{Target: math.NaN()}, {Target: math.Inf(-1)}, {Target: 5}, {Target: -200},
		{Tolerance: math.NaN()}, {Tolerance: -3}, {Tolerance: 1e9}, {Timeout: -time.Second},
	} {
		_, err := loudness.New(c)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%+v", c)
	}
}

// Without ffmpeg the Meter says why at once and on every measurement: the
// caller writes its report with the reason.
func TestWithoutFFmpegEachMeasurementSaysWhy(t *testing.T) {
	m, err := loudness.New(loudness.Config{FFmpeg: "/nonexistent/ffmpeg"})
	require.NoError(t, err)
	require.ErrorIs(t, m.Err(), loudness.ErrNoFFmpeg)
	_, err = m.Measure(t.Context(), strings.NewReader("OggS"))
	assert.ErrorIs(t, err, errs.ErrUnavailable)
	assert.Contains(t, err.Error(), "ffmpeg")
	assert.Zero(t, m.Runs())
}

// What is not audio is refused, and a stream that never ends is cut at the
// timeout: a measurement cannot hold the Meter (one ffmpeg at a time) for ever.
func TestAMeasurementIsBounded(t *testing.T) {
	_, err := meter(t).Measure(t.Context(), strings.NewReader("not audio at all"))
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)

	m, err := loudness.New(loudness.Config{FFmpeg: testenv.Binary(t, "ffmpeg", "ffmpeg"), Timeout: 3 * time.Second}) // room for ffmpeg to start on a loaded machine, for the tone below
	require.NoError(t, err)
	never, w := io.Pipe()
	defer w.Close()
	_, err = m.Measure(t.Context(), never)
	require.ErrorIs(t, err, errs.ErrUnavailable)
	assert.Contains(t, err.Error(), "longer than")

	// The slot is free again: the next one runs.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	in, err := os.Open(testenv.Tone(t, 440, time.Second))
	require.NoError(t, err)
	defer in.Close()
	_, err = m.Measure(ctx, in)
	assert.NoError(t, err)
}
