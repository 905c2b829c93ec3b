package rehearsal

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// profile is one comparison: the show's bitrate, the cores the SFU is pinned
// to ("" not pinned), the CPU time it may use (cores; 0 no cap) and the
// audience's steps.
type profile struct {
	name    string
	bitrate int
	cpus    string
	quota   float64
	steps   []int
	hold    time.Duration
}

// profiles are what the benchmark compares. In CI: five listeners for two
// seconds, once, to keep both generators working. With
// STREAMKIT_REHEARSAL_FULL=1: the capacity search for a 128 and a 256 kbps
// stereo show, with the SFU on one core and on two. With
// STREAMKIT_REHEARSAL_SFU_CPU=0.25 (or a list: "0.25,0.5"): the search with
// the SFU capped at that fraction of a core instead, steps 50 to 300: one
// core of SFU holds more listeners than this machine's other core can
// generate (docs/benchmarks.md), so only a capped SFU is the bottleneck for
// both generators. STREAMKIT_REHEARSAL_STEPS overrides the steps: "25,50,100".
func profiles(b *testing.B) []profile {
	quotas := floats(b, "STREAMKIT_REHEARSAL_SFU_CPU")
	if os.Getenv("STREAMKIT_REHEARSAL_FULL") != "1" && quotas == nil {
		return []profile{{name: "ci", bitrate: 128000, steps: []int{5}, hold: 2 * time.Second}}
	}
	steps := []int{25, 50, 100, 150, 200, 300, 400, 500}
	if quotas != nil {
		steps = []int{50, 100, 150, 200, 300}
	}
	if s := os.Getenv("STREAMKIT_REHEARSAL_STEPS"); s != "" {
		steps = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("STREAMKIT_REHEARSAL_STEPS: %v", err)
			}
			steps = append(steps, n)
		}
	}
	var ps []profile
	for _, kbps := range []int{128, 256} {
		for _, q := range quotas {
			ps = append(ps, profile{name: fmt.Sprintf("%dkbps/sfu-%gcpu", kbps, q), bitrate: kbps * 1000, quota: q, steps: steps, hold: 10 * time.Second})
		}
		if quotas != nil {
			continue
		}
		for _, c := range []struct{ name, cpus string }{{"sfu-1core", "0"}, {"sfu-2cores", "0,1"}} {
			ps = append(ps, profile{name: fmt.Sprintf("%dkbps/%s", kbps, c.name), bitrate: kbps * 1000, cpus: c.cpus, steps: steps, hold: 10 * time.Second})
		}
	}
	return ps
}

// floats is the comma-separated numbers in env variable name; nil when unset.
func floats(b *testing.B, name string) []float64 {
	s := os.Getenv(name)
	if s == "" {
		return nil
	}
	var fs []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			b.Fatalf("%s: %q: want positive numbers, comma-separated", name, s)
		}
		fs = append(fs, v)
	}
	return fs
}

// BenchmarkRehearsalAgainstLoadTest runs a rehearsal and its baseline, an
// audience of `lk load-test`'s subscribers (loadTestListener), one after the
// other against the same livekit-server with the same profile and limits,
// and reports each generator's CPU per simulated listener-minute (over the
// steps both measured), the capacity each finds, and the loss and jitter each
// measured at the largest audience both held. Run it as
//
//	go test -c -o /tmp/rehearsal.test ./spacemusic/rehearsal
//	STREAMKIT_TEST_BACKEND=process scripts/netns /tmp/rehearsal.test -test.run '^$' -test.bench RehearsalAgainstLoadTest -test.benchtime 1x
//
// with STREAMKIT_REHEARSAL_FULL=1 or STREAMKIT_REHEARSAL_SFU_CPU=0.25 for
// the capacity search (see profiles).
func BenchmarkRehearsalAgainstLoadTest(b *testing.B) {
	testenv.RequireNetNS(b)
	testenv.HoldMediaSlot(b)
	for _, p := range profiles(b) {
		b.Run(p.name, func(b *testing.B) {
			var opts []testenv.Option
			if p.cpus != "" {
				opts = append(opts, testenv.WithSFUCPUs(p.cpus))
			}
			if p.quota > 0 {
				opts = append(opts, testenv.WithSFUCPUQuota(p.quota))
			}
			env := testenv.LiveKit(b, opts...)
			iss, err := tokens.NewIssuer(env.APIKey, env.APISecret)
			if err != nil {
				b.Fatal(err)
			}
			cfg := Config{URL: env.WSURL, Tokens: iss, MetricsURL: env.MetricsURL}
			o := Options{Steps: p.steps, Hold: p.hold, Bitrate: p.bitrate, Deadline: 30 * time.Minute}
			for b.Loop() {
				compare(b, cfg, o, env.SFUThrottled)
			}
		})
	}
}

