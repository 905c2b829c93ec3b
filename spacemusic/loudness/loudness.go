// Package loudness measures a recording's loudness as broadcast does (EBU
// R 128 / ITU-R BS.1770): integrated loudness (LUFS), loudness range (LU) and
// true peak (dBTP), with ffmpeg's ebur128 filter (peak=true) run on the
// server, and flags a recording that clips or is far from the operator's
// target.
//
// ffmpeg decodes the whole file, so the cost is bounded by the Meter: one
// ffmpeg at a time, each under a timeout, and each object measured once (the
// figures are kept by object key, size and ETag).
//
// The Meter also measures shows live (live.go): one ffmpeg per show the
// recorder records (about 1% of a core and 56 MB each), fed without ever
// waiting, whose 100 ms windows a pure judge (judge.go) turns into a handful
// of transitions: clipping started and stopped, off and back on target.
package loudness

import (
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// Defaults of Config.
const (
	DefaultTarget    = -16.0 // LUFS: what streaming platforms normalise music to
	DefaultTolerance = 3.0   // LU either side of the target
	DefaultTimeout   = 5 * time.Minute
	// ClipAt is the true peak above which audio clips once encoded or
	// played (EBU R 128's ceiling), in dBTP.
	ClipAt = -1.0
	// Window is the stretch ffmpeg reports a true peak for: clipping is
	// counted in windows.
	Window = 100 * time.Millisecond
	// Floor stands for silence's true peak (ffmpeg says -inf).
	Floor = -144.0
)

// ErrNoFFmpeg is the kind of the error a Meter without ffmpeg answers; it
// wraps errs.ErrUnavailable.
var ErrNoFFmpeg = fmt.Errorf("%w: ffmpeg is not installed", errs.ErrUnavailable)

// Config tunes a Meter.
type Config struct {
	// FFmpeg is the ffmpeg binary: an absolute path, or a bare name looked
	// up in PATH. Empty: "ffmpeg".
	FFmpeg string
	// Target is the operator's integrated loudness in LUFS, and Tolerance
	// how far (LU) a recording may be from it before it is flagged. Zero:
	// DefaultTarget, DefaultTolerance.
	Target, Tolerance float64
	Timeout           time.Duration // per measurement; zero: DefaultTimeout
}

// Check refuses values that would make every figure flagged, none, or the
// binary something other than a program the operator named.
func (c Config) Check() error {
	const op = "loudness.Config"
	if c.FFmpeg != "" && (strings.ContainsFunc(c.FFmpeg, func(r rune) bool { return r < ' ' || r == 0x7f }) ||
		(strings.ContainsRune(c.FFmpeg, '/') && !filepath.IsAbs(c.FFmpeg)) || strings.HasPrefix(c.FFmpeg, "-")) {
		return errs.Invalid(op, "ffmpeg must be an absolute path or a bare program name, not %q", c.FFmpeg)
	}
	if c.Target != 0 && (math.IsNaN(c.Target) || c.Target < -70 || c.Target > -1) {
		return errs.Invalid(op, "the loudness target must be between -70 and -1 LUFS, not %v", c.Target)
	}
	if c.Tolerance != 0 && (math.IsNaN(c.Tolerance) || c.Tolerance < 0.5 || c.Tolerance > 20) {
		return errs.Invalid(op, "the loudness tolerance must be between 0.5 and 20 LU, not %v", c.Tolerance)
	}
	if c.Timeout < 0 {
		return errs.Invalid(op, "the timeout must not be negative")
	}
	return nil
}

// Figures are one recording's loudness.
type Figures struct {
	Integrated float64 `json:"integratedLufs"` // LUFS, gated (-70 for silence)
	Range      float64 `json:"rangeLu"`        // LU
	TruePeak   float64 `json:"truePeakDbtp"`   // dBTP, the loudest of the channels
	// Clipped is how long the audio's true peak was above ClipAt, counted
	// in Windows.
	Clipped time.Duration `json:"clipped"`
	// Flags say what is wrong with it: clipping, or too far from the
	// target. Empty: nothing.
	Flags []string `json:"flags,omitempty"`
}

// Clips reports a true peak above ClipAt.
func (f Figures) Clips() bool { return f.TruePeak > ClipAt }

// flag sets f.Flags from the target and tolerance.
func (f *Figures) flag(target, tolerance float64) {
	f.Flags = nil
	if f.Clips() {
		f.Flags = append(f.Flags, fmt.Sprintf("true peak %.1f dBTP is above %.0f dBTP (clipped for %.1f s)", f.TruePeak, ClipAt, f.Clipped.Seconds()))
	}
	if d := f.Integrated - target; math.Abs(d) > tolerance {
		side := "above"
		if d < 0 {
			side = "below"
		}
		f.Flags = append(f.Flags, fmt.Sprintf("loudness %.1f LUFS is %.1f LU %s the target %.1f LUFS (tolerance %.1f LU)", f.Integrated, math.Abs(d), side, target, tolerance))
	}
}

// lookup finds the binary; a missing one is ErrNoFFmpeg, said once here and
// then by each measurement.
func lookup(name string) (string, error) {
	if name == "" {
		name = "ffmpeg"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", &errs.Error{Op: "loudness.New", Kind: ErrNoFFmpeg,
			Message: fmt.Sprintf("no ffmpeg at %q, so recordings' loudness is not measured", name),
			Hint:    "install ffmpeg (Debian: apt-get install ffmpeg) or set its path", Cause: errors.Unwrap(err)}
	}
	return bin, nil
}
