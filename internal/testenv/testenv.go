// Package testenv gives tests a real, ephemeral LiveKit: a livekit-server (and Redis,
// when asked) that lives exactly as long as the test.
//
// The backend is chosen automatically, or by STREAMKIT_TEST_BACKEND:
//
//	external  LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET point at a server
//	docker    a Docker API is reachable (DOCKER_HOST or /var/run/docker.sock):
//	          github.com/ory/dockertest runs livekit/livekit-server
//	process   livekit-server and redis-server binaries from PATH or the stack cache
//	          (scripts/stack install), each on free loopback ports
//
// A missing component skips the test locally, saying how to get it, and fails it
// when CI=true: CI must never pass by skipping.
package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/internal/stack"
)

// Env is one reachable LiveKit node.
type Env struct {
	URL       string // http://host:port of the server API
	WSURL     string // ws://host:port for clients
	APIKey    string
	APISecret string
	RedisAddr string // host:port of the node's Redis, empty without one
	Backend   string // external, docker or process
	// MetricsURL is the node's Prometheus endpoint (http://127.0.0.1:port/metrics);
	// process backend only, empty otherwise.
	MetricsURL string
	// Version is the livekit-server release when WithVersion chose one; empty:
	// the pinned release.
	Version string

	// Stop kills the server (fault-injection tests); Start brings it back on the
	// same ports. The process and docker backends support them; nil for external.
	Stop, Start func()
	// Freeze stops the server's processes (SIGSTOP): connections are still
	// accepted by the kernel and never answered, the outage a deadline is for.
	// Thaw resumes them (SIGCONT; nothing when the server is not running). Process
	// backend only; nil otherwise.
	Freeze, Thaw func()
	// TURN is the node's embedded TURN server (WithTURN); nil otherwise.
	TURN *TURN
	// UDPPort is the SFU's media port (process backend; 0 otherwise).
	UDPPort int
	// TCPPort is its ICE/TCP port (WithTURN; 0 otherwise).
	TCPPort int
	// SFUThrottled is how long the kernel has held the server back so far
	// for having used its CPU quota (WithSFUCPUQuota); nil without one.
	SFUThrottled func() time.Duration
}

type options struct {
	redis          string // "" none, "new" start one, else an address to share
	backend        string
	noRemoteUnmute bool
	rtmpBase       string // ingress URLs LiveKit hands out with new ingresses
	whipBase       string
	webhooks       []string
	turn           bool    // run the embedded TURN server (WithTURN)
	version        string  // livekit-server release; empty: the pin
	secret         string  // the API secret; empty: a fresh one (WithSecret)
	spread         bool    // place new rooms on the node with the fewest (Cluster)
	cpus           string  // cores the server is pinned to (WithSFUCPUs)
	cpuQuota       float64 // cores of CPU time the server may use (WithSFUCPUQuota); 0: no cap
	iceLite        bool    // WithICELite
}

// Option configures LiveKit.
type Option func(*options)

// WithRedis starts a Redis for the node (needed for ingress, egress, multi-node).
func WithRedis() Option { return func(o *options) { o.redis = "new" } }

// WithSharedRedis joins the node to an existing Redis, making a cluster.
func WithSharedRedis(addr string) Option { return func(o *options) { o.redis = addr } }

// WithBackend forces a backend, overriding STREAMKIT_TEST_BACKEND.
func WithBackend(name string) Option { return func(o *options) { o.backend = name } }

// WithWebhook makes LiveKit post its webhooks to url (signed with the node's
// API key and secret).
func WithWebhook(url string) Option { return func(o *options) { o.webhooks = append(o.webhooks, url) } }

// WithVersion runs livekit-server at version (e.g. the seed's v1.6.1, installed
// by `scripts/stack install livekit-seed`) instead of the pinned one, with a
// config that version accepts. Process backend only.
func WithVersion(version string) Option {
	return func(o *options) { o.version, o.backend = version, "process" }
}

// WithSFUCPUs pins livekit-server to the cores in list (taskset's form: "0",
// "0,1"), to measure how the SFU's capacity scales with cores. Process
// backend only.
func WithSFUCPUs(list string) Option {
	return func(o *options) { o.cpus, o.backend = list, "process" }
}

// WithSFUCPUQuota caps livekit-server's CPU time at cores (0.25: a quarter
// of one core; at least 0.1) with a cgroup v1 CPU quota, so that a test can
// make the SFU the bottleneck on a machine whose cores its clients need too.
// It adds to WithSFUCPUs. Needs root; process backend only.
func WithSFUCPUQuota(cores float64) Option {
	return func(o *options) { o.cpuQuota, o.backend = cores, "process" }
}

// WithICELite runs the SFU as an ICE-lite agent, as many production
// deployments do. Process backend only.
func WithICELite() Option {
	return func(o *options) { o.iceLite, o.backend = true, "process" }
}

