package loudness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
)

// maxCached bounds the figures a Meter keeps: the oldest go first.
const maxCached = 4096

// Meter measures recordings with ffmpeg, one at a time.
type Meter struct {
	cfg     Config
	bin     string
	missing error         // ErrNoFFmpeg when there is no binary
	slot    chan struct{} // one ffmpeg at a time
	runs    atomic.Int64  // ffmpegs started

	mu    sync.Mutex
	cache map[object]Figures
	order []object
	// The live meter (live.go): each show's ffmpeg by room, how many run,
	// who is told of Changes, and whether a missing ffmpeg was told.
	lives       map[string]*live
	running     int
	notify      func(Change)
	saidMissing bool
}

// object names one version of a stored recording.
type object struct {
	key, etag string
	size      int64
}

// New checks cfg and finds ffmpeg. A missing ffmpeg is no error of New: the
// Meter then answers every measurement with ErrNoFFmpeg (Err says so at once),
// so a show's report is written with the reason instead of the figures.
func New(cfg Config) (*Meter, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Target == 0 {
		cfg.Target = DefaultTarget
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	m := &Meter{cfg: cfg, slot: make(chan struct{}, 1), cache: map[object]Figures{}, lives: map[string]*live{}}
	m.bin, m.missing = lookup(cfg.FFmpeg)
	return m, nil
}

// Err is ErrNoFFmpeg's error when the Meter has no ffmpeg, nil otherwise.
func (m *Meter) Err() error { return m.missing }

// Runs is how many times the Meter ran ffmpeg.
func (m *Meter) Runs() int64 { return m.runs.Load() }

// Target is the loudness the Meter flags recordings against, in LUFS.
func (m *Meter) Target() float64 { return m.cfg.Target }

// Measure reads a recording (any format ffmpeg reads from a pipe: Ogg, WAV,
// FLAC, MP3; not MP4, whose index may be at its end) and measures it.
func (m *Meter) Measure(ctx context.Context, r io.Reader) (Figures, error) {
	if err := m.acquire(ctx); err != nil {
		return Figures{}, err
	}
	defer m.release()
	return m.run(ctx, r)
}

// Object measures the stored recording key, once per version of it: a key
// measured before with the same size and ETag answers the same figures.
func (m *Meter) Object(ctx context.Context, store *recordings.Store, key string) (Figures, error) {
	const op = "loudness.Object"
	if m.missing != nil {
		return Figures{}, m.missing
	}
	obj, err := store.Open(ctx, key)
	if err != nil {
		return Figures{}, errs.Relabel(op, err)
	}
	defer obj.Close()
	id := object{key: key, etag: obj.ETag, size: obj.Size}
	if f, ok := m.cached(id); ok {
		return f, nil
	}
	if err := m.acquire(ctx); err != nil {
		return Figures{}, err
	}
	defer m.release()
	if f, ok := m.cached(id); ok { // measured while this call waited its turn
		return f, nil
	}
	f, err := m.run(ctx, obj)
	if err != nil {
		return Figures{}, err
	}
	m.mu.Lock()
	if _, ok := m.cache[id]; !ok {
		m.cache[id], m.order = f, append(m.order, id)
		if len(m.order) > maxCached {
			delete(m.cache, m.order[0])
			m.order = m.order[1:]
		}
	}
	m.mu.Unlock()
	return f, nil
}

func (m *Meter) cached(id object) (Figures, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.cache[id]
	return f, ok
}

func (m *Meter) acquire(ctx context.Context) error {
	select {
	case m.slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errs.Transport("loudness.Measure", "", ctx.Err())
	}
}

func (m *Meter) release() { <-m.slot }

// run has ffmpeg decode r from its standard input (so no link to the bucket
// reaches its command line or its messages) and reads its report as it goes:
// one line per Window, then the summary.
func (m *Meter) run(ctx context.Context, r io.Reader) (Figures, error) {
	const op = "loudness.Measure"
	if m.missing != nil {
		return Figures{}, m.missing
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.bin, "-hide_banner", "-nostats", "-loglevel", "info", "-threads", "1",
		"-i", "pipe:0", "-vn", "-af", "ebur128=peak=true:framelog=info", "-f", "null", "-")
	// The copy into ffmpeg is ours, not exec's: a reader that never ends
	// would hold Wait after the timeout killed ffmpeg. Once ffmpeg is gone
	// the copy fails at its next write.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Figures{}, &errs.Error{Op: op, Kind: errs.ErrUnavailable, Message: err.Error(), Cause: err}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return Figures{}, &errs.Error{Op: op, Kind: errs.ErrUnavailable, Message: err.Error(), Cause: err}
	}
	if err := cmd.Start(); err != nil {
		return Figures{}, &errs.Error{Op: op, Kind: ErrNoFFmpeg, Message: err.Error(), Cause: err}
	}
	go func() {
		_, _ = io.Copy(stdin, r)
		stdin.Close()
	}()
	m.runs.Add(1)
	f, last, ok := parse(stderr)
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return Figures{}, &errs.Error{Op: op, Kind: errs.ErrUnavailable,
			Message: fmt.Sprintf("ffmpeg took longer than %s", m.cfg.Timeout), Cause: ctx.Err()}
	case werr != nil || !ok:
		return Figures{}, &errs.Error{Op: op, Kind: errs.ErrInvalidArgument,
			Message: fmt.Sprintf("ffmpeg could not measure it: %s", last), Cause: werr}
	}
	f.flag(m.cfg.Target, m.cfg.Tolerance)
	return f, nil
}

// parse reads ebur128's log: the windows' true peaks (FTPK, one figure per
// channel) and the summary's I, LRA and Peak. ok is false without all three;
// last is ffmpeg's last line, for the error.
func parse(r io.Reader) (f Figures, last string, ok bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	summary := false
	f.Integrated, f.Range, f.TruePeak = math.NaN(), math.NaN(), math.NaN() // until the summary says
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" {
			last = line
		}
		switch {
		case strings.Contains(line, "FTPK:"):
			if peak(line, "FTPK:") > ClipAt {
				f.Clipped += Window
			}
		case strings.HasSuffix(line, "Summary:"):
			summary = true
		case summary && strings.HasPrefix(line, "I:"):
			f.Integrated = number(line, "I:")
		case summary && strings.HasPrefix(line, "LRA:"):
			f.Range = number(line, "LRA:")
		case summary && strings.HasPrefix(line, "Peak:"):
			f.TruePeak = number(line, "Peak:")
		}
	}
	_, _ = io.Copy(io.Discard, r)       // a line past the buffer must not block ffmpeg
	f.TruePeak = max(f.TruePeak, Floor) // silence is -inf, which JSON cannot carry
	return f, last, summary && !math.IsNaN(f.Integrated+f.Range+f.TruePeak)
}

// peak is the loudest channel's figure after label, up to "dBFS".
func peak(line, label string) float64 {
	_, rest, _ := strings.Cut(line, label)
	rest, _, _ = strings.Cut(rest, "dBFS")
	top := math.Inf(-1)
	for _, v := range strings.Fields(rest) {
		if x, err := strconv.ParseFloat(v, 64); err == nil && x > top {
			top = x
		}
	}
	return top
}

// number is the first figure after label.
func number(line, label string) float64 {
	fields := strings.Fields(strings.TrimPrefix(line, label))
	if len(fields) == 0 {
		return math.NaN()
	}
	x, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return math.NaN()
	}
	return x
}
