package capture

import (
	"context"
	"time"
)

// LiveKit disconnects the earlier holder of an identity when a second
// participant joins under it (DUPLICATE_IDENTITY). Someone who joins as the
// recorder with a token made elsewhere would end the show's recording; the
// recorder joins again instead, which drops them in turn. The part being
// written ends with the track (uploaded as any part); the rejoined recorder
// writes a new one, so nothing recorded is lost or overwritten.

// MaxRejoins bounds the rejoins per room and show: an impostor who keeps
// coming back does not keep the recorder in a loop. Finish resets the count.
const MaxRejoins = 5

// rejoinBackoff is the wait before the first rejoin, doubled for each next.
const rejoinBackoff = 500 * time.Millisecond

// rejoin arms room again in the background (bounded: MaxRejoins, each
// within JoinTimeout), unless the room was finished or
// the recorder closed meanwhile, or the rejoins are spent.
func (r *Recorder) rejoin(room, source string) {
	r.mu.Lock()
	f := r.intruder
	r.mu.Unlock()
	if f != nil {
		f(room)
	}
	r.mu.Lock()
	n := r.rejoins[room]
	if r.closed || n >= MaxRejoins {
		r.mu.Unlock()
		r.cfg.Logger.Warn("capture: someone took the recorder's identity; not rejoining", "room", room, "rejoins", n)
		return
	}
	r.rejoins[room] = n + 1
	r.mu.Unlock()
	r.cfg.Logger.Warn("capture: someone took the recorder's identity; rejoining", "room", room, "rejoin", n+1)
	go func() {
		time.Sleep(rejoinBackoff << n)
		r.mu.Lock()
		_, finished := r.rejoins[room] // Finish deletes the count
		stop := r.closed || !finished || r.sessions[room] != nil
		r.mu.Unlock()
		if stop {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), JoinTimeout)
		defer cancel()
		if err := r.Arm(ctx, room, source); err != nil {
			r.cfg.Logger.Warn("capture: rejoining failed", "room", room, "error", err.Error())
		}
	}()
}

// NotifyIntruder has f told the room when someone joined under the
// recorder's identity and LiveKit dropped the recorder for them; often the
// only sign of them, since the recorder joining again drops them before
// LiveKit counts them as joined. f must not block.
func (r *Recorder) NotifyIntruder(f func(room string)) {
	r.mu.Lock()
	r.intruder = f
	r.mu.Unlock()
}

// sourceNow is the identity whose audio the session records.
func (s *session) sourceNow() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.source
}
