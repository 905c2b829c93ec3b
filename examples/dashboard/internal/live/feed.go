package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Feed is the live routes: LiveKit's webhooks in, the watched model's events
// out as Server-Sent Events, and a room's story from the event log.
type Feed struct {
	Model    *Model
	Webhooks Webhooks
	Rooms    interface {
		Get(context.Context, string) (rooms.Detail, error)
	} // a room the model does not hold
	PerPrincipal int                        // event streams one user may hold open
	Closing      <-chan struct{}            // closed: the server is shutting down
	Who          func(*http.Request) string // the caller's principal
	streams      atomic.Int64               // open event streams
	by           api.Slots                  // open event streams by principal
}

const (
	// maxStreams bounds open event streams: each holds a connection and a
	// goroutine for as long as the page is open.
	MaxStreams = 256
	// heartbeat keeps idle streams alive through proxies and tells a dead
	// client apart.
	Heartbeat = 15 * time.Second
)

// Webhook takes LiveKit's webhooks. The signature is the authentication
// (no user auth); the route is rate-limited like every other.
func (f *Feed) Webhook() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		f.Webhooks.ServeHTTP(w, r)
		return nil
	}
}

// Events streams the model's events as Server-Sent Events: "id:" is the
// revision, so a reconnecting EventSource resumes with Last-Event-ID and misses
// nothing the log still keeps. A client that fell further behind gets an event
// of kind "reset" and should reload what it shows.
func (f *Feed) Events() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := streamQueryOf(r, f.Model.Events.Snapshot().Revision)
		if err != nil {
			return err
		}
		q.sees = func(e events.Event) bool { return seesEvent(r, e) }
		release, err := f.admitStream(r)
		if err != nil {
			return err
		}
		defer release()

		// The stream ends with the client, or when the server shuts down (its
		// graceful shutdown would otherwise wait for every open page).
		sctx, stop := context.WithCancel(r.Context())
		defer stop()
		api.CancelOnClose(sctx, f.Closing, stop)
		rc := http.NewResponseController(w)
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)
		send := func(chunk string) bool {
			_ = rc.SetWriteDeadline(time.Now().Add(Heartbeat + 10*time.Second)) // the server's WriteTimeout is for answers, not streams
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if send("retry: 2000\n: revision " + strconv.FormatUint(q.after, 10) + "\n\n") {
			f.stream(sctx, q, send)
		}
		return nil
	}
}

// streamQuery is what an event stream asks for: one room's events (all when
// empty), after which revision, and whether to wait for more.
type streamQuery struct {
	room   string
	after  uint64
	follow bool
	sees   func(events.Event) bool // what the caller may see (seesEvent)
}

// streamQueryOf reads ?room=, Last-Event-ID or ?after= (now when neither) and
// ?follow= (true unless said).
func streamQueryOf(r *http.Request, now uint64) (streamQuery, error) {
	q := r.URL.Query()
	out := streamQuery{room: q.Get("room"), after: now, follow: true}
	if out.room != "" {
		if err := rooms.CheckName(out.room); err != nil {
			return out, err
		}
	}
	for _, v := range []string{r.Header.Get("Last-Event-ID"), q.Get("after")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return out, api.BadRequest("Last-Event-ID and after must be a revision this server sent")
		}
		out.after = n
	}
	if v := q.Get("follow"); v != "" {
		var err error
		if out.follow, err = strconv.ParseBool(v); err != nil {
			return out, api.BadRequest("follow must be true or false")
		}
	}
	return out, nil
}

// admitStream holds one of the server's event streams and one of the caller's,
// or answers 429; release gives them back.
func (f *Feed) admitStream(r *http.Request) (release func(), err error) {
	if f.streams.Add(1) > MaxStreams {
		f.streams.Add(-1)
		return nil, api.NewError(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("at most %d event streams are open at once", MaxStreams))
	}
	// And one viewer may not take the whole of it.
	who := f.Who(r)
	if !f.by.Take(who, f.PerPrincipal) {
		f.streams.Add(-1)
		return nil, api.NewError(http.StatusTooManyRequests, "too_many_streams", fmt.Sprintf("at most %d event streams per user are open at once (DASHBOARD_STREAMS_PER_PRINCIPAL)", f.PerPrincipal))
	}
	return func() { f.by.Give(who); f.streams.Add(-1) }, nil
}

