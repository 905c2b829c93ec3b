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
// and a Write's error stops the stream, never the recording. capture does not
// know what listens (package loudness's Meter.Listen does, through shows).
func (r *Recorder) Listen(f func(room string) io.WriteCloser) {
	r.mu.Lock()
	r.listen = f
	r.mu.Unlock()
}

// listener is one track's stream to Listen's writer.
type listener struct {
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
	return &listener{w: w, ogg: o}
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

// close ends the stream.
func (l *listener) close() {
	if l == nil {
		return
	}
	if l.ogg != nil {
		_ = l.ogg.close()
	}
	_ = l.w.Close()
}
