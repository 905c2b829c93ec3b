package testenv

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/cmplx"
	"os/exec"
	"time"
)

// Sound is what a file's audio holds, decoded to mono: enough to tell which
// tone a recording, a restream or a stem carries, and that it is not silence.
type Sound struct {
	Duration  time.Duration // of the decoded audio (or of the window asked for, when shorter)
	Level     float64       // RMS in dBFS; -Inf for digital silence
	Frequency float64       // the dominant frequency in Hz; 0 when silent (Level below Silent)
}

// Silent is the level below which a Sound has no dominant frequency.
const Silent = -60.0

// soundRate is what files are decoded to: tones up to 8 kHz are told apart.
const soundRate = 16000

// DominantFrequency is the loudest frequency of the file's audio in Hz, 0 for
// silence. The file is anything the installed ffmpeg reads: Ogg/Opus, MP4, an
// HLS playlist beside its segments, an FLV from an RTMP ingest.
func DominantFrequency(t TB, file string) float64 {
	t.Helper()
	return Listen(t, file).Frequency
}

// Listen decodes all of the file's audio and measures it.
func Listen(t TB, file string) Sound {
	t.Helper()
	return ListenWindow(t, file, 0, 0)
}

// ListenWindow measures length of the file's audio starting at from (all of
// what follows from when length is 0): e.g. the first and last second of a
// recording, to see the tone runs from end to end.
func ListenWindow(t TB, file string, from, length time.Duration) Sound {
	t.Helper()
	return measure(decode(t, file, from, length), soundRate)
}

// Timeline measures the file's audio in consecutive windows of step (the last
// one may be shorter): where in a recording the music is, and where silence.
func Timeline(t TB, file string, step time.Duration) []Sound {
	t.Helper()
	pcm := decode(t, file, 0, 0)
	n := int(step.Seconds() * soundRate)
	if n <= 0 {
		t.Fatalf("testenv: Timeline step %s is too short", step)
	}
	var out []Sound
	for start := 0; start < len(pcm); start += n {
		out = append(out, measure(pcm[start:min(start+n, len(pcm))], soundRate))
	}
	return out
}

// decode is the file's audio from from, for length (to its end when 0), as mono
// samples in [-1, 1) at soundRate.
func decode(t TB, file string, from, length time.Duration) []float64 {
	t.Helper()
	args := []string{"-v", "error", "-i", file}
	if from > 0 {
		args = append(args, "-ss", fmt.Sprintf("%.3f", from.Seconds())) // after -i: exact, decoded up to there
	}
	if length > 0 {
		args = append(args, "-t", fmt.Sprintf("%.3f", length.Seconds()))
	}
	args = append(args, "-vn", "-ac", "1", "-ar", fmt.Sprint(soundRate), "-f", "s16le", "-")
	cmd := exec.Command(Binary(t, "ffmpeg", "ffmpeg"), args...)
	var stderr Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// A file still being written (a live ingest) may end mid-packet: keep what decoded.
	if err != nil && len(out) == 0 {
		t.Fatalf("testenv: decode %s: %v\n%s", file, err, stderr.String())
	}
	pcm := make([]float64, len(out)/2)
	for i := range pcm {
		pcm[i] = float64(int16(binary.LittleEndian.Uint16(out[2*i:]))) / 32768
	}
	return pcm
}

// measure finds the level and the dominant frequency of mono samples.
func measure(pcm []float64, rate int) Sound {
	s := Sound{Duration: time.Duration(len(pcm)) * time.Second / time.Duration(rate), Level: math.Inf(-1)}
	var sum float64
	for _, v := range pcm {
		sum += v * v
	}
	if len(pcm) > 0 && sum > 0 {
		s.Level = 10 * math.Log10(sum/float64(len(pcm)))
	}
	if s.Level < Silent {
		return s
	}
	// Welch's method (spectrum), so a click or a gap in one frame does not decide.
	power, binHz := spectrum(pcm, rate)
	n := 2 * len(power)
	// Ignore DC and rumble below 20 Hz.
	low := int(math.Ceil(20 * float64(n) / float64(rate)))
	peak := low
	for i := low; i < len(power)-1; i++ {
		if power[i] > power[peak] {
			peak = i
		}
	}
	// A parabola through the peak and its neighbours (in dB) places the
	// frequency between bins.
	bin := float64(peak)
	if peak > 0 && peak < len(power)-1 && power[peak-1] > 0 && power[peak+1] > 0 {
		a, b, c := math.Log(power[peak-1]), math.Log(power[peak]), math.Log(power[peak+1])
		if d := a - 2*b + c; d != 0 {
			bin += 0.5 * (a - c) / d
		}
	}
	s.Frequency = bin * binHz
	return s
}

// fft is an in-place radix-2 Cooley-Tukey transform; len(x) is a power of two.
func fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ { // bit-reversal permutation
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j |= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		step := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			w := complex(1, 0)
			for k := range size / 2 {
				u, v := x[start+k], w*x[start+k+size/2]
				x[start+k], x[start+k+size/2] = u+v, u-v
				w *= step
			}
		}
	}
}

// ToneShare is how much of the file's sound is the tone of freq: the power
// within ±10 Hz of it, in dB of all the power above 20 Hz (0 dB: nothing but
// the tone; two tones equally loud are about -3 dB each; -Inf for silence). It
// tells that a mix carries each of several performers, which the dominant
// frequency alone cannot.
func ToneShare(t TB, file string, freq float64) float64 {
	t.Helper()
	pcm := decode(t, file, 0, 0)
	power, binHz := spectrum(pcm, soundRate)
	var tone, all float64
	for i := range power {
		f := float64(i) * binHz
		if f < 20 {
			continue
		}
		all += power[i]
		if math.Abs(f-freq) <= 10 {
			tone += power[i]
		}
	}
	if all == 0 || tone == 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(tone/all)
}

// spectrum is the Welch power spectrum of mono samples (Hann windows of 0.5 s,
// half overlapping) and the width of its bins in Hz.
func spectrum(pcm []float64, rate int) ([]float64, float64) {
	n := 8192
	for n > 256 && n > len(pcm) {
		n /= 2
	}
	power := make([]float64, n/2)
	frame := make([]complex128, n)
	for start := 0; start == 0 || start+n <= len(pcm); start += n / 2 {
		for i := range frame {
			var v float64
			if start+i < len(pcm) {
				v = pcm[start+i]
			}
			hann := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))
			frame[i] = complex(v*hann, 0)
		}
		fft(frame)
		for i := range power {
			a := cmplx.Abs(frame[i])
			power[i] += a * a
		}
	}
	return power, float64(rate) / float64(n)
}
