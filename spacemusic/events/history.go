package events

import (
	"context"
	"slices"
	"sort"
)

// Since returns the events after revision after that are still kept, without
// waiting (none when there are none yet). ErrGone as for Wait.
func (w *Watch) Since(ctx context.Context, after uint64) ([]Event, error) {
	w.logMu.Lock()
	evs, gone := w.since(after)
	w.logMu.Unlock()
	if gone && w.opts.Log != nil {
		return w.opts.Log.Read(ctx, after, w.opts.LogSize, 0)
	}
	if gone {
		return nil, ErrGone
	}
	return evs, nil
}

// roomReader is a shared Log that indexes events by room (RedisLog).
type roomReader interface {
	ReadRoom(ctx context.Context, room string, before uint64, limit int) ([]Event, bool, error)
}

// MaxTimeline bounds one read of a room's story.
const MaxTimeline = 10_000

// Timeline returns up to limit (at most MaxTimeline) of room's newest events
// before revision before (the newest when 0), oldest first, and the revision to
// ask before for older ones (0 when none are kept). Its cost is bounded by limit,
// not by the log's length: a shared log that indexes rooms reads only the room's
// events; in memory at most LogSize events are looked at.
func (w *Watch) Timeline(ctx context.Context, room string, before uint64, limit int) ([]Event, uint64, error) {
	if limit <= 0 || limit > MaxTimeline {
		limit = MaxTimeline
	}
	if rr, ok := w.opts.Log.(roomReader); ok {
		evs, more, err := rr.ReadRoom(ctx, room, before, limit)
		if err != nil || !more || len(evs) == 0 {
			return evs, 0, err
		}
		return evs, evs[0].Revision, nil
	}
	if w.opts.Log != nil {
		// A shared log without an index: its newest LogSize events, no further.
		evs, err := w.history(ctx, room, w.opts.LogSize)
		if err != nil {
			return nil, 0, err
		}
		return newest(evs, before, limit)
	}
	w.logMu.Lock()
	var picked []Event
	more := false
	for i := w.log.len() - 1; i >= 0; i-- {
		e := w.log.at(i)
		if e.Room != room || (before > 0 && e.Revision >= before) {
			continue
		}
		if len(picked) == limit {
			more = true
			break
		}
		picked = append(picked, e)
	}
	w.logMu.Unlock()
	slices.Reverse(picked)
	if !more || len(picked) == 0 {
		return picked, 0, nil
	}
	return picked, picked[0].Revision, nil
}

// newest is the last limit of evs before revision before, and the cursor to
// older ones.
func newest(evs []Event, before uint64, limit int) ([]Event, uint64, error) {
	if before > 0 {
		i := sort.Search(len(evs), func(i int) bool { return evs[i].Revision >= before })
		evs = evs[:i]
	}
	if len(evs) <= limit {
		return evs, 0, nil
	}
	evs = evs[len(evs)-limit:]
	return evs, evs[0].Revision, nil
}

// History returns the events still kept about room (every room when empty),
// oldest first: the story of a room also after it closed, as far back as the log
// goes (LogSize events in memory; the retention and bounds of a shared log, at
// most MaxTimeline events of one room).
func (w *Watch) History(ctx context.Context, room string) ([]Event, error) {
	if _, ok := w.opts.Log.(roomReader); ok && room != "" {
		evs, _, err := w.Timeline(ctx, room, 0, MaxTimeline)
		return evs, err
	}
	return w.history(ctx, room, 1000*1000)
}

// history reads up to max events of the whole log and keeps room's.
func (w *Watch) history(ctx context.Context, room string, max int) ([]Event, error) {
	var all []Event
	if w.opts.Log == nil {
		w.logMu.Lock()
		all = w.log.from(0)
		w.logMu.Unlock()
	} else {
		var after uint64
		for range (max + 999) / 1000 { // bounded: max events
			evs, err := w.opts.Log.Read(ctx, after, 1000, 0)
			if err != nil {
				return nil, err
			}
			if len(evs) == 0 {
				break
			}
			all = append(all, evs...)
			after = evs[len(evs)-1].Revision
		}
	}
	if room == "" {
		return all, nil
	}
	out := all[:0:0]
	for _, e := range all {
		if e.Room == room {
			out = append(out, e)
		}
	}
	return out, nil
}

// Wait returns the events after revision after, in order, waiting until there is
// at least one or ctx ends. ErrGone: they are no longer kept. With a shared Log,
// a revision older than this Watch keeps (a client resuming on a replica that
// restarted) is read from the shared log.
func (w *Watch) Wait(ctx context.Context, after uint64) ([]Event, error) {
	for {
		w.logMu.Lock()
		evs, gone := w.since(after)
		ch := w.changed
		w.logMu.Unlock()
		if gone && w.opts.Log != nil {
			return w.opts.Log.Read(ctx, after, w.opts.LogSize, 0)
		}
		if gone {
			return nil, ErrGone
		}
		if len(evs) > 0 {
			return evs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// since is the events after revision after; gone when some were dropped, or
// happened before this Watch began.
func (w *Watch) since(after uint64) ([]Event, bool) {
	if after < w.dropped || after < w.base.Load() {
		return nil, true
	}
	i := sort.Search(w.log.len(), func(i int) bool { return w.log.at(i).Revision > after })
	return w.log.from(i), false
}
