package loudness

import (
	"bufio"
	"io"
	"math"
	"strings"
	"time"
)

// Reading is one Window of a live show as ebur128 logs it.
type Reading struct {
	At                               time.Duration // stream time at the window's end
	Momentary, ShortTerm, Integrated float64       // LUFS (Floor for silence)
	TruePeak                         float64       // dBTP of the window, the loudest channel
}

// Clips reports a window whose true peak is above ClipAt.
func (r Reading) Clips() bool { return r.TruePeak > ClipAt }

// ParseReading reads one of ebur128's per-window lines (framelog):
//
//	[Parsed_ebur128_0 @ 0x5…] t: 0.2  TARGET:-23 LUFS  M:-20.7 S:-21.0  I: -20.9 LUFS  LRA: 0.0 LU  FTPK: -19.2 -19.2 dBFS  TPK: …
//
// ok is false for any other line (the summary included).
func ParseReading(line string) (Reading, bool) {
	if !strings.Contains(line, " t:") || !strings.Contains(line, "FTPK:") {
		return Reading{}, false
	}
	t := number(after(line, " t:"), "")
	r := Reading{At: time.Duration(t * float64(time.Second)),
		Momentary: number(after(line, " M:"), ""), ShortTerm: number(after(line, " S:"), ""),
		Integrated: number(after(line, " I:"), ""), TruePeak: peak(line, "FTPK:")}
	if math.IsNaN(t + r.Momentary + r.ShortTerm + r.Integrated + r.TruePeak) {
		return Reading{}, false
	}
	r.Momentary, r.ShortTerm = max(r.Momentary, Floor), max(r.ShortTerm, Floor)
	r.Integrated, r.TruePeak = max(r.Integrated, Floor), max(r.TruePeak, Floor)
	return r, true
}

// after is what follows label in line, "" without it.
func after(line, label string) string {
	_, rest, ok := strings.Cut(line, label)
	if !ok {
		return ""
	}
	return rest
}

// readings parses ebur128's log from r and hands each window to f; it reads
// to the end, so ffmpeg never blocks on its stderr.
func readings(r io.Reader, f func(Reading)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		if rd, ok := ParseReading(sc.Text()); ok {
			f(rd)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// The judgement's constants: what makes a show clip, and be off its target.
const (
	// A show clips once ClipSeconds of the last ClipSpan seconds had a
	// clipped window: a single overshoot is no alarm, a chorus that clips
	// twice in three seconds is. It stops clipping after ClipSpan clean
	// seconds.
	ClipSeconds = 2
	ClipSpan    = 3
	// Sustain is how long the short-term loudness must stay more than the
	// tolerance off the target (or back within it) for the show to be too
	// loud or too quiet (or fine again). Silence (below Gate) counts for
	// neither: a pause between songs is not "too quiet".
	Sustain = 10 * time.Second
	Gate    = -70.0
)

// The kinds of Change, as the event stream names them.
const (
	ClippingStarted = "clipping_started"
	ClippingStopped = "clipping_stopped"
	OffTarget       = "loudness_off_target"
	OnTarget        = "loudness_on_target"
)

// Change is a transition of a live show's judgement, never a window: a show
// makes a handful, however long it plays.
type Change struct {
	Room string
	Kind string // ClippingStarted, ClippingStopped, OffTarget, OnTarget
	// TruePeak is the loudest window's of the clipping (dBTP); ShortTerm the
	// short-term loudness when the show went off or back on target (LUFS).
	TruePeak  float64
	ShortTerm float64
	Target    float64       // the target; ShortTerm above it: too loud
	For       time.Duration // ClippingStopped: from the first clipped window to the last
	// Err, with no Kind: shows are not measured live (no ffmpeg); said once.
	Err error
}

// TooLoud reports an OffTarget change above the target.
func (c Change) TooLoud() bool { return c.ShortTerm > c.Target }

// judge turns a show's windows into Changes; it is pure (no clock, no I/O).
type judge struct {
	target, tolerance float64

	n       int            // windows of the current second so far
	sec     bool           // the current second had a clipped window
	seconds [ClipSpan]bool // the last whole seconds, a ring
	next    int            // where the next second goes in seconds
	// The clipping (or the clipped windows that may start one): its
	// loudest window, its first window's start and last window's end.
	clipping, has bool
	peak          float64
	first, last   time.Duration

	off  bool // between OffTarget and OnTarget
	run  int  // windows in a row on the other side of off
	read Reading
	// clipped is how long the show's windows clipped, in all.
	clipped time.Duration
}

func newJudge(target, tolerance float64) *judge {
	return &judge{target: target, tolerance: tolerance, read: Reading{Momentary: Floor, ShortTerm: Floor, Integrated: Floor, TruePeak: Floor}}
}

// step takes the next window and answers the transitions it makes.
func (j *judge) step(r Reading) []Change {
	var out []Change
	j.read = r
	if r.Clips() {
		j.clipped += Window
		if !j.has {
			j.has, j.first, j.peak = true, r.At-Window, r.TruePeak
		}
		j.peak, j.last, j.sec = max(j.peak, r.TruePeak), r.At, true
	}
	if j.n++; j.n == int(time.Second/Window) {
		j.seconds[j.next], j.next = j.sec, (j.next+1)%ClipSpan
		j.n, j.sec = 0, false
		count := 0
		for _, c := range j.seconds {
			if c {
				count++
			}
		}
		switch {
		case !j.clipping && count >= ClipSeconds:
			j.clipping = true
			out = append(out, Change{Kind: ClippingStarted, TruePeak: j.peak, Target: j.target})
		case count == 0:
			out = append(out, j.stopClipping()...)
		}
	}
	if r.ShortTerm >= Gate {
		if bad := math.Abs(r.ShortTerm-j.target) > j.tolerance; bad != j.off {
			j.run++
		} else {
			j.run = 0
		}
		if time.Duration(j.run)*Window >= Sustain {
			j.off, j.run = !j.off, 0
			kind := OnTarget
			if j.off {
				kind = OffTarget
			}
			out = append(out, Change{Kind: kind, ShortTerm: r.ShortTerm, Target: j.target})
		}
	}
	return out
}

// stopClipping ends the clipping (the show's last window, or ClipSpan clean
// seconds), and forgets clipped windows that started none.
func (j *judge) stopClipping() []Change {
	var out []Change
	if j.clipping {
		out = append(out, Change{Kind: ClippingStopped, TruePeak: j.peak, Target: j.target, For: j.last - j.first})
	}
	j.clipping, j.has = false, false
	return out
}
