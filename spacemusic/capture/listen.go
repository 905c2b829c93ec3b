package capture

import (
	"io"
	"math/rand/v2"
)

// Listen has f handed each show's audio as the recorder receives it, for a
// live meter: f(room) answers where an Ogg Opus stream of the show goes (one
// page per Write), or nil for nowhere. The stream starts with the track and
// ends with it (Close); each packet reaches it whether or not the spool could
// take it. Its Writes must never block: the recording waits for none of them,
// and a Write's error stops the stream, never the recording. Its Close may
// take a while (a meter's ffmpeg exiting) but must end: it runs beside the
// recording, and the Recorder's Close waits for it. capture does not
// know what listens (package loudness's Meter.Listen does, through shows).
func (r *Recorder) Listen(f func(room string) io.WriteCloser) {
	r.mu.Lock()
	r.listen = f
	r.mu.Unlock()
}

// listener is one track's stream to Listen's writer.
type listener struct {
	r   *Recorder
	w   io.WriteCloser
	ogg *oggWriter
}

// listener starts the track's stream; nil without a listener.
func (s *session) listener() *listener {
	s.r.mu.Lock()
	f := s.r.listen
	s.r.mu.Unlock()
	if f == nil {
		return nil
	}
	w := f(s.room)
	if w == nil {
		return nil
	}
	o, err := newOggWriter(w, rand.Uint32(), 2)
	if err != nil {
		_ = w.Close()
		return nil
	}
	return &listener{r: s.r, w: w, ogg: o}
}

// write hands one Opus packet on; after an error the stream stays stopped.
func (l *listener) write(payload []byte) {
	if l == nil || l.ogg == nil {
		return
	}
	if _, err := l.ogg.write(payload); err != nil {
		l.ogg = nil
	}
}

// close ends the stream: its last page at once (a Write: it never blocks),
// the writer's Close on a goroutine of its own, so that neither the part's
// upload nor the next part waits for the meter to end. After the Recorder's
// Close began waiting for these, a straggler closes on its reader.
func (l *listener) close() {
	if l == nil {
		return
	}
	if l.ogg != nil {
		_ = l.ogg.close()
	}
	l.r.mu.Lock()
	if l.r.quiet {
		l.r.mu.Unlock()
		_ = l.w.Close()
		return
	}
	l.r.listenClosing.Add(1)
	l.r.mu.Unlock()
	go func() {
		defer l.r.listenClosing.Done()
		_ = l.w.Close()
	}()
}
