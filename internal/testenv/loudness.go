package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
)

// Measured is a file's loudness as ffmpeg's ebur128 filter measures it.
type Measured struct {
	Integrated float64 // LUFS, gated as EBU R128
	TruePeak   float64 // dBTP
}

var (
	integratedLine = regexp.MustCompile(`(?s)Summary:.*\bI:\s+(-?[0-9.]+|-inf) LUFS`)
	truePeakLine   = regexp.MustCompile(`(?s)Summary:.*\bPeak:\s+(-?[0-9.]+|-inf) dBFS`)
)

// Loudness measures an Opus file from Tone, SineAt and their kin with ffmpeg
// (`-af ebur128=peak=true`), once per file: the figures are kept beside it.
// It decodes with libopus to 16 bits, as WebRTC's receiver does (ffmpeg's own
// Opus decoder gives floats, which keep an overdriven signal's peaks above
// full scale where a browser's are clipped flat).
func Loudness(t TB, file string) Measured {
	t.Helper()
	var m Measured
	kept := file + ".ebur128"
	if b, err := os.ReadFile(kept); err == nil {
		if _, err := fmt.Sscan(string(b), &m.Integrated, &m.TruePeak); err == nil {
			return m
		}
	}
	bin := Binary(t, "ffmpeg", "ffmpeg")
	out, err := exec.Command(bin, "-hide_banner", "-nostats", "-c:a", "libopus", "-i", file,
		"-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: ffmpeg ebur128 %s: %v\n%s", file, err, out)
	}
	m.Integrated = summary(t, integratedLine, out)
	m.TruePeak = summary(t, truePeakLine, out)
	// Written under a name of its own and renamed: another test binary may read it.
	tmp := fmt.Sprintf("%s.%d.tmp", kept, os.Getpid())
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%g %g\n", m.Integrated, m.TruePeak)), 0o644); err == nil {
		_ = os.Rename(tmp, kept)
	}
	return m
}

func summary(t TB, line *regexp.Regexp, out []byte) float64 {
	t.Helper()
	got := line.FindSubmatch(out)
	if got == nil {
		t.Fatalf("testenv: no %s in ffmpeg's ebur128 summary:\n%s", line, out)
	}
	v, err := strconv.ParseFloat(string(got[1]), 64)
	if err != nil {
		t.Fatalf("testenv: ffmpeg's ebur128 summary: %v", err)
	}
	return v
}