// compare runs ours, then the baseline; throttled, when not nil, is how long
// the SFU's CPU quota has held it back so far.
func compare(b *testing.B, cfg Config, o Options, throttled func() time.Duration) {
	ctx := testenv.Within(b, o.Deadline)
	held := func() time.Duration { return 0 }
	if throttled != nil {
		held = throttled
	}
	// Labelled, so that a CPU profile (-test.cpuprofile) tells the two
	// generators apart: go tool pprof -tagfocus generator=ours.
	var ours Result
	var base []Step
	var baseStopped string
	var err error
	h0 := held()
	pprof.Do(ctx, pprof.Labels("generator", "ours"), func(ctx context.Context) { ours, err = Run(ctx, cfg, o) })
	if err != nil {
		b.Fatalf("rehearsal: %v", err)
	}
	h1 := held()
	pprof.Do(ctx, pprof.Labels("generator", "baseline"), func(ctx context.Context) { base, baseStopped, err = runLoadTest(ctx, cfg, o) })
	if err != nil {
		b.Fatalf("baseline: %v", err)
	}
	h2 := held()
	// To stdout, not b.Logf: testing keeps only a benchmark's first 10 lines
	// of log (B.trimOutput), and a capacity search has more steps.
	fmt.Printf("%s: ours stopped: %s %s; baseline stopped: %s\n", b.Name(), or(ours.StoppedBy, "after the last step"), ours.Reason, or(baseStopped, "after the last step"))
	if throttled != nil {
		fmt.Printf("%s: the SFU's CPU quota held it back %s during ours, %s during the baseline\n", b.Name(), (h1 - h0).Round(time.Millisecond), (h2 - h1).Round(time.Millisecond))
	}
	for i := range max(len(ours.Steps), len(base)) {
		if i < len(ours.Steps) {
			fmt.Printf("%s: ours     %s\n", b.Name(), stepLine(ours.Steps[i]))
		}
		if i < len(base) {
			fmt.Printf("%s: baseline %s\n", b.Name(), stepLine(base[i]))
		}
	}
	common := min(len(ours.Steps), len(base))
	if common == 0 {
		b.Fatal("no step measured by both")
	}
	oursCPU, baseCPU := cpuPerListenerMinute(ours.Steps[:common]), cpuPerListenerMinute(base[:common])
	b.ReportMetric(oursCPU, "ours-cpu-s/listener-min")
	b.ReportMetric(baseCPU, "baseline-cpu-s/listener-min")
	b.ReportMetric(oursCPU/baseCPU, "cpu-ratio")
	b.ReportMetric(float64(ours.Capacity), "ours-capacity")
	b.ReportMetric(float64(capacity(base)), "baseline-capacity")
	o1, b1 := ours.Steps[common-1], base[common-1]
	b.ReportMetric(float64(o1.Listeners), "compared-at-listeners")
	b.ReportMetric(o1.LossPercent, "ours-loss-%")
	b.ReportMetric(b1.LossPercent, "baseline-loss-%")
	b.ReportMetric(float64(o1.JitterP95)/1e6, "ours-jitter-p95-ms")
	b.ReportMetric(float64(b1.JitterP95)/1e6, "baseline-jitter-p95-ms")
}

func stepLine(s Step) string {
	sfu := "?"
	if s.SFUCPU != nil {
		sfu = fmt.Sprintf("%.2f s", *s.SFUCPU)
	}
	return fmt.Sprintf("%4d listeners: loss %.2f %%, jitter p95 %s, generator CPU %.2f s, SFU CPU %s over %s, passed %t %s",
		s.Listeners, s.LossPercent, s.JitterP95.Round(10*time.Microsecond), s.GeneratorCPU, sfu, s.Window.Round(time.Millisecond), s.Passed, s.Crossed)
}

func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// cpuPerListenerMinute is the generator's CPU seconds per listener-minute
// over steps.
func cpuPerListenerMinute(steps []Step) float64 {
	var cpu, minutes float64
	for _, s := range steps {
		cpu += s.GeneratorCPU
		minutes += float64(s.Listeners) * s.Window.Minutes()
	}
	return cpu / minutes
}

// capacity is the listeners of the last step within the limits.
func capacity(steps []Step) int {
	c := 0
	for _, s := range steps {
		if s.Passed {
			c = s.Listeners
		}
	}
	return c
}
