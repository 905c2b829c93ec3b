package testenv

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/spacemusic/streamkit/internal/stack"
)

// Process is a stack component running as a child of the test: its output is
// printed when the test fails, and it is killed when the test ends.
type Process = stack.Process

// stackFor returns a stack.Stack that lives as long as t: its processes are
// killed when t ends, and their output is printed when t failed.
func stackFor(t TB) *stack.Stack {
	s := stack.New()
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("STREAMKIT_TEST_LOGS") == "1" {
			for _, p := range s.Processes() {
				t.Logf("---- %s output (last 32 KiB) ----\n%s", p.Name, p.Tail(32<<10))
			}
		}
		s.Close()
	})
	return s
}

// must stops the test on err: a missing component is a skip locally and a
// failure in CI (see missing); anything else is a failure.
func must(t TB, err error) {
	t.Helper()
	var m *stack.MissingError
	switch {
	case errors.As(err, &m):
		missing(t, m.What, m.How)
	case err != nil:
		t.Fatalf("testenv: %v", err)
	}
}

// StartProcess runs bin with args for the rest of t; env entries are added to the
// test's environment with the stack cache on PATH.
func StartProcess(t TB, name, bin string, args []string, env ...string) *Process {
	t.Helper()
	p, err := stackFor(t).Start(name, bin, args, env...)
	must(t, err)
	return p
}

// Redis starts a private redis-server on a free loopback port and returns its address.
func Redis(t TB) string {
	t.Helper()
	addr, err := stackFor(t).Redis()
	must(t, err)
	return addr
}

func processLiveKit(t TB, o options) *Env {
	t.Helper()
	_, err := stack.LiveKitBinary(o.version)
	must(t, err)
	redis := o.redis
	if redis == "new" {
		redis = Redis(t)
	}
	s := stackFor(t)
	var turn *TURN
	if o.turn {
		turn = turnFor(t, s)
	}
	lk, err := s.LiveKit(stack.LiveKitOptions{Redis: redis, RemoteUnmute: !o.noRemoteUnmute,
		RTMPBase: o.rtmpBase, WHIPBase: o.whipBase, Webhooks: o.webhooks, TURN: turn, ICETCP: o.turn, Version: o.version,
		Secret: o.secret, Spread: o.spread, CPUs: o.cpus, ICELite: o.iceLite})
	must(t, err)
	var quota *cpuQuota
	if o.cpuQuota > 0 {
		// After the start, by pid: the server's readiness is not what is
		// measured, and a restart (e.Start) needs the same move anyway. Go
		// (1.25 on) reads its cgroup's limit for GOMAXPROCS only at start
		// (runtime/cgroup_linux.go), so the server keeps one P per core.
		quota = newCPUQuota(t, "livekit", o.cpuQuota)
		must(t, quota.add(lk.Process.Pid()))
		t.Cleanup(func() {
			d, n, of := quota.throttled()
			t.Logf("testenv: livekit-server capped at %g cores: held back %s, in %d of %d periods of %s", quota.cores, d.Round(time.Millisecond), n, of, quotaPeriod)
		})
	}
	e := &Env{URL: lk.URL, WSURL: lk.WSURL, APIKey: lk.APIKey, APISecret: lk.APISecret, RedisAddr: lk.RedisAddr, Backend: "process",
		MetricsURL: lk.MetricsURL, TURN: lk.TURN, UDPPort: lk.UDPPort, TCPPort: lk.TCPPort, Version: o.version}
	e.Stop = lk.Process.Stop
	e.Freeze = func() { must(t, lk.Process.Signal(syscall.SIGSTOP)) }
	e.Thaw = func() { _ = lk.Process.Signal(syscall.SIGCONT) }
	e.Start = func() {
		if err := lk.Restart(); err != nil {
			t.Fatalf("testenv: livekit-server not ready after restart: %v", err)
		}
		if quota != nil {
			must(t, quota.add(lk.Process.Pid()))
		}
	}
	if quota != nil {
		e.SFUThrottled = func() time.Duration { d, _, _ := quota.throttled(); return d }
	}
	return e
}

// ServerYAML is the loopback-only livekit-server configuration (see stack.ServerYAML).
func ServerYAML(port, udpPort int, key, secret, redisAddr string, remoteUnmute bool) string {
	return stack.ServerYAML(port, udpPort, key, secret, redisAddr, remoteUnmute)
}

func waitTCP(t TB, name, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := netDial(addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testenv: %s did not listen on %s within %s", name, addr, limit)
}