// WithoutRemoteUnmute keeps LiveKit's default of refusing remote unmutes.
func WithoutRemoteUnmute() Option { return func(o *options) { o.noRemoteUnmute = true } }

// LiveKit returns a ready LiveKit node for t, torn down when t ends.
func LiveKit(t TB, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	backend := chooseBackend(o.backend)
	if o.turn && backend != "process" {
		missing(t, "LiveKit's TURN on the "+backend+" backend", "run with STREAMKIT_TEST_BACKEND=process")
	}
	if o.version != "" && backend != "process" {
		t.Fatalf("testenv: livekit-server %s runs on the process backend only, not %s", o.version, backend)
	}
	switch backend {
	case "external":
		return external(t, o)
	case "docker":
		return dockerLiveKit(t, o)
	case "process":
		return processLiveKit(t, o)
	default:
		t.Fatalf("testenv: unknown backend %q (want external, docker or process)", backend)
		return nil
	}
}

func chooseBackend(forced string) string {
	if forced != "" {
		return forced
	}
	if b := os.Getenv("STREAMKIT_TEST_BACKEND"); b != "" {
		return b
	}
	if os.Getenv("LIVEKIT_URL") != "" {
		return "external"
	}
	if dockerReachable() {
		return "docker"
	}
	return "process"
}

func external(t TB, o options) *Env {
	e := &Env{
		URL:       os.Getenv("LIVEKIT_URL"),
		APIKey:    os.Getenv("LIVEKIT_API_KEY"),
		APISecret: os.Getenv("LIVEKIT_API_SECRET"),
		Backend:   "external",
	}
	if e.URL == "" || e.APIKey == "" || e.APISecret == "" {
		missing(t, "external LiveKit", "set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET")
	}
	if o.redis != "" {
		missing(t, "Redis of the external LiveKit", "unset LIVEKIT_URL to let testenv start LiveKit with Redis")
	}
	if len(o.webhooks) > 0 {
		missing(t, "webhooks from the external LiveKit", "unset LIVEKIT_URL to let testenv start LiveKit with webhooks")
	}
	e.URL = strings.Replace(strings.Replace(e.URL, "wss://", "https://", 1), "ws://", "http://", 1)
	e.WSURL = strings.Replace(e.URL, "http", "ws", 1)
	if err := waitReady(e.URL, 10*time.Second); err != nil {
		t.Fatalf("testenv: external LiveKit at %s not ready: %v", e.URL, err)
	}
	return e
}

// InCI reports whether missing components must fail rather than skip.
func InCI() bool { return os.Getenv("CI") == "true" || os.Getenv("CI") == "1" }

// Tool finds a system tool on PATH (apt's, not the stack's), or stops the
// test: a skip that says how to install it locally, a failure in CI.
func Tool(t TB, name, how string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name, how)
	}
	return p
}

// missing stops the test: a failure in CI, a skip that says how to fix it locally.
func missing(t TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("testenv: %s is missing and CI=true, so this is a failure, not a skip: %s", what, how)
	}
	t.Skipf("testenv: skipping, %s is missing: %s", what, how)
}

// Binary finds a stack binary on PATH or in the stack cache, or stops the test.
func Binary(t TB, name, component string) string {
	t.Helper()
	p, err := stack.Binary(name, component)
	must(t, err)
	return p
}

// StackBin is where scripts/stack links the binaries it installs.
func StackBin() string { return stack.Bin() }

// RequireNetNS stops a test that carries media unless it runs inside the private
// network namespace made by scripts/netns: WebRTC clients join multicast groups on
// every real interface, and our tests must not send traffic off the machine.
func RequireNetNS(t TB) {
	t.Helper()
	if os.Getenv("STREAMKIT_NETNS") != "1" || hasDefaultRoute() {
		missing(t, "the private network namespace media tests need", "run the tests through `scripts/netns go test ./...` (as root)")
	}
}

func hasDefaultRoute() bool {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "00000000" {
			return true
		}
	}
	return false
}

func waitReady(base string, limit time.Duration) error { return stack.WaitReady(base, limit) }

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t TB) int {
	t.Helper()
	p, err := stack.FreePort()
	must(t, err)
	return p
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago.
func FreeUDPPort(t TB) int {
	t.Helper()
	p, err := stack.FreeUDPPort()
	must(t, err)
	return p
}

// Secret returns a random API secret long enough for LiveKit (>= 32 characters).
func Secret() string { return stack.Secret() }

// TB is the part of testing.TB the environment needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Failed() bool
}

// Within is a context that ends after d or when the test does: a bound for a
// wait on LiveKit (WaitFor and friends) that cannot outlive the test.
func Within(t TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
