package rehearsal

import (
	"context"
	"slices"
	"time"
)

// step grows the audience to n, holds it for the window and measures it. A
// non-empty why says the listeners could not join or hear the show.
func (r *run) step(ctx context.Context, n int) (Step, string, error) {
	start := len(r.ls)
	if why, err := r.grow(ctx, n); why != "" || err != nil {
		return Step{}, why, err
	}
	s := Step{Listeners: n}
	var joins []time.Duration
	for _, l := range r.ls[start:] {
		if d, ok := l.joinTime(); ok {
			joins = append(joins, d)
		}
	}
	s.JoinP50, s.JoinP95 = percentiles(joins)
	if r.o.Measuring != nil {
		r.o.Measuring(n)
	}
	marks := make([]mark, len(r.ls))
	for i, l := range r.ls {
		marks[i] = l.mark()
	}
	sfu0, sfuOK := r.metrics.cpu(ctx)
	cpu0, t0 := processCPU(), time.Now()
	jitters, err := r.sample(ctx)
	if err != nil {
		return Step{}, "", err
	}
	s.Window = time.Since(t0)
	s.GeneratorCPU = processCPU() - cpu0
	if sfu1, ok := r.metrics.cpu(ctx); ok && sfuOK {
		d := sfu1 - sfu0
		s.SFUCPU = &d
	}
	s.JitterP50, s.JitterP95 = percentiles(jitters)
	if len(jitters) > 0 {
		s.JitterMax = jitters[len(jitters)-1] // sorted
	}
	r.account(&s, marks)
	s.Crossed = r.o.Limits.cross(s)
	s.Passed = s.Crossed == ""
	return s, "", nil
}

// sample reads every listener's peak jitter every sampleEvery for the window.
func (r *run) sample(ctx context.Context) ([]time.Duration, error) {
	out := make([]time.Duration, 0, len(r.ls)*int(r.o.Hold/sampleEvery+1))
	end := time.NewTimer(r.o.Hold)
	defer end.Stop()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end.C:
			return out, nil
		case <-tick.C:
			for _, l := range r.ls {
				if l.first.Load() != 0 {
					out = append(out, l.Peak())
				}
			}
		}
	}
}

// account totals the packets of the window opened at marks.
func (r *run) account(s *Step, marks []mark) {
	s.MinReceived = -1
	for i, l := range r.ls {
		exp, got := l.since(marks[i], s.Window)
		s.Expected += exp
		s.Received += got
		if s.MinReceived < 0 || got < s.MinReceived {
			s.MinReceived = got
		}
		if lost := lossPercent(exp, got); lost > s.WorstLossPercent {
			s.WorstLossPercent = lost
		}
	}
	s.LossPercent = lossPercent(s.Expected, s.Received)
}

// lossPercent is the share of expected packets not received; duplicates
// (retransmissions) never make it negative.
func lossPercent(expected, received int64) float64 {
	if expected <= 0 || received >= expected {
		return 0
	}
	return 100 * float64(expected-received) / float64(expected)
}

// percentiles returns the 50th and 95th percentiles of ds (nearest rank).
func percentiles(ds []time.Duration) (p50, p95 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	rank := func(p int) time.Duration { return ds[(len(ds)*p+99)/100-1] }
	return rank(50), rank(95)
}
