package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

type healthResponse struct {
	Status    string       `json:"status" enum:"ok,unavailable"`
	LiveKit   string       `json:"livekit" enum:"ok,readiness,api,unknown"` // the check that failed
	Error     string       `json:"error,omitempty"`                         // which check failed, in generic words (details are logged)
	LatencyMS int64        `json:"latencyMs"`
	Checked   string       `json:"checked"`         // RFC 3339: when the probe ran (at most healthMaxAge ago)
	Model     *modelHealth `json:"model,omitempty"` // the live model, when the dashboard runs one
	// TURN is each configured TURN server (DASHBOARD_TURN) and whether it
	// answered. It does not change status: listeners on open networks need
	// no TURN, and the dashboard still serves; alert on it by itself.
	TURN []config.TURNHealth `json:"turn,omitempty"`
}

// modelHealth says how current the live model is: its lag is the time since it
// last listed LiveKit; the last webhook's age tells whether LiveKit reaches us.
type modelHealth struct {
	Revision         uint64 `json:"revision"`
	Synced           bool   `json:"synced"`
	LagMS            int64  `json:"lagMs"`                      // since the last completed list of LiveKit
	LastWebhookAgeMS *int64 `json:"lastWebhookAgeMs,omitempty"` // absent until the first webhook
	// RefusedWebhooks counts webhooks refused for their signature: LiveKit
	// signing with another key than ours (or someone forging them).
	RefusedWebhooks int64 `json:"refusedWebhooks"`
}

// healthMaxAge is how old an answer of /api/health may be. The route is public:
// without the cache every anonymous request would be two calls to LiveKit.
const healthMaxAge = time.Second

// healthProbe runs at most one probe at a time and shares its result with every
// caller for healthMaxAge.
type healthProbe struct {
	check   func(context.Context) error
	turn    []config.TURNServer // checked beside LiveKit, on the same deadline
	timeout time.Duration
	log     func(err error)

	mu      sync.Mutex
	at      time.Time // when the cached answer was probed; zero: none yet
	status  int
	res     healthResponse
	running chan struct{} // closed when the probe in flight finishes; nil: none
}

// answer returns a fresh enough result, joining the probe in flight or starting
// one. The probe runs on its own deadline, not the caller's, because others may
// wait for it; a caller that gives up only stops waiting.
func (p *healthProbe) answer(ctx context.Context) (int, healthResponse, error) {
	for range 3 { // a probe that finished just as the cache expired: ask again, bounded
		p.mu.Lock()
		if !p.at.IsZero() && time.Since(p.at) <= healthMaxAge {
			status, res := p.status, p.res
			p.mu.Unlock()
			return status, res, nil
		}
		running := p.running
		if running == nil {
			running = make(chan struct{})
			p.running = running
			go p.probe(running)
		}
		p.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return 0, healthResponse{}, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, p.res, nil
}

func (p *healthProbe) probe(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	start := time.Now()
	turn := make(chan []config.TURNHealth, 1)
	go func() { turn <- config.CheckTURN(ctx, p.turn) }()
	err := p.check(ctx)
	status, res := http.StatusOK, healthResponse{Status: "ok", LiveKit: "ok", LatencyMS: time.Since(start).Milliseconds(), Checked: start.UTC().Format(time.RFC3339)}
	if res.TURN = <-turn; len(res.TURN) == 0 {
		res.TURN = nil
	}
	if err != nil {
		status, res.Status, res.LiveKit = http.StatusServiceUnavailable, "unavailable", "unknown"
		var he *spacemusic.Error
		if errors.As(err, &he) {
			switch he.Op {
			case spacemusic.OpHealthReadiness:
				res.LiveKit = "readiness"
			case spacemusic.OpHealthAPI:
				res.LiveKit = "api"
			}
		}
		res.Error = healthWords(res.LiveKit, err)
		p.log(err)
	}
	p.mu.Lock()
	p.at, p.status, p.res, p.running = time.Now(), status, res, nil
	p.mu.Unlock()
	close(done)
}

// healthWords says what failed without LiveKit's or the network's own text
// (addresses, ports, upstream messages): the answer is public.
func healthWords(check string, err error) string {
	switch {
	case errors.Is(err, spacemusic.ErrUnauthorized), errors.Is(err, spacemusic.ErrPermissionDenied):
		return "LiveKit refused our credentials"
	case errors.Is(err, context.DeadlineExceeded):
		return "LiveKit did not answer in time"
	case check == "readiness":
		return "LiveKit did not answer"
	case check == "api":
		return "LiveKit's API call failed"
	}
	return "LiveKit could not be checked"
}

func (s *server) handleHealth() api.Handler {
	p := &healthProbe{check: func(ctx context.Context) error { return s.Health.Health(ctx) }, turn: s.Settings.TURN, timeout: s.Settings.HealthTimeout,
		log: func(err error) { s.Log.Warn("health probe failed", "error", err.Error()) }}
	return func(w http.ResponseWriter, r *http.Request) error {
		status, res, err := p.answer(r.Context())
		if err != nil {
			return err // the caller went away
		}
		if s.Events != nil {
			res.Model = s.modelHealth()
		}
		api.WriteJSON(w, status, res)
		return nil
	}
}

func (s *server) modelHealth() *modelHealth {
	snap := s.Events.Snapshot()
	m := &modelHealth{Revision: snap.Revision, Synced: snap.Synced, LagMS: -1}
	if snap.Synced {
		m.LagMS = time.Since(snap.Resynced).Milliseconds()
	}
	if at := s.Events.LastWebhook(); !at.IsZero() {
		age := time.Since(at).Milliseconds()
		m.LastWebhookAgeMS = &age
	}
	if s.Webhooks != nil {
		m.RefusedWebhooks = s.Webhooks.Counts()[events.Unsigned]
	}
	return m
}
