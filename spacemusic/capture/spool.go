package capture

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// The spool's bounds. A long show, or a bucket that cannot be reached, would
// otherwise fill the disk: past either bound the recorder stops writing new
// audio (the part being written ends there and is uploaded as it is; nothing
// spooled is deleted or cut), says so (Spool, NotifySpool), keeps retrying the
// uploads that free space, and starts a new part when there is room again.

// DefaultMaxBytes is the spool's size limit when Config.MaxBytes is 0: about
// 70 hours of a show's Opus at 128 kbit/s.
const DefaultMaxBytes int64 = 4 << 30

// DefaultMinFree is the free space the spool's file system keeps when
// Config.MinFree is zero.
var DefaultMinFree = Free{Percent: 5}

// Free is free space to keep on the spool's file system: Bytes, or Percent of
// the file system's size (statfs), whichever is set.
type Free struct {
	Bytes   int64
	Percent float64
}

// IsZero reports whether f asks for nothing (Config's default applies).
func (f Free) IsZero() bool { return f.Bytes == 0 && f.Percent == 0 }

// String is f as ParseFree reads it.
func (f Free) String() string {
	if f.Percent != 0 {
		return strconv.FormatFloat(f.Percent, 'f', -1, 64) + "%"
	}
	return strconv.FormatInt(f.Bytes, 10)
}

// ParseFree reads "5%" (of the file system) or a count of bytes ("1073741824").
func ParseFree(s string) (Free, error) {
	const op = "capture.ParseFree"
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || v < 0 || v >= 100 {
			return Free{}, errs.Invalid(op, "%q: want a percentage from 0 to below 100, e.g. 5%%", s)
		}
		return Free{Percent: v}, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return Free{}, errs.Invalid(op, "%q: want bytes (e.g. 1073741824) or a percentage (e.g. 5%%)", s)
	}
	return Free{Bytes: v}, nil
}

// SpoolStats is the spool's state.
type SpoolStats struct {
	Bytes    int64    // what the spool holds, parts being written included
	MaxBytes int64    // its limit (0: none)
	Free     int64    // free space on its file system at the last look (-1: unknown)
	Full     bool     // a bound is reached: new audio is not written
	Rooms    []string `json:"-"` // the rooms whose audio is held back now
}

// SpoolEvent tells that a room's audio stopped being written for lack of
// room (Full), or goes on again.
type SpoolEvent struct {
	Room  string
	Full  bool
	Stats SpoolStats
	Why   string // which bound, in words; "" when it goes on
}

// spoolCheckEvery bounds how often the file system is asked for its free
// space; bytes written since are taken off its answer.
const spoolCheckEvery = time.Second

// partReserve is what a part's first page needs beside its audio: the Opus
// head and tags pages and the sidecar.
const partReserve = 1 << 10

// pageSize is the size of the Ogg page that will hold packet p (one packet a
// page, see ogg.go).
func pageSize(p []byte) int64 { return int64(27 + len(p)/255 + 1 + len(p)) }

// spoolBytes is the size of every regular file under dir, two levels down
// (dir/room/file): what a dead process left counts against the limit.
func spoolBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && path != dir && strings.Count(strings.TrimPrefix(path, dir), string(filepath.Separator)) > 1 {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// admit reports whether n more bytes may be spooled now, and if not, why.
// Called for every packet: it asks the file system at most once per
// spoolCheckEvery.
func (r *Recorder) admit(n int64) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.MaxBytes > 0 && r.used+n > r.cfg.MaxBytes {
		return false, fmt.Sprintf("the spool holds %d bytes, its limit is %d", r.used, r.cfg.MaxBytes)
	}
	if now := time.Now(); now.Sub(r.fsAt) >= spoolCheckEvery {
		r.fsFree, r.fsSize = diskFree(r.cfg.Dir)
		r.fsAt, r.fsUsedAt = now, r.used
	}
	if r.fsFree < 0 {
		return true, "" // unknown here: the size limit alone applies
	}
	floor := r.cfg.MinFree.Bytes
	if r.cfg.MinFree.Percent > 0 {
		floor = int64(r.cfg.MinFree.Percent / 100 * float64(r.fsSize))
	}
	if free := r.fsFree - max(r.used-r.fsUsedAt, 0); free-n < floor {
		return false, fmt.Sprintf("the spool's file system has %d bytes free, the floor is %s", free, r.cfg.MinFree)
	}
	return true, ""
}

