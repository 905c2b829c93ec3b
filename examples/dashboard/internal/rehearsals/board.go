package rehearsals

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
)

// rehearsalBoard keeps the rehearsals this process runs and ran: one runs at
// a time, and the latest of each show is kept for GET (at most keptShows
// shows). Its zero value is ready.
type rehearsalBoard struct {
	mu      sync.Mutex
	running bool
	byShow  map[string]*State
	order   []string // shows, oldest rehearsal first
}

const keptShows = 64

// Rehearsal states.
const (
	Running         = "running"
	Done            = "done"
	rehearsalFailed = "failed"
)

// State is a rehearsal as GET answers it.
type State struct {
	ID      string `json:"id"`
	State   string `json:"state" enum:"running,done,failed"`
	Planned []int  `json:"planned"` // the listeners of each step it tries
	// Error: why it failed (LiveKit unreachable, the show's room gone, the
	// dashboard shutting down); the steps measured until then are kept.
	Error     string     `json:"error,omitempty"`
	StartedAt time.Time  `json:"startedAt"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	View
	room string // the show's room, for its events
}

// View is a rehearsal's result with durations in milliseconds.
type View struct {
	Show      string `json:"show"`
	Room      string `json:"room"` // where the listeners listened: a test room, or the show's when forced
	Synthetic bool   `json:"synthetic"`
	// Capacity is the listeners of the last step within the limits so far.
	Capacity  int        `json:"capacity"`
	StoppedBy string     `json:"stoppedBy,omitempty" enum:"limit,join,deadline"`
	Reason    string     `json:"reason,omitempty"`
	Steps     []StepView `json:"steps"`
	// GeneratorCPUPerListenerMinute: the dashboard's CPU seconds per
	// simulated listener-minute.
	GeneratorCPUPerListenerMinute float64 `json:"generatorCpuPerListenerMinute"`
}

// StepView is a step as the event stream tells it, and its packets.
type StepView struct {
	events.RehearsalStep
	WindowMs         float64 `json:"windowMs"`
	Expected         int64   `json:"expected"`
	Received         int64   `json:"received"`
	MinReceived      int64   `json:"minReceived"`
	WorstLossPercent float64 `json:"worstLossPercent"`
	JitterMaxMs      float64 `json:"jitterMaxMs"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// stepEvent is what the event stream tells of a step.
func stepEvent(s rehearsal.Step) events.RehearsalStep {
	return events.RehearsalStep{Listeners: s.Listeners, LossPercent: s.LossPercent, JitterP50Ms: ms(s.JitterP50), JitterP95Ms: ms(s.JitterP95),
		JoinP50Ms: ms(s.JoinP50), JoinP95Ms: ms(s.JoinP95), SFUCPU: s.SFUCPU, GeneratorCPU: s.GeneratorCPU, Passed: s.Passed, Crossed: s.Crossed}
}

func ViewOfStep(s rehearsal.Step) StepView {
	return StepView{RehearsalStep: stepEvent(s), WindowMs: ms(s.Window), Expected: s.Expected, Received: s.Received,
		MinReceived: s.MinReceived, WorstLossPercent: s.WorstLossPercent, JitterMaxMs: ms(s.JitterMax)}
}

func ViewOf(show string, res rehearsal.Result) View {
	v := View{Show: show, Room: res.Room, Synthetic: res.Synthetic, Capacity: res.Capacity, StoppedBy: res.StoppedBy,
		Reason: res.Reason, Steps: []StepView{}, GeneratorCPUPerListenerMinute: res.GeneratorCPUPerListenerMinute}
	for _, s := range res.Steps {
		v.Steps = append(v.Steps, ViewOfStep(s))
	}
	return v
}

// start records a new rehearsal of show, unless one is running (false).
func (b *rehearsalBoard) start(show, room string, synthetic bool, planned []int) (*State, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return nil, false
	}
	b.running = true
	var id [6]byte
	_, _ = rand.Read(id[:])
	st := &State{ID: hex.EncodeToString(id[:]), State: Running, Planned: planned, StartedAt: time.Now().UTC(), room: room,
		View: View{Show: show, Synthetic: synthetic, Steps: []StepView{}}}
	if b.byShow == nil {
		b.byShow = map[string]*State{}
	}
	if _, ok := b.byShow[show]; !ok {
		b.order = append(b.order, show)
	}
	b.byShow[show] = st
	if len(b.order) > keptShows {
		delete(b.byShow, b.order[0])
		b.order = b.order[1:]
	}
	return st, true
}

// stepped adds a measured step to st and answers what the stream tells of it.
func (b *rehearsalBoard) stepped(st *State, s rehearsal.Step) events.RehearsalStep {
	b.mu.Lock()
	defer b.mu.Unlock()
	st.Steps = append(st.Steps, ViewOfStep(s))
	if s.Passed {
		st.Capacity = s.Listeners
	}
	return stepEvent(s)
}

// end closes st with Run's answer and makes room for the next rehearsal.
func (b *rehearsalBoard) end(st *State, res rehearsal.Result, err error) events.Rehearsal {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running = false
	now := time.Now().UTC()
	st.EndedAt = &now
	if err != nil {
		st.State, st.Error = rehearsalFailed, err.Error()
		return events.Rehearsal{Capacity: st.Capacity, Error: st.Error}
	}
	st.State = Done
	st.View = ViewOf(st.Show, res)
	return events.Rehearsal{Capacity: res.Capacity, StoppedBy: res.StoppedBy, Reason: res.Reason}
}

// view is a copy of show's latest rehearsal, or nil.
func (b *rehearsalBoard) view(show string) *State {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.byShow[show]
	if st == nil {
		return nil
	}
	c := *st
	c.Planned = append([]int(nil), st.Planned...)
	c.Steps = append([]StepView{}, st.Steps...)
	return &c
}
