package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// Rehearsals runs a rehearsal on the deployment's LiveKit: rehearser.
type Rehearsals interface {
	Run(ctx context.Context, o rehearsal.Options) (rehearsal.Result, error)
}

// rehearser rehearses on one LiveKit with the deployment's key.
type rehearser struct{ cfg rehearsal.Config }

func (r rehearser) Run(ctx context.Context, o rehearsal.Options) (rehearsal.Result, error) {
	return rehearsal.Run(ctx, r.cfg, o)
}

// rehearsalDeadline bounds a rehearsal the dashboard runs: the request waits
// for it.
const rehearsalDeadline = 10 * time.Minute

type rehearsalRequest struct {
	Steps       []int   `json:"steps,omitempty"`       // listeners at each step, increasing (default 10, 25, 50, 100, 250, 500, 1000)
	HoldSeconds float64 `json:"holdSeconds,omitempty"` // each step's window (default 10, at least 1)
	Bitrate     int     `json:"bitrate,omitempty"`     // the synthetic performer's bits per second (default 128000)
	LossPercent float64 `json:"lossPercent,omitempty"` // limit (default 1)
	JitterP95Ms float64 `json:"jitterP95Ms,omitempty"` // limit (default 30)
	// Force rehearses a live show: the listeners join its room and hear the
	// show itself, loading the node the audience is on.
	Force bool `json:"force,omitempty"`
}

// rehearsalView is a rehearsal's result with durations in milliseconds.
type rehearsalView struct {
	Show      string              `json:"show"`
	Room      string              `json:"room"`
	Synthetic bool                `json:"synthetic"`
	Capacity  int                 `json:"capacity"`
	StoppedBy string              `json:"stoppedBy,omitempty" enum:"limit,join,deadline"`
	Reason    string              `json:"reason,omitempty"`
	Steps     []rehearsalStepView `json:"steps"`
	// GeneratorCPUPerListenerMinute: the dashboard's CPU seconds per
	// simulated listener-minute.
	GeneratorCPUPerListenerMinute float64 `json:"generatorCpuPerListenerMinute"`
}

type rehearsalStepView struct {
	Listeners        int      `json:"listeners"`
	WindowMs         float64  `json:"windowMs"`
	Expected         int64    `json:"expected"`
	Received         int64    `json:"received"`
	MinReceived      int64    `json:"minReceived"`
	LossPercent      float64  `json:"lossPercent"`
	WorstLossPercent float64  `json:"worstLossPercent"`
	JitterP50Ms      float64  `json:"jitterP50Ms"`
	JitterP95Ms      float64  `json:"jitterP95Ms"`
	JitterMaxMs      float64  `json:"jitterMaxMs"`
	JoinP50Ms        float64  `json:"joinP50Ms"`
	JoinP95Ms        float64  `json:"joinP95Ms"`
	GeneratorCPU     float64  `json:"generatorCpu"`
	SFUCPU           *float64 `json:"sfuCpu,omitempty"`
	Passed           bool     `json:"passed"`
	Crossed          string   `json:"crossed,omitempty" enum:"loss,jitter"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func viewOfRehearsal(show string, res rehearsal.Result) rehearsalView {
	v := rehearsalView{Show: show, Room: res.Room, Synthetic: res.Synthetic, Capacity: res.Capacity, StoppedBy: res.StoppedBy,
		Reason: res.Reason, Steps: []rehearsalStepView{}, GeneratorCPUPerListenerMinute: res.GeneratorCPUPerListenerMinute}
	for _, s := range res.Steps {
		v.Steps = append(v.Steps, rehearsalStepView{Listeners: s.Listeners, WindowMs: ms(s.Window), Expected: s.Expected, Received: s.Received,
			MinReceived: s.MinReceived, LossPercent: s.LossPercent, WorstLossPercent: s.WorstLossPercent,
			JitterP50Ms: ms(s.JitterP50), JitterP95Ms: ms(s.JitterP95), JitterMaxMs: ms(s.JitterMax), JoinP50Ms: ms(s.JoinP50), JoinP95Ms: ms(s.JoinP95),
			GeneratorCPU: s.GeneratorCPU, SFUCPU: s.SFUCPU, Passed: s.Passed, Crossed: s.Crossed})
	}
	return v
}

// handleRehearsal rehearses a show's audience for an admin and answers the
// result. Synthetic listeners load the whole node, so one rehearsal at a time
// in this process (429 rehearsal_busy), and never on a live show unless
// forced (409 show_live): its audience would hear the load.
func (s *server) handleRehearsal() handler {
	var busy atomic.Bool
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := bodyOf[rehearsalRequest](r)
		if err != nil {
			return err
		}
		name := r.PathValue("name")
		o := rehearsal.Options{Steps: req.Steps, Bitrate: req.Bitrate, Deadline: rehearsalDeadline,
			Hold:   time.Duration(req.HoldSeconds * float64(time.Second)),
			Limits: rehearsal.Limits{LossPercent: req.LossPercent, JitterP95: time.Duration(req.JitterP95Ms * float64(time.Millisecond))}}
		sh, err := s.Shows.Get(r.Context(), name)
		if err != nil {
			return showError(err)
		}
		if sh.Phase == shows.Live {
			if !req.Force {
				return &apiError{http.StatusConflict, "show_live", "the show is live: its audience would hear the rehearsal's load; send force to rehearse on it anyway"}
			}
			o.Room = sh.Room.Name // the show itself, not a synthetic performer
		}
		if !busy.CompareAndSwap(false, true) {
			w.Header().Set("Retry-After", "30")
			return &apiError{http.StatusTooManyRequests, "rehearsal_busy", "a rehearsal is running; try again when it has ended"}
		}
		defer busy.Store(false)
		// The answer waits for the rehearsal, longer than other answers may.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(rehearsalDeadline + time.Minute))
		res, err := s.Rehearsals.Run(r.Context(), o)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, viewOfRehearsal(name, res))
		return nil
	}
}