// grew and shrank keep r.used: what the spool holds.
func (r *Recorder) grew(n int64) {
	r.mu.Lock()
	r.used += n
	r.mu.Unlock()
}

func (r *Recorder) shrank(n int64) { r.grew(-n) }

// removeSpooled removes a spool file and counts it off.
func (r *Recorder) removeSpooled(path string) {
	if st, err := os.Stat(path); err == nil && os.Remove(path) == nil {
		r.shrank(st.Size())
	}
}

// countingWriter counts what reaches a spool file.
type countingWriter struct {
	w io.Writer
	r *Recorder
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.r.grew(int64(n))
	return n, err
}

// Spool is the spool's state: what it holds, its bounds, and whether audio is
// being held back.
func (r *Recorder) Spool() SpoolStats {
	r.mu.Lock()
	st := SpoolStats{Bytes: r.used, MaxBytes: r.cfg.MaxBytes, Free: -1}
	if r.fsFree >= 0 && !r.fsAt.IsZero() {
		st.Free = r.fsFree - max(r.used-r.fsUsedAt, 0)
	}
	ss := make([]*session, 0, len(r.sessions))
	for _, s := range r.sessions {
		ss = append(ss, s)
	}
	r.mu.Unlock()
	for _, s := range ss {
		s.mu.Lock()
		if s.full != "" {
			st.Full = true
			st.Rooms = append(st.Rooms, s.room)
		}
		s.mu.Unlock()
	}
	return st
}

// SpoolFull reports why the room's audio is held back now ("" when it is not).
func (r *Recorder) SpoolFull(room string) string {
	r.mu.Lock()
	s := r.sessions[room]
	r.mu.Unlock()
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full
}

// NotifySpool has f told when a room's audio stops being written for lack of
// room, and when it goes on. f must not block.
func (r *Recorder) NotifySpool(f func(SpoolEvent)) {
	r.mu.Lock()
	r.notifySpool = f
	r.mu.Unlock()
}

// hold marks the session's audio held back (why != "") or going on, telling
// once per change.
func (s *session) hold(why string) {
	s.mu.Lock()
	was := s.full
	s.full = why
	s.mu.Unlock()
	if (was == "") == (why == "") {
		return
	}
	if why != "" {
		s.r.cfg.Logger.Warn("capture: the spool is full; the show's new audio is not recorded until there is room", "room", s.room, "why", why)
	} else {
		s.r.cfg.Logger.Info("capture: there is room in the spool again; recording goes on in a new part", "room", s.room)
	}
	s.r.mu.Lock()
	f := s.r.notifySpool
	s.r.mu.Unlock()
	if f != nil {
		f(SpoolEvent{Room: s.room, Full: why != "", Stats: s.r.Spool(), Why: why})
	}
}

// retryUploads uploads, while the room's audio is held back, the parts that
// wait for the bucket (at most one attempt at a time, one per spoolRetryEvery):
// they are what frees the spool.
func (s *session) retryUploads() {
	now := time.Now()
	s.mu.Lock()
	if s.settling || now.Sub(s.settledAt) < spoolRetryEvery {
		s.mu.Unlock()
		return
	}
	s.settling, s.settledAt = true, now
	s.mu.Unlock()
	s.uploads.Add(1)
	go func() {
		defer s.uploads.Done()
		defer func() { s.mu.Lock(); s.settling = false; s.mu.Unlock() }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.r.Settle(ctx, s.room)
	}()
}

// spoolRetryEvery spaces the retries of uploads while the spool is full.
const spoolRetryEvery = 2 * time.Second
