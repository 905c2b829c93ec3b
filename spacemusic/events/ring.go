package events

// ring keeps the newest size events in order, oldest first. A full ring drops
// its oldest on push in O(1): a busy show's in-memory log turns over with every
// event, and copying ten thousand events each time would cost more than the
// event.
type ring struct {
	size  int
	buf   []Event // grows to size, then wraps
	start int     // index of the oldest once full
}

// push adds e, and returns the event it dropped when the ring was full.
func (r *ring) push(e Event) (dropped Event, full bool) {
	if len(r.buf) < r.size {
		r.buf = append(r.buf, e)
		return Event{}, false
	}
	dropped = r.buf[r.start]
	r.buf[r.start] = e
	r.start = (r.start + 1) % r.size
	return dropped, true
}

func (r *ring) len() int { return len(r.buf) }

// at is the i-th event, 0 the oldest.
func (r *ring) at(i int) Event { return r.buf[(r.start+i)%len(r.buf)] }

// from copies the events from the i-th on, oldest first; nil when none.
func (r *ring) from(i int) []Event {
	var out []Event
	for ; i < len(r.buf); i++ {
		out = append(out, r.at(i))
	}
	return out
}
