package rehearsal

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/livekit/server-sdk-go/v2/pkg/samplebuilder"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// loadTestListener is the baseline a rehearsal's listener is measured
// against: a subscriber as `lk load-test` simulates one (livekit-cli's
// pkg/loadtester, read, not copied). It is a whole server-sdk-go room with
// the SDK's default interceptors (NACK, receiver reports, TWCC, RTT); it
// reads every packet as a parsed rtp.Packet and pushes it through a sample
// builder, which counts the packets it gives up on as dropped. lk load-test
// reports no jitter: this listener adds RFC 3550's, as a straightforward
// client would, from the time each packet is read.
type loadTestListener struct {
	room       *lksdk.Room
	subscribed atomic.Bool
	heard      atomic.Bool
	packets    atomic.Int64 // released by the sample builder
	dropped    atomic.Int64

	mu      sync.Mutex
	jitter  float64 // seconds
	peak    float64
	transit float64
}

func (l *loadTestListener) join(ctx context.Context, url, jwt string) error {
	cb := &lksdk.RoomCallback{ParticipantCallback: lksdk.ParticipantCallback{
		OnTrackPublished: func(p *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) { l.subscribe(p) },
		OnTrackSubscribed: func(t *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
			go l.consume(t)
		},
	}}
	rm, err := connect(ctx, url, jwt, cb)
	if err != nil {
		return err
	}
	l.room = rm
	for _, rp := range rm.GetRemoteParticipants() {
		for _, p := range rp.TrackPublications() {
			if rt, ok := p.(*lksdk.RemoteTrackPublication); ok {
				l.subscribe(rt)
			}
		}
	}
	return nil
}

func (l *loadTestListener) subscribe(p *lksdk.RemoteTrackPublication) {
	if p.Kind() == lksdk.TrackKindAudio && l.subscribed.CompareAndSwap(false, true) {
		_ = p.SetSubscribed(true)
	}
}

// consume reads t until it ends, as the load tester does.
func (l *loadTestListener) consume(t *webrtc.TrackRemote) {
	clock := float64(t.Codec().ClockRate)
	sb := samplebuilder.New(100, &codecs.OpusPacket{}, t.Codec().ClockRate,
		samplebuilder.WithPacketDroppedHandler(func() { l.dropped.Add(1) }))
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		l.arrived(float64(time.Now().UnixNano())/1e9, float64(pkt.Timestamp)/clock)
		sb.Push(pkt)
		for range sb.PopPackets() {
			l.packets.Add(1)
		}
	}
}

// arrived updates the jitter (RFC 3550, 6.4.1) with a packet stamped sent
// (seconds of its RTP clock) that arrived at now.
func (l *loadTestListener) arrived(now, sent float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	transit := now - sent
	if l.heard.Load() {
		l.jitter += (math.Abs(transit-l.transit) - l.jitter) / 16
		l.peak = max(l.peak, l.jitter)
	}
	l.transit = transit
	l.heard.Store(true)
}

// takePeak is the highest jitter since the last call.
func (l *loadTestListener) takePeak() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.peak
	l.peak = l.jitter
	return time.Duration(p * float64(time.Second))
}

// loadTest steps an audience of loadTestListeners through a room of its own
// with the rehearsal's synthetic performer, as Run steps its own: the same
// steps, window, limits and joins at a time; it stops at the first step that
// crosses the limits.
type loadTest struct {
	url     string // LiveKit's WebSocket URL
	room    string
	tokens  *tokens.Issuer
	o       Options
	metrics *metrics // the SFU's CPU, as Run reads it
	ls      []*loadTestListener
}

