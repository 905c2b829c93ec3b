// Package rehearsal measures how many listeners a show holds before the doors
// open: synthetic listeners, hidden and subscribe-only, join the show's room
// (or a test room with a synthetic performer sending the show's profile) in
// steps, and each step is held long enough to measure what every listener
// receives: loss, RTP jitter and the time to the first packet. The rehearsal
// stops at the first step that crosses the operator's limits and reports the
// last good step as the show's capacity on this LiveKit node.
//
// A listener is one LiveKit participant with its own subscriber connection
// (LiveKit needs one per participant), but nothing more: no server-sdk-go
// room, one pion API shared by every listener, no interceptors; packets are counted
// and timed from their RTP header into a buffer read again and again, never
// decoded, and one timer samples every listener's jitter.
package rehearsal

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Bounds every rehearsal is held to, whatever the options say.
const (
	MaxListeners = 1000            // synthetic listeners in one rehearsal
	MaxSteps     = 20              // steps in one rehearsal
	MaxHold      = 2 * time.Minute // one step's measuring window (its jitter samples are kept: 1200 per listener)
	MaxDeadline  = time.Hour       // the whole rehearsal
)

// Defaults for zero options.
const (
	DefaultHold        = 10 * time.Second
	DefaultDeadline    = 15 * time.Minute
	DefaultBitrate     = 128000 // bits per second of the synthetic performer's Opus
	DefaultLossPercent = 1.0
	DefaultJitterP95   = 30 * time.Millisecond
)

// DefaultSteps are the listener counts tried in turn.
var DefaultSteps = []int{10, 25, 50, 100, 250, 500, 1000}

// Frame is the audio frame the profile sends: one RTP packet per 20 ms.
const Frame = 20 * time.Millisecond

// Config says which LiveKit to rehearse on. The rehearsal talks to nothing
// else: URL, and MetricsURL when given, on the same host.
type Config struct {
	URL    string         // LiveKit's WebSocket or HTTP URL
	Tokens *tokens.Issuer // signs the listeners' and the performer's tokens
	// MetricsURL is LiveKit's Prometheus endpoint (http://host:port/metrics),
	// read for the SFU's CPU; optional. Its host must be URL's host.
	MetricsURL string
	HTTPClient *http.Client // for the probe and the metrics; a default one when nil
}

// Limits are what a step may not cross. Zero fields take the defaults.
type Limits struct {
	LossPercent float64       `json:"lossPercent"` // packets lost, over all listeners
	JitterP95   time.Duration `json:"jitterP95"`   // the 95th percentile of the listeners' RTP jitter
}

// Options shape one rehearsal.
type Options struct {
	// Room is the show's room, which must exist and carry the show's audio.
	// Empty: a test room of the rehearsal's own, with a synthetic performer.
	Room     string
	Steps    []int         // listeners at each step, increasing; DefaultSteps when nil
	Hold     time.Duration // each step's measuring window; DefaultHold when zero
	Deadline time.Duration // the whole rehearsal; DefaultDeadline when zero
	Bitrate  int           // the synthetic performer's bits per second; DefaultBitrate when zero
	Limits   Limits
	// Measuring is called when a step's listeners all hear the show and its
	// window opens; Stepped when it closes. Both optional, called in turn.
	Measuring func(listeners int)
	Stepped   func(Step)
}

// Why a rehearsal stopped (Result.StoppedBy).
const (
	StoppedByNothing  = ""         // every step passed
	StoppedByLimit    = "limit"    // a step crossed the limits
	StoppedByJoin     = "join"     // listeners could not join or heard nothing
	StoppedByDeadline = "deadline" // the rehearsal ran out of time
)

