package loudness

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// The live meter: one ffmpeg per show being recorded (the recorder's armed
// rooms bound them), fed the show's Ogg Opus as the recorder receives it,
// logging a line per Window that the judge turns into Changes.

// liveQueue bounds the Ogg pages waiting for a live ffmpeg (one page per 20 ms
// packet: 5 s). Past it pages are dropped: the meter loses a window's
// accuracy, never the recording its time.
const liveQueue = 250

// liveStop bounds how long ending a live meter waits for ffmpeg to exit once
// its input is closed, before it is killed.
const liveStop = 3 * time.Second

// Live is one show's live figures, as the latest window left them.
type Live struct {
	Reading
	Clipping bool          // between ClippingStarted and ClippingStopped
	Clipped  time.Duration // how long its windows clipped, in all
	Dropped  int64         // Ogg pages the meter could not take in time
}

// live is one show's ffmpeg.
type live struct {
	m     *Meter
	room  string
	pages chan []byte
	quit  chan struct{}
	once  sync.Once
	done  chan struct{} // closed once ffmpeg is reaped and the log read

	mu      sync.Mutex // guards judge and dropped
	judge   *judge
	dropped int64
}

// NotifyLive sets what is told each Change of a live show (at most one
// function; nil: none). It is called from the meter's own goroutine, never
// the recorder's. A Change with an empty Kind and Err set says once that
// live loudness is unavailable.
func (m *Meter) NotifyLive(f func(Change)) {
	m.mu.Lock()
	m.notify = f
	m.mu.Unlock()
}

// Shows' live figures, by room: those being measured now.
func (m *Meter) Shows() map[string]Live {
	m.mu.Lock()
	ls := make([]*live, 0, len(m.lives))
	for _, l := range m.lives {
		ls = append(ls, l)
	}
	m.mu.Unlock()
	out := make(map[string]Live, len(ls))
	for _, l := range ls {
		l.mu.Lock()
		out[l.room] = Live{Reading: l.judge.read, Clipping: l.judge.clipping, Clipped: l.judge.clipped, Dropped: l.dropped}
		l.mu.Unlock()
	}
	return out
}

// LiveRuns is how many live ffmpegs run now.
func (m *Meter) LiveRuns() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

// Listen starts measuring room's show: the answer takes an Ogg Opus stream,
// one page per Write, and never blocks (pages it cannot take in time are
// dropped). Close ends the measurement and its figures. Nil when the Meter
// cannot run ffmpeg: that is said once, to NotifyLive's function.
func (m *Meter) Listen(room string) io.WriteCloser {
	if m.missing != nil {
		m.unavailable(room, m.missing)
		return nil
	}
	cmd := exec.Command(m.bin, "-hide_banner", "-nostats", "-loglevel", "info", "-threads", "1",
		"-probesize", "4096", "-analyzeduration", "0", "-f", "ogg", "-i", "pipe:0",
		"-vn", "-af", "ebur128=peak=true:framelog=info", "-f", "null", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		m.unavailable(room, err)
		return nil
	}
	// ffmpeg's log comes through a pipe of ours, not exec's: Wait must not
	// close it while its last lines are read.
	logR, logW, err := os.Pipe()
	if err != nil {
		stdin.Close()
		m.unavailable(room, err)
		return nil
	}
	cmd.Stderr = logW
	err = cmd.Start()
	logW.Close()
	if err != nil {
		logR.Close()
		m.unavailable(room, err)
		return nil
	}
	l := &live{m: m, room: room, pages: make(chan []byte, liveQueue), quit: make(chan struct{}), done: make(chan struct{}),
		judge: newJudge(m.cfg.Target, m.cfg.Tolerance)}
	m.mu.Lock()
	old := m.lives[room]
	m.lives[room] = l
	m.running++
	m.mu.Unlock()
	if old != nil { // the show's previous part is still ending: this one measures it now
		old.stop()
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	go func() { // once stopped, ffmpeg has liveStop to finish
		select {
		case <-exited:
		case <-l.quit:
			t := time.NewTimer(liveStop)
			defer t.Stop()
			select {
			case <-exited:
			case <-t.C:
				_ = cmd.Process.Kill()
			}
		}
	}()
	go l.feed(stdin)
	go func() {
		readings(logR, l.window)
		logR.Close()
		<-exited
		l.stop()
		l.window(Reading{}) // not a window: ends a clipping the show ended in
		m.mu.Lock()
		m.running--
		if m.lives[room] == l {
			delete(m.lives, room) // the show's series go with it
		}
		m.mu.Unlock()
		close(l.done)
	}()
	return l
}

// unavailable tells NotifyLive's function, once per Meter, why shows are
// not measured live.
func (m *Meter) unavailable(room string, err error) {
	m.mu.Lock()
	f, said := m.notify, m.saidMissing
	m.saidMissing = true
	m.mu.Unlock()
	if f != nil && !said {
		f(Change{Room: room, Err: err})
	}
}

// Write queues one Ogg page for ffmpeg, or drops it: it never waits.
func (l *live) Write(p []byte) (int, error) {
	select {
	case <-l.quit:
		return len(p), nil
	default:
	}
	select {
	case l.pages <- append([]byte(nil), p...):
	default:
		l.mu.Lock()
		l.dropped++
		l.mu.Unlock()
	}
	return len(p), nil
}

// Close ends the measurement: ffmpeg reads what was queued, then its input
// ends. It waits for ffmpeg (at most liveStop, then ffmpeg is killed).
func (l *live) Close() error {
	l.stop()
	<-l.done
	return nil
}

func (l *live) stop() { l.once.Do(func() { close(l.quit) }) }

// feed copies the queued pages into ffmpeg until Close, then the rest of the
// queue. A write error (ffmpeg gone: garbage it gave up on) ends feeding;
// Write goes on dropping.
func (l *live) feed(stdin io.WriteCloser) {
	defer stdin.Close()
	for {
		select {
		case b := <-l.pages:
			if _, err := stdin.Write(b); err != nil {
				l.stop()
				return
			}
		case <-l.quit:
			for {
				select {
				case b := <-l.pages:
					if _, err := stdin.Write(b); err != nil {
						return
					}
				default:
					return
				}
			}
		}
	}
}

// window judges one window (the zero Reading: the show ended) and tells
// the Changes.
func (l *live) window(r Reading) {
	l.mu.Lock()
	var cs []Change
	if r == (Reading{}) {
		cs = l.judge.stopClipping()
	} else {
		cs = l.judge.step(r)
	}
	l.mu.Unlock()
	if len(cs) == 0 {
		return
	}
	l.m.mu.Lock()
	f := l.m.notify
	l.m.mu.Unlock()
	for _, c := range cs {
		c.Room = l.room
		if f != nil {
			f(c)
		}
	}
}
