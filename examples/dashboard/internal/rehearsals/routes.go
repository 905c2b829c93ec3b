// Package rehearsals is the dashboard's rehearsal routes: an admin rehearses
// a show's audience (spacemusic/rehearsal) and reads its steps, which run
// after the answer and are told to the live model as they come.
package rehearsals

import (
	"context"
	"net/http"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// Rehearsals runs a rehearsal on the deployment's LiveKit: rehearser.
type Rehearsals interface {
	Run(ctx context.Context, o rehearsal.Options) (rehearsal.Result, error)
}

// Rehearser rehearses on one LiveKit with the deployment's key.
type Rehearser struct{ cfg rehearsal.Config }

// NewRehearser rehearses with cfg.
func NewRehearser(cfg rehearsal.Config) Rehearser { return Rehearser{cfg} }

func (r Rehearser) Run(ctx context.Context, o rehearsal.Options) (rehearsal.Result, error) {
	return rehearsal.Run(ctx, r.cfg, o)
}

// Routes is the rehearsal routes: an admin starts one on a show and
// reads its steps; they run after the answer, told to the live model.
type Routes struct {
	Shows interface {
		Get(context.Context, string) (shows.Show, error)
	}
	Run     Rehearsals
	Model   *live.Model     // where the steps are told (events) and logged
	Closing <-chan struct{} // closed: the server is shutting down
	board   rehearsalBoard  // the rehearsals this process runs (rehearsalboard.go)
}

// Deadline bounds a rehearsal the dashboard runs. It runs after the
// POST has been answered (202): seven 10 s steps would outlast the server's
// write timeout and any proxy's.
const Deadline = 10 * time.Minute

type Request struct {
	Steps       []int   `json:"steps,omitempty"`       // listeners at each step, increasing (default 10, 25, 50, 100, 250, 500, 1000)
	HoldSeconds float64 `json:"holdSeconds,omitempty"` // each step's window (default 10, at least 1)
	Bitrate     int     `json:"bitrate,omitempty"`     // the synthetic performer's bits per second (default 128000)
	LossPercent float64 `json:"lossPercent,omitempty"` // limit (default 1)
	JitterP95Ms float64 `json:"jitterP95Ms,omitempty"` // limit (default 30)
	// Force rehearses a live show: the listeners join its room and hear the
	// show itself, loading the node the audience is on.
	Force bool `json:"force,omitempty"`
}

// options are the request's rehearsal options, on the show's own room when
// forced.
func (req Request) options() rehearsal.Options {
	return rehearsal.Options{Steps: req.Steps, Bitrate: req.Bitrate, Deadline: Deadline,
		Hold:   time.Duration(req.HoldSeconds * float64(time.Second)),
		Limits: rehearsal.Limits{LossPercent: req.LossPercent, JitterP95: time.Duration(req.JitterP95Ms * float64(time.Millisecond))}}
}

// Start starts rehearsing a show's audience for an admin and answers
// 202 with the rehearsal's state; its steps follow on the event stream and in
// GET's answer. Synthetic listeners load the whole node, so one rehearsal at
// a time in this process (429 rehearsal_busy), and never on a live show
// unless forced (409 show_live): its audience would hear the load. Bad
// options are refused before anything runs.
func (h *Routes) Start() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := api.BodyOf[Request](r)
		if err != nil {
			return err
		}
		name := r.PathValue("name")
		o := req.options()
		if err := o.Check(); err != nil {
			return err
		}
		sh, err := h.Shows.Get(r.Context(), name)
		if err != nil {
			return err
		}
		if sh.Phase == shows.Live {
			if !req.Force {
				return api.NewError(http.StatusConflict, "show_live", "the show is live: its audience would hear the rehearsal's load; send force to rehearse on it anyway")
			}
			o.Room = sh.Room.Name // the show itself, not a synthetic performer
		}
		st, ok := h.board.start(name, sh.Room.Name, o.Room == "", o.Planned())
		if !ok {
			w.Header().Set("Retry-After", "30")
			return api.NewError(http.StatusTooManyRequests, "rehearsal_busy", "a rehearsal is running; try again when it has ended")
		}
		go h.rehearse(st, o)
		w.Header().Set("Location", "/api/shows/"+name+"/rehearsal")
		api.WriteJSON(w, http.StatusAccepted, h.board.view(name))
		return nil
	}
}

// Latest answers the show's latest rehearsal in this process:
// running with the steps measured so far, done with its capacity, or failed.
func (h *Routes) Latest() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		v := h.board.view(r.PathValue("name"))
		if v == nil {
			return api.NewError(http.StatusNotFound, "not_found", "this dashboard has not rehearsed that show since it started (with replicas, the one that ran it has; the event stream told every page)")
		}
		api.WriteJSON(w, http.StatusOK, v)
		return nil
	}
}

// rehearse runs st's rehearsal, its steps and end told to the board and, as
// events, to the show's story and the event stream. It ends with the
// rehearsal's deadline, or when the server shuts down.
func (h *Routes) rehearse(st *State, o rehearsal.Options) {
	ctx, cancel := context.WithTimeout(context.Background(), Deadline+time.Minute)
	defer cancel()
	api.CancelOnClose(ctx, h.Closing, cancel)
	h.tellRehearsal(events.RehearsalStarted, st, events.Rehearsal{Planned: o.Planned()})
	o.Stepped = func(step rehearsal.Step) {
		ev := h.board.stepped(st, step)
		h.tellRehearsal(events.RehearsalStepped, st, events.Rehearsal{Step: &ev})
	}
	res, err := h.Run.Run(ctx, o)
	end := h.board.end(st, res, err)
	h.tellRehearsal(events.RehearsalEnded, st, end)
	// Not the error's text: it may name the test room, an identity under the
	// reserved prefix; GET answers it.
	h.Model.Log.Info("rehearsal ended", "show", st.Show, "id", st.ID, "capacity", end.Capacity, "stoppedBy", end.StoppedBy, "failed", end.Error != "")
}

// tellRehearsal adds a rehearsal's event to the watched model, when there is
// one.
func (h *Routes) tellRehearsal(kind events.Kind, st *State, body events.Rehearsal) {
	if h.Model.Events == nil {
		return
	}
	body.ID = st.ID
	e := events.Event{Kind: kind, Room: st.room, At: time.Now().UTC(), Rehearsal: &body,
		ID: "rehearsal-" + st.ID + "-" + string(kind) + "-" + time.Now().Format("150405.000000000")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := h.Model.Events.Apply(ctx, e); err != nil {
		h.Model.Log.Warn("the model did not take a rehearsal event", "show", st.Show, "error", err.Error())
	}
}
