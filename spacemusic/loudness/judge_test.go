package loudness

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// ebur128's per-window lines as ffmpeg 5.1 writes them, and lines that are
// not windows.
func TestParseReadingReadsEbur128sWindowLines(t *testing.T) {
	cases := []struct {
		name string
		line string
		want Reading
		ok   bool
	}{
		{"a loud window", "[Parsed_ebur128_0 @ 0x55df17b0d040] t: 3.1  TARGET:-23 LUFS    M: -9.5 S:-10.2     I: -11.0 LUFS       LRA:   1.2 LU  FTPK:  0.3 -2.0 dBFS  TPK:  0.3 -2.0 dBFS",
			Reading{At: 3100 * time.Millisecond, Momentary: -9.5, ShortTerm: -10.2, Integrated: -11, TruePeak: 0.3}, true},
		{"silence at the start", "[Parsed_ebur128_0 @ 0x55df17b0d040] t: 0.0999792  TARGET:-23 LUFS    M:-120.7 S:-120.7     I: -70.0 LUFS       LRA:   0.0 LU  FTPK: -inf -inf dBFS  TPK: -inf -inf dBFS",
			Reading{At: 99979200 * time.Nanosecond, Momentary: -120.7, ShortTerm: -120.7, Integrated: -70, TruePeak: Floor}, true},
		{"the summary", "  I:         -20.9 LUFS", Reading{}, false},
		{"the summary's peak", "    Peak:      -19.2 dBFS", Reading{}, false},
		{"a window without figures", "[Parsed_ebur128_0 @ 0x1] t: 0.1 TARGET:-23 LUFS M: S: I: FTPK: dBFS", Reading{}, false},
		{"garbage", "t: FTPK:", Reading{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ParseReading(c.line)
			assert.Equal(t, c.ok, ok)
			assert.InDelta(t, c.want.At, got.At, float64(time.Microsecond))
			got.At = c.want.At
			assert.Equal(t, c.want, got)
		})
	}
}

// windows makes n windows from at, all alike but their time.
func windows(at time.Duration, n int, r Reading) []Reading {
	out := make([]Reading, n)
	for i := range out {
		r.At = at + time.Duration(i+1)*Window
		out[i] = r
	}
	return out
}

var (
	clean   = Reading{Momentary: -20, ShortTerm: -20, Integrated: -20, TruePeak: -12}
	clipped = Reading{Momentary: -6, ShortTerm: -20, Integrated: -20, TruePeak: 0.5}
	loud    = Reading{Momentary: -8, ShortTerm: -8, Integrated: -9, TruePeak: -3}
	silent  = Reading{Momentary: -120.7, ShortTerm: -120.7, Integrated: -70, TruePeak: Floor}
)

// A show's stories, second by second, and the only Changes each makes:
// transitions, never windows.
func TestTheJudgeTellsOnlyTransitions(t *testing.T) {
	type step struct {
		n int // windows
		r Reading
	}
	cases := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"a clean set says nothing", []step{{600, clean}}, nil},
		{"one overshoot is no clipping", []step{{50, clean}, {1, clipped}, {100, clean}}, nil},
		{"two clipping seconds in three start it; three clean stop it", []step{{10, clean}, {20, clipped}, {40, clean}},
			[]string{ClippingStarted, ClippingStopped}},
		{"a set that clips all along clips once", []step{{600, clipped}}, []string{ClippingStarted}},
		{"a show that ends clipping stops clipping", []step{{30, clipped}, {0, Reading{}}}, []string{ClippingStarted, ClippingStopped}},
		{"ten loud seconds are too loud; ten good ones fine again", []step{{100, loud}, {100, clean}}, []string{OffTarget, OnTarget}},
		{"nine loud seconds are not", []step{{99, loud}, {100, clean}}, nil},
		{"silence is not too quiet", []step{{300, silent}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := newJudge(-20, 3)
			var got []string
			at := time.Duration(0)
			for _, s := range c.steps {
				var cs []Change
				if s.r == (Reading{}) {
					cs = j.stopClipping()
				}
				for _, r := range windows(at, s.n, s.r) {
					cs = append(cs, j.step(r)...)
				}
				at += time.Duration(s.n) * Window
				for _, ch := range cs {
					got = append(got, ch.Kind)
				}
			}
			assert.Equal(t, c.want, got)
		})
	}
}

// The changes carry what the operator needs: the clipping's peak and length,
// which side of the target the show is.
func TestTheJudgesChangesSayHowBad(t *testing.T) {
	j := newJudge(-20, 3)
	var cs []Change
	peaky := clipped
	peaky.TruePeak = 1.7
	for _, r := range append(append(windows(0, 10, clipped), windows(time.Second, 5, peaky)...), windows(1500*time.Millisecond, 45, clean)...) {
		cs = append(cs, j.step(r)...)
	}
	if assert.Len(t, cs, 2) {
		assert.Equal(t, ClippingStarted, cs[0].Kind)
		assert.Equal(t, ClippingStopped, cs[1].Kind)
		assert.InDelta(t, 1.7, cs[1].TruePeak, 1e-9, "the loudest window of it")
		assert.Equal(t, 1500*time.Millisecond, cs[1].For, "15 clipped windows")
	}
	assert.Equal(t, 1500*time.Millisecond, j.clipped)

	j = newJudge(-20, 3)
	cs = nil
	quiet := Reading{Momentary: -35, ShortTerm: -35, Integrated: -35, TruePeak: -28}
	for _, r := range windows(0, 100, quiet) {
		cs = append(cs, j.step(r)...)
	}
	if assert.Len(t, cs, 1) {
		assert.Equal(t, OffTarget, cs[0].Kind)
		assert.False(t, cs[0].TooLoud())
		assert.False(t, math.IsNaN(cs[0].ShortTerm))
	}
}
