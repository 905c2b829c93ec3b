package testenv

import (
	"math"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ear other tests rely on: it names the tone an encoded file carries, tells
// 440 Hz from 660 Hz, hears silence as silence, and listens to a window alone.
func TestListenNamesTheTone(t *testing.T) {
	for _, freq := range []int{440, 660} {
		got := Listen(t, Tone(t, freq, 2*time.Second))
		assert.InDelta(t, float64(freq), got.Frequency, 2, "the Opus tone of %d Hz", freq)
		assert.InDelta(t, 2, got.Duration.Seconds(), 0.1)
		assert.Greater(t, got.Level, -30.0, "ffmpeg's sine is at -21 dBFS")
	}

	quiet := ffmpegFile(t, "silence.ogg", "anullsrc=r=48000:cl=stereo", "-t", "2", "-c:a", "libopus")
	s := Listen(t, quiet)
	assert.Zero(t, s.Frequency, "silence has no tone")
	assert.Less(t, s.Level, Silent)
	assert.InDelta(t, 2, s.Duration.Seconds(), 0.1)

	// Two seconds of 440 Hz, then two of 660 Hz, as AAC in MP4: each window
	// hears its own half.
	both := ffmpegFile(t, "two.mp4", "sine=frequency=440:duration=2:sample_rate=48000[a];sine=frequency=660:duration=2:sample_rate=48000[b];[a][b]concat=n=2:v=0:a=1",
		"-c:a", "aac")
	assert.InDelta(t, 440, ListenWindow(t, both, 500*time.Millisecond, time.Second).Frequency, 2)
	assert.InDelta(t, 660, ListenWindow(t, both, 2500*time.Millisecond, time.Second).Frequency, 2)
	assert.InDelta(t, 1, ListenWindow(t, both, 500*time.Millisecond, time.Second).Duration.Seconds(), 0.05)

	// The same file in half-second steps: four windows of each tone.
	var heard []float64
	for _, s := range Timeline(t, both, 500*time.Millisecond) {
		heard = append(heard, math.Round(s.Frequency/10)*10)
	}
	assert.Equal(t, []float64{440, 440, 440, 440, 660, 660, 660, 660}, heard[:min(8, len(heard))], "%v", heard)
}

// The arithmetic alone, on samples made here: the FFT peak lands between bins.
func TestMeasureFindsTheFrequencyBetweenBins(t *testing.T) {
	for _, freq := range []float64{100, 440, 441.3, 660, 3000} {
		pcm := make([]float64, 16000)
		for i := range pcm {
			pcm[i] = 0.25 * math.Sin(2*math.Pi*freq*float64(i)/16000)
		}
		s := measure(pcm, 16000)
		assert.InDelta(t, freq, s.Frequency, 0.5, "%g Hz", freq)
		assert.InDelta(t, 20*math.Log10(0.25/math.Sqrt2), s.Level, 0.1)
	}
	assert.Zero(t, measure(make([]float64, 1000), 16000).Frequency)
	assert.Zero(t, measure(nil, 16000).Frequency)
}

// ffmpegFile renders a lavfi graph into a file named name and returns its path.
func ffmpegFile(t *testing.T, name, graph string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(Binary(t, "ffmpeg", "ffmpeg"), append(append([]string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", graph}, args...), out)...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// ToneShare hears each tone of a mix: 440 Hz and 660 Hz played together are
// about half of the sound each, and a tone that is not playing is almost none
// of it; silence has no share of anything.
func TestToneShareHearsEachToneOfAMix(t *testing.T) {
	mix := ffmpegFile(t, "mix.mp4", "sine=frequency=440:duration=2:sample_rate=48000[a];sine=frequency=660:duration=2:sample_rate=48000[b];[a][b]amix=inputs=2",
		"-c:a", "aac")
	assert.InDelta(t, -3, ToneShare(t, mix, 440), 1, "440 Hz in the mix")
	assert.InDelta(t, -3, ToneShare(t, mix, 660), 1, "660 Hz in the mix")
	alone := Tone(t, 440, 2*time.Second)
	assert.Greater(t, ToneShare(t, alone, 440), -0.5, "a tone alone is all of the sound")
	assert.Less(t, ToneShare(t, alone, 660), -30.0, "a tone not playing")
	quiet := ffmpegFile(t, "silence.ogg", "anullsrc=r=48000:cl=stereo", "-t", "2", "-c:a", "libopus")
	assert.True(t, math.IsInf(ToneShare(t, quiet, 440), -1), "silence")
}