// runLoadTest returns the steps measured and why it stopped before the last
// step: the limit a step crossed, or listeners that could not join (as Run's
// StoppedByJoin: an overloaded SFU is a capacity found, not a failure).
func runLoadTest(ctx context.Context, cfg Config, o Options) ([]Step, string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, "", err
	}
	_, m, err := cfg.check()
	if err != nil {
		return nil, "", err
	}
	svc, err := rooms.New(rooms.Config{URL: cfg.URL, Issuer: cfg.Tokens})
	if err != nil {
		return nil, "", err
	}
	lt := &loadTest{url: cfg.URL, room: IdentityPrefix + "baseline", tokens: cfg.Tokens, o: o, metrics: m}
	if _, err := svc.Create(ctx, lt.room, rooms.CreateOptions{EmptyTimeout: time.Minute, DepartureTimeout: time.Second}); err != nil {
		return nil, "", err
	}
	defer func() { _ = svc.Delete(context.Background(), lt.room) }()
	tok, err := cfg.Tokens.Performer(lt.room, IdentityPrefix+"baseline-performer")
	if err != nil {
		return nil, "", err
	}
	p, err := startPerformer(ctx, cfg.URL, tok.JWT, o.Bitrate)
	if err != nil {
		return nil, "", err
	}
	defer p.leave()
	defer lt.leaveAll()
	var steps []Step
	for _, n := range o.Steps {
		if err := lt.grow(ctx, n); err != nil {
			if ctx.Err() != nil {
				return steps, "", err
			}
			return steps, fmt.Sprintf("%s: %d listeners: %v", StoppedByJoin, n, err), nil
		}
		s := lt.step(ctx, n)
		steps = append(steps, s)
		if !s.Passed {
			return steps, fmt.Sprintf("%s: %d listeners crossed the %s limit", StoppedByLimit, n, s.Crossed), nil
		}
	}
	return steps, "", nil
}

// step measures one window of the n listeners grown.
func (lt *loadTest) step(ctx context.Context, n int) Step {
	type count struct{ packets, dropped int64 }
	before := make([]count, n)
	for i, l := range lt.ls {
		before[i] = count{l.packets.Load(), l.dropped.Load()}
	}
	var jitters []time.Duration
	sfu0, sfuOK := lt.metrics.cpu(ctx)
	cpu0, t0 := processCPU(), time.Now()
	for end := t0.Add(lt.o.Hold); time.Now().Before(end); {
		time.Sleep(sampleEvery)
		for _, l := range lt.ls {
			jitters = append(jitters, l.takePeak())
		}
	}
	s := Step{Listeners: n, Window: time.Since(t0), GeneratorCPU: processCPU() - cpu0}
	if sfu1, ok := lt.metrics.cpu(ctx); ok && sfuOK {
		d := sfu1 - sfu0
		s.SFUCPU = &d
	}
	var dropped int64
	for i, l := range lt.ls {
		s.Received += l.packets.Load() - before[i].packets
		dropped += l.dropped.Load() - before[i].dropped
	}
	s.Expected = s.Received + dropped
	s.LossPercent = lossPercent(s.Expected, s.Received)
	s.JitterP50, s.JitterP95 = percentiles(jitters)
	s.Crossed = lt.o.Limits.cross(s)
	s.Passed = s.Crossed == ""
	return s
}

// grow joins listeners until there are n, joinsAtOnce at a time, and waits
// until every one has heard the performer.
func (lt *loadTest) grow(ctx context.Context, n int) error {
	sem := make(chan struct{}, joinsAtOnce)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for i := len(lt.ls); i < n; i++ {
		l := &loadTestListener{}
		lt.ls = append(lt.ls, l)
		tok, err := lt.tokens.Monitor(lt.room, fmt.Sprintf("%sbaseline-%d", IdentityPrefix, i))
		if err != nil {
			return err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := l.join(ctx, lt.url, tok.JWT); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	for deadline := time.Now().Add(JoinTimeout); ; time.Sleep(sampleEvery) {
		deaf := 0
		for _, l := range lt.ls {
			if !l.heard.Load() {
				deaf++
			}
		}
		if deaf == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d baseline listeners heard nothing within %s", deaf, n, JoinTimeout)
		}
	}
}

func (lt *loadTest) leaveAll() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, joinsAtOnce)
	for _, l := range lt.ls {
		if l.room == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer func() { <-sem; wg.Done() }(); l.room.Disconnect() }()
	}
	wg.Wait()
}