// stream sends the model's events after q.after until the client goes, the
// server stops or (without follow) what is kept now has been sent: a ping
// each heartbeat, a reset when the events asked for are gone.
func (f *Feed) stream(ctx context.Context, q streamQuery, send func(string) bool) {
	after := q.after
	for {
		var evs []events.Event
		var err error
		if q.follow {
			wctx, cancel := context.WithTimeout(ctx, Heartbeat)
			evs, err = f.Model.Events.Wait(wctx, after)
			cancel()
		} else {
			evs, err = f.Model.Events.Since(ctx, after) // what is kept now, without waiting
		}
		switch {
		case ctx.Err() != nil:
			return // the client went away, or the server is stopping
		case errors.Is(err, context.DeadlineExceeded):
			if !send(": ping\n\n") {
				return
			}
			continue
		case errors.Is(err, events.ErrGone):
			after = f.Model.Events.Snapshot().Revision
			if !send(fmt.Sprintf("id: %d\ndata: {\"kind\":\"reset\",\"revision\":%d}\n\n", after, after)) {
				return
			}
			continue
		case err != nil:
			f.Model.Log.Warn("event stream ended", "error", err.Error())
			return
		}
		for _, e := range evs {
			after = e.Revision
			if (q.room != "" && e.Room != q.room) || !q.sees(e) {
				continue
			}
			b, _ := json.Marshal(e)
			if !send(fmt.Sprintf("id: %d\ndata: %s\n\n", e.Revision, b)) {
				return
			}
		}
		if !q.follow {
			return
		}
	}
}

// TimelinePage is a room's story, oldest first: its newest events, a page at a time.
type TimelinePage struct {
	Room   string         `json:"room"`
	Events []events.Event `json:"events"`
	// Before is the revision to ask ?before= for the older events; absent when
	// the log keeps none older.
	Before uint64 `json:"before,omitempty"`
}

// Timeline pages.
const (
	defaultTimeline = 200
	maxTimeline     = 1000
)

// Timeline answers a room's story from the event log: also for a room
// that has closed, for as long as the log keeps it. One page costs the same
// however long the log is: the room's newest events (before ?before=), read
// through the log's index of the room.
func (f *Feed) Timeline() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		room := r.PathValue("name")
		if err := rooms.CheckName(room); err != nil {
			return err
		}
		q := r.URL.Query()
		limit := defaultTimeline
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxTimeline {
				return api.BadRequest("limit is events per page, from 1 to %d", maxTimeline)
			}
			limit = n
		}
		var before uint64
		if v := q.Get("before"); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				return api.BadRequest("before must be the before of a previous answer")
			}
			before = n
		}
		evs, older, err := f.Model.Events.Timeline(r.Context(), room, before, limit)
		if err != nil {
			return err
		}
		out := TimelinePage{Room: room, Events: []events.Event{}, Before: older}
		for _, e := range evs {
			if seesEvent(r, e) {
				out.Events = append(out.Events, e)
			}
		}
		if len(out.Events) == 0 && before == 0 {
			// No story yet: an open room (which LiveKit knows) has an empty one.
			if _, open := f.Model.Events.Snapshot().Rooms[room]; !open {
				if _, err := f.Rooms.Get(r.Context(), room); err != nil {
					return err
				}
			}
		}
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

// Collector exports the live model's figures: webhooks by result, the
// model's revision and lag, resync corrections by kind, open event streams.
type Collector struct{ f *Feed }

// NewCollector exports f's figures.
func NewCollector(f *Feed) Collector { return Collector{f} }

var (
	webhooksDesc    = prometheus.NewDesc("dashboard_webhooks_total", "LiveKit webhooks received, by result (accepted, duplicate, unauthorized, ...).", []string{"result"}, nil)
	revisionDesc    = prometheus.NewDesc("dashboard_model_revision", "Revision of the live model of LiveKit.", nil, nil)
	lagDesc         = prometheus.NewDesc("dashboard_model_lag_seconds", "Seconds since the live model last listed LiveKit.", nil, nil)
	correctionsDesc = prometheus.NewDesc("dashboard_resync_corrections_total", "Events a resync had to emit because a webhook was lost or late, by kind.", []string{"kind"}, nil)
	streamsDesc     = prometheus.NewDesc("dashboard_event_streams", "Open Server-Sent Event streams.", nil, nil)
)

func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{webhooksDesc, revisionDesc, lagDesc, correctionsDesc, streamsDesc} {
		ch <- d
	}
}

func (c Collector) Collect(ch chan<- prometheus.Metric) {
	for result, n := range c.f.Webhooks.Counts() {
		ch <- prometheus.MustNewConstMetric(webhooksDesc, prometheus.CounterValue, float64(n), result)
	}
	snap := c.f.Model.Events.Snapshot()
	ch <- prometheus.MustNewConstMetric(revisionDesc, prometheus.GaugeValue, float64(snap.Revision))
	if snap.Synced {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, time.Since(snap.Resynced).Seconds())
	}
	for kind, n := range c.f.Model.Events.Corrections() {
		ch <- prometheus.MustNewConstMetric(correctionsDesc, prometheus.CounterValue, float64(n), string(kind))
	}
	ch <- prometheus.MustNewConstMetric(streamsDesc, prometheus.GaugeValue, float64(c.f.streams.Load()))
}

// seesEvent reports whether the caller may see e: a rehearsal's events are
// for admins, as rehearsals are.
func seesEvent(r *http.Request, e events.Event) bool {
	switch e.Kind {
	case events.RehearsalStarted, events.RehearsalStepped, events.RehearsalEnded:
		c := api.CallIn(r.Context())
		return c != nil && c.User.Role >= api.Admin
	}
	return true
}

// Webhooks verifies and takes LiveKit's webhooks: *events.Receiver.
type Webhooks interface {
	http.Handler
	Counts() map[string]int64
}
