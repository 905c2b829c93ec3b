package capture

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
)

// upload puts a finished spool file into the bucket with its exact duration
// and removes it. A failed upload leaves it for Settle or Finish.
func (r *Recorder) upload(ctx context.Context, path string, ended time.Time) error {
	defer func() {
		r.mu.Lock()
		delete(r.busy, path)
		r.mu.Unlock()
	}()
	p, err := r.sidecar(path)
	if err != nil {
		// Not ours, or cut before its sidecar was written: set aside once
		// (kept for a person to look at), not retried for ever.
		r.cfg.Logger.Warn("capture: a spool file without a readable sidecar is set aside", "file", filepath.Base(path), "error", err.Error())
		return os.Rename(path, path+".unreadable")
	}
	fail := func(err error) error {
		r.cfg.Logger.Warn("capture: uploading a part failed; it stays spooled", "room", p.Room, "id", p.ID, "error", err.Error())
		p.Status, p.Error = egress.Failed, err.Error()
		r.tell(p)
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	end, _, _, granule, err := lastPage(f)
	if err != nil || granule == 0 { // no audio: the process died as the part began
		r.cfg.Logger.Warn("capture: a spool file without audio is dropped", "room", p.Room, "id", p.ID)
		r.removeSpooled(path)
		r.removeSpooled(path + ".json")
		return nil
	}
	p.Duration, p.Size, p.EndedAt = time.Duration(granule)*time.Second/rate, end, ended.UTC()
	meta := map[string]string{metaID: p.ID, metaSource: p.Source, metaStarted: p.StartedAt.Format(time.RFC3339Nano),
		metaEnded: p.EndedAt.Format(time.RFC3339Nano), metaDuration: strconv.FormatInt(int64(p.Duration), 10)}
	if err := r.cfg.Store.Put(ctx, p.Key, io.NewSectionReader(f, 0, end), end, meta); err != nil {
		// A process that died between uploading and removing its spool file
		// left this part in the bucket already: that is done. Anything else
		// under its key stays as it is, and the part stays spooled.
		if !errors.Is(err, errs.ErrAlreadyExists) || !r.uploaded(ctx, p, end) {
			return fail(err)
		}
	}
	r.removeSpooled(path)
	r.removeSpooled(path + ".json")
	p.Status = egress.Complete
	r.cfg.Logger.Info("capture: part uploaded", "room", p.Room, "id", p.ID, "key", p.Key, "duration", p.Duration)
	r.tell(p)
	return nil
}

// uploaded reports whether the bucket holds this very part: same recorder ID
// and size.
func (r *Recorder) uploaded(ctx context.Context, p Part, size int64) bool {
	rec, meta, err := r.cfg.Store.Stat(ctx, p.Key)
	return err == nil && rec.Size == size && meta[metaID] == p.ID
}

// Notify has f told when a part starts and when it has ended (uploaded, or
// failed). f must not block.
func (r *Recorder) Notify(f func(Part)) {
	r.mu.Lock()
	r.notify = f
	r.mu.Unlock()
}

func (r *Recorder) tell(p Part) {
	r.mu.Lock()
	f := r.notify
	r.mu.Unlock()
	if f != nil {
		f(p)
	}
}

// Settle uploads the room's spool files nobody writes: parts a dead process
// left, once their source is no longer live.
func (r *Recorder) Settle(ctx context.Context, room string) error {
	dir, err := r.spoolDir("capture.Settle", room)
	if err != nil {
		return err
	}
	var first error
	for _, path := range r.spooled(dir) {
		r.mu.Lock()
		if r.busy[path] {
			r.mu.Unlock()
			continue
		}
		r.busy[path] = true
		if s := r.sessions[room]; s != nil && s.resume == path {
			s.resume = ""
		}
		r.mu.Unlock()
		ended := time.Now()
		if st, err := os.Stat(path); err == nil {
			ended = st.ModTime()
		}
		if err := r.upload(ctx, path, ended); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Finish leaves the room, ends the part being written and uploads every part
// of the room; it returns once they are in the bucket (or one failed).
func (r *Recorder) Finish(ctx context.Context, room string) error {
	const op = "capture.Finish"
	if _, err := r.spoolDir(op, room); err != nil {
		return err
	}
	r.mu.Lock()
	s := r.sessions[room]
	delete(r.sessions, room)
	delete(r.rejoins, room)
	r.mu.Unlock()
	if s != nil {
		s.leave()
		done := make(chan struct{})
		go func() { s.readers.Wait(); s.uploads.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return errs.Transport(op, errs.LiveKit, ctx.Err())
		}
	}
	if err := r.Settle(ctx, room); err != nil {
		return &errs.Error{Op: op, Kind: errs.ErrUnavailable, Upstream: errs.Storage, Message: "a part of the show's audio is not uploaded: " + err.Error(),
			Hint: "it stays spooled on this machine; Close again to retry", Cause: err}
	}
	return nil
}

// leave disconnects: the track reader then ends and finishes its part.
func (s *session) leave() {
	s.mu.Lock()
	lk := s.lk
	s.mu.Unlock()
	if lk != nil {
		lk.Disconnect()
	}
}

// Active is the room's parts not yet in the bucket: the one being written and
// spooled ones, oldest first.
func (r *Recorder) Active(room string) []Part {
	dir, err := r.spoolDir("capture.Active", room)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	s := r.sessions[room]
	r.mu.Unlock()
	var cur *part
	if s != nil {
		s.mu.Lock()
		cur = s.cur
		s.mu.Unlock()
	}
	var out []Part
	for _, path := range r.spooled(dir) {
		p, err := r.sidecar(path)
		if err != nil {
			continue
		}
		p.Status = egress.Ending
		if cur != nil && cur.path == path {
			p.Status = egress.Active
		}
		out = append(out, p)
	}
	return out
}

// Uploaded is the room's parts in the bucket, from their objects' metadata.
func (r *Recorder) Uploaded(ctx context.Context, room string) ([]Part, error) {
	const op = "capture.Uploaded"
	if _, err := r.spoolDir(op, room); err != nil {
		return nil, err
	}
	list, err := r.cfg.Store.List(ctx, room)
	if err != nil {
		return nil, errs.Relabel(op, err)
	}
	var out []Part
	for _, o := range list {
		if o.Kind != recordings.KindFile || !strings.HasSuffix(o.Key, ".ogg") || strings.Count(o.Key, "/") != 1 {
			continue
		}
		k := seenKey{o.Key, o.Size, o.LastModified}
		sp, ok := r.seen.get(k)
		if !ok {
			_, meta, err := r.cfg.Store.Stat(ctx, o.Key)
			if err != nil {
				return nil, errs.Relabel(op, err)
			}
			sp.ours = strings.HasPrefix(meta[metaID], IDPrefix)
			if sp.ours {
				p := Part{ID: meta[metaID], Room: room, Source: meta[metaSource], Key: o.Key, Status: egress.Complete, Size: o.Size}
				p.StartedAt, _ = time.Parse(time.RFC3339Nano, meta[metaStarted])
				p.EndedAt, _ = time.Parse(time.RFC3339Nano, meta[metaEnded])
				ns, _ := strconv.ParseInt(meta[metaDuration], 10, 64)
				p.Duration = time.Duration(ns)
				sp.part = p
			}
			r.seen.put(k, sp)
		}
		if !sp.ours {
			continue // egress's
		}
		out = append(out, sp.part)
	}
	slices.SortFunc(out, func(a, b Part) int { return a.StartedAt.Compare(b.StartedAt) })
	return out, nil
}