// Result is a rehearsal's outcome.
type Result struct {
	Room      string `json:"room"`
	Synthetic bool   `json:"synthetic"` // a test room with a synthetic performer
	Bitrate   int    `json:"bitrate,omitempty"`
	Limits    Limits `json:"limits"`
	Steps     []Step `json:"steps"`
	// Capacity is the listeners of the last step within the limits (0: none).
	Capacity  int    `json:"capacity"`
	StoppedBy string `json:"stoppedBy,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// GeneratorCPUPerListenerMinute is this process's CPU seconds per
	// simulated listener-minute, over every measured window.
	GeneratorCPUPerListenerMinute float64   `json:"generatorCpuPerListenerMinute"`
	StartedAt                     time.Time `json:"startedAt"`
	EndedAt                       time.Time `json:"endedAt"`
}

// Step is what one step measured.
type Step struct {
	Listeners int           `json:"listeners"`
	Window    time.Duration `json:"window"`
	// Expected and Received are packets over all listeners; the per-listener
	// extremes name the worst listener.
	Expected         int64   `json:"expected"`
	Received         int64   `json:"received"`
	MinReceived      int64   `json:"minReceived"` // the fewest one listener received
	LossPercent      float64 `json:"lossPercent"`
	WorstLossPercent float64 `json:"worstLossPercent"`
	// RTP interarrival jitter (RFC 3550): each listener's highest in every
	// 100 ms of the window, over all listeners.
	JitterP50 time.Duration `json:"jitterP50"`
	JitterP95 time.Duration `json:"jitterP95"`
	JitterMax time.Duration `json:"jitterMax"`
	// Join is from dialling LiveKit to the first packet, for the listeners
	// this step added.
	JoinP50 time.Duration `json:"joinP50"`
	JoinP95 time.Duration `json:"joinP95"`
	// CPU seconds during the window: this process's, and the SFU's when its
	// metrics were readable.
	GeneratorCPU float64  `json:"generatorCpu"`
	SFUCPU       *float64 `json:"sfuCpu,omitempty"`
	Passed       bool     `json:"passed"`
	Crossed      string   `json:"crossed,omitempty"` // which limit, when not passed
}

const opRun = "rehearsal.Run"

// Check refuses Options that Run would refuse, with errs.ErrInvalidArgument,
// without dialling anything: for a caller that answers before the rehearsal
// runs (the dashboard's 202).
func (o Options) Check() error {
	_, err := o.withDefaults()
	return err
}

// Planned is the listeners of each step Run would try with o.
func (o Options) Planned() []int {
	if o.Steps == nil {
		return DefaultSteps
	}
	return o.Steps
}

// withDefaults checks o and fills its zero fields.
func (o Options) withDefaults() (Options, error) {
	if o.Steps == nil {
		o.Steps = DefaultSteps
	}
	if len(o.Steps) == 0 || len(o.Steps) > MaxSteps {
		return o, errs.Invalid(opRun, "steps: between 1 and %d steps", MaxSteps)
	}
	prev := 0
	for _, n := range o.Steps {
		if n <= prev {
			return o, errs.Invalid(opRun, "steps: listener counts must be positive and increasing, got %v", o.Steps)
		}
		prev = n
	}
	if prev > MaxListeners {
		return o, &errs.Error{Op: opRun, Kind: errs.ErrInvalidArgument, Message: fmt.Sprintf("steps: at most %d listeners, got %d", MaxListeners, prev),
			Hint: "a rehearsal is bounded; rehearse larger audiences on more nodes"}
	}
	var err error
	if o.Hold, err = bounded("hold", o.Hold, DefaultHold, MaxHold); err != nil {
		return o, err
	}
	if o.Deadline, err = bounded("deadline", o.Deadline, DefaultDeadline, MaxDeadline); err != nil {
		return o, err
	}
	if o.Hold < time.Second {
		return o, errs.Invalid(opRun, "hold: at least 1s, to measure anything")
	}
	switch {
	case o.Bitrate == 0:
		o.Bitrate = DefaultBitrate
	case o.Bitrate < 6000 || o.Bitrate > 510000:
		return o, errs.Invalid(opRun, "bitrate: Opus takes 6000 to 510000 bits per second, got %d", o.Bitrate)
	}
	if o.Limits.LossPercent < 0 || o.Limits.LossPercent > 100 || o.Limits.JitterP95 < 0 {
		return o, errs.Invalid(opRun, "limits: loss between 0 and 100 %%, jitter not negative")
	}
	if o.Limits.LossPercent == 0 {
		o.Limits.LossPercent = DefaultLossPercent
	}
	if o.Limits.JitterP95 == 0 {
		o.Limits.JitterP95 = DefaultJitterP95
	}
	return o, nil
}

func bounded(name string, d, def, max time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return def, nil
	case d < 0 || d > max:
		return 0, errs.Invalid(opRun, "%s: between 0 and %s, got %s", name, max, d)
	}
	return d, nil
}

// cross names the limit s crosses, or "".
func (l Limits) cross(s Step) string {
	switch {
	case s.LossPercent > l.LossPercent:
		return "loss"
	case s.JitterP95 > l.JitterP95:
		return "jitter"
	}
	return ""
}

// contextFor bounds ctx by the rehearsal's deadline.
func contextFor(ctx context.Context, o Options) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.Deadline)
}
