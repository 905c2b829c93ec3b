package rehearsal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// IdentityPrefix starts every identity a rehearsal joins under. It is
// reserved (tokens.Reserved): nobody else is given one.
const IdentityPrefix = tokens.ReservedPrefix + "rehearsal-"

// joinsAtOnce is how many listeners dial LiveKit at the same time, so that
// the joins measure the SFU, not a burst of handshakes.
const joinsAtOnce = 4

// sampleEvery is how often the one sampler reads every listener's jitter.
const sampleEvery = 100 * time.Millisecond

// run is one rehearsal under way.
type run struct {
	cfg     Config
	o       Options
	url     string // LiveKit's WebSocket URL
	room    string
	id      string // this rehearsal's, in its identities
	epoch   time.Time
	ls      []*listener
	kit     *kit // what every listener's link shares
	metrics *metrics
	res     Result
}

// Run rehearses o's audience on cfg's LiveKit and returns what each step
// measured. Bad options and configuration are refused with
// errs.ErrInvalidArgument before anything joins; a room of the show that is
// not there with errs.ErrNotFound. A rehearsal that runs out of time returns
// the steps it measured (StoppedByDeadline); one whose ctx is cancelled
// returns them with ctx's error.
func Run(ctx context.Context, cfg Config, o Options) (Result, error) {
	r, err := prepare(ctx, cfg, o)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := contextFor(ctx, r.o)
	defer cancel()
	defer r.leaveAll()
	stop, err := r.stage(ctx)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	for _, n := range r.o.Steps {
		s, why, err := r.step(ctx, n)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				r.finish(StoppedByDeadline, "the rehearsal's deadline passed")
				return r.res, nil
			}
			r.finish("", "")
			return r.res, relabel(err)
		}
		if why != "" {
			r.finish(StoppedByJoin, why)
			return r.res, nil
		}
		r.res.Steps = append(r.res.Steps, s)
		if r.o.Stepped != nil {
			r.o.Stepped(s)
		}
		if !s.Passed {
			r.finish(StoppedByLimit, fmt.Sprintf("%d listeners crossed the %s limit", n, s.Crossed))
			return r.res, nil
		}
		r.res.Capacity = n
	}
	r.finish(StoppedByNothing, "")
	return r.res, nil
}

func relabel(err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return errs.Transport(opRun, errs.LiveKit, err)
}

// Check refuses a Config that Run would refuse, without dialling anything:
// for a program to check its configuration when it starts.
func (c Config) Check() error {
	_, _, err := c.check()
	return err
}

func (c Config) check() (base string, m *metrics, err error) {
	if c.Tokens == nil {
		return "", nil, errs.Invalid(opRun, "Tokens is required")
	}
	if base, err = lk.HTTPURL(c.URL); err != nil {
		return "", nil, errs.Invalid(opRun, "URL: %v", err)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	m, err = newMetrics(c.HTTPClient, base, c.MetricsURL)
	return base, m, err
}

// prepare checks cfg and o and that cfg.URL is LiveKit's.
func prepare(ctx context.Context, cfg Config, o Options) (*run, error) {
	base, m, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if o, err = o.withDefaults(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = m.c
	}
	if err := probe(ctx, cfg.HTTPClient, base); err != nil {
		return nil, err
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	k, err := newKit()
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, o: o, url: wsURL(base), room: o.Room, id: hex.EncodeToString(id[:]), epoch: time.Now(), metrics: m, kit: k}
	if r.room == "" {
		r.room = IdentityPrefix + r.id
	}
	r.res = Result{Room: r.room, Synthetic: o.Room == "", Limits: o.Limits, StartedAt: time.Now().UTC(), Steps: []Step{}}
	if r.res.Synthetic {
		r.res.Bitrate = o.Bitrate
	}
	return r, nil
}

func (r *run) rooms() (*rooms.Service, error) {
	return rooms.New(rooms.Config{URL: r.cfg.URL, Issuer: r.cfg.Tokens, HTTPClient: r.cfg.HTTPClient})
}

// stage opens the rehearsal's own room with a synthetic performer; stop ends
// both. For a show's room it checks the room is there.
func (r *run) stage(ctx context.Context) (stop func(), err error) {
	svc, err := r.rooms()
	if err != nil {
		return nil, err
	}
	if r.o.Room != "" {
		_, err := svc.Get(ctx, r.room)
		return func() {}, err
	}
	if _, err := svc.Create(ctx, r.room, rooms.CreateOptions{EmptyTimeout: time.Minute, DepartureTimeout: time.Second}); err != nil {
		return nil, err
	}
	tok, err := r.cfg.Tokens.Performer(r.room, IdentityPrefix+r.id+"-performer", tokens.WithName("rehearsal performer"), tokens.WithTTL(time.Hour))
	var p *performer
	if err == nil {
		p, err = startPerformer(ctx, r.url, tok.JWT, r.o.Bitrate)
	}
	closeRoom := func() {
		c, cancel := context.WithTimeout(context.Background(), lk.DefaultTimeout)
		defer cancel()
		_ = svc.Delete(c, r.room)
	}
	if err != nil {
		closeRoom()
		return nil, &errs.Error{Op: opRun, Kind: errs.ErrUnavailable, Upstream: errs.LiveKit, Message: "the synthetic performer cannot publish: " + err.Error()}
	}
	return func() { p.leave(); closeRoom() }, nil
}

// grow joins listeners until there are n, joinsAtOnce at a time, and waits
// until each hears the show. It returns why it could not ("" when it could).
func (r *run) grow(ctx context.Context, n int) (string, error) {
	from := len(r.ls)
	for i := from; i < n; i++ {
		r.ls = append(r.ls, &listener{identity: fmt.Sprintf("%s%s-%d", IdentityPrefix, r.id, i), epoch: r.epoch})
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, joinsAtOnce)
	)
	for _, l := range r.ls[from:] {
		tok, err := r.cfg.Tokens.Monitor(r.room, l.identity, tokens.WithName("rehearsal listener"), tokens.WithTTL(tokens.MaxMonitorTTL))
		if err != nil {
			return "", err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := l.join(ctx, r.kit, r.url, tok.JWT); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if first != nil {
		return fmt.Sprintf("a listener could not join: %v", first), nil
	}
	return r.heard(ctx, r.ls[from:])
}

// heard waits until every one of ls has its first packet, JoinTimeout at most.
func (r *run) heard(ctx context.Context, ls []*listener) (string, error) {
	limit := time.NewTimer(JoinTimeout)
	defer limit.Stop()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		deaf := 0
		for _, l := range ls {
			if l.first.Load() == 0 {
				deaf++
			}
		}
		if deaf == 0 {
			return "", nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-limit.C:
			return fmt.Sprintf("%d of %d new listeners heard nothing within %s", deaf, len(ls), JoinTimeout), nil
		case <-tick.C:
		}
	}
}

// leaveAll disconnects every listener, joinsAtOnce at a time.
func (r *run) leaveAll() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, joinsAtOnce)
	for _, l := range r.ls {
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer func() { <-sem; wg.Done() }(); l.leave() }()
	}
	wg.Wait()
}

func (r *run) finish(stoppedBy, reason string) {
	r.res.StoppedBy, r.res.Reason, r.res.EndedAt = stoppedBy, reason, time.Now().UTC()
	var cpu, listenerMinutes float64
	for _, s := range r.res.Steps {
		cpu += s.GeneratorCPU
		listenerMinutes += float64(s.Listeners) * s.Window.Minutes()
	}
	if listenerMinutes > 0 {
		r.res.GeneratorCPUPerListenerMinute = cpu / listenerMinutes
	}
}
