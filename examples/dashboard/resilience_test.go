package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// LiveKit hangs mid-show, then dies: health says so, routes answer a clear 503
// within their deadline (never hang, never 500), and the dashboard recovers by
// itself each time LiveKit is back. A hung LiveKit accepts connections and never
// answers, so only the deadlines end those requests; a dead one refuses them at once.
func TestLiveKitOutage(t *testing.T) {
	const livekitTimeout, healthTimeout = 2 * time.Second, 500 * time.Millisecond
	s := newStage(t, func(s *config.Settings) { s.LiveKitTimeout, s.HealthTimeout = livekitTimeout, healthTimeout })
	if s.env.Stop == nil || s.env.Freeze == nil {
		t.Skip("only the process backend can stop LiveKit") // CI uses the process backend
	}
	// A margin for the loopback round trip and a loaded machine: this bounds the
	// deadlines' effect, it is not a latency figure. Every client gives up later
	// than that, so a request the deadline does not end fails the test, not hangs it.
	const margin = 1500 * time.Millisecond
	client := &http.Client{Timeout: livekitTimeout + 2*margin}
	timed := func(method, path string, body any) (int, []byte, time.Duration) {
		t.Helper()
		start := time.Now()
		code, out, err := s.try(t, client, method, path, body)
		require.NoError(t, err, "%s %s", method, path)
		return code, out, time.Since(start)
	}
	routes := []struct {
		method, path string
		body         any
	}{{"GET", "/api/rooms", nil}, {"GET", "/api/stream/rooms/jam", nil}, {"POST", "/api/rooms", map[string]any{"name": "jam"}}, {"GET", "/api/ingress", nil}}

	// Clients keep asking while LiveKit hangs, dies and comes back. Their
	// failures are collected and judged here, on the test's goroutine.
	stop := make(chan struct{})
	var mu sync.Mutex
	seenCodes := map[int]int{}
	var failures []error
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				code, _, err := s.try(t, client, "GET", "/api/rooms", nil)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					seenCodes[code]++
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	// Whatever happens below, LiveKit is not left frozen.
	t.Cleanup(s.env.Thaw)

	// Hung. Nothing asked for health before, so no cached answer stands in for
	// the probe: its own deadline (DASHBOARD_HEALTH_TIMEOUT) ends it.
	s.env.Freeze()
	code, body, took := timed("GET", "/api/health", nil)
	require.Equal(t, 503, code, "%s", body)
	h := decodeAs[healthResponse](t, body)
	assert.Equal(t, "unavailable", h.Status)
	assert.Equal(t, "readiness", h.LiveKit, "names the failed check")
	assert.Less(t, took, healthTimeout+margin, "health's probe outlived DASHBOARD_HEALTH_TIMEOUT")
	for _, c := range routes {
		code, body, took := timed(c.method, c.path, c.body)
		assert.Equal(t, 503, code, "hung: %s %s: %s", c.method, c.path, body)
		assert.Equal(t, "livekit_unavailable", errorCode(t, body))
		assert.Less(t, took, livekitTimeout+margin, "hung: %s %s outlived DASHBOARD_LIVEKIT_TIMEOUT", c.method, c.path)
	}
	code, body, _ = timed("POST", "/api/tokens", map[string]any{"role": "listener", "room": "jam", "identity": "bob"})
	assert.Equal(t, 201, code, "tokens are minted locally, LiveKit or not: %s", body)
	code, body, took = timed("GET", "/metrics", nil)
	assert.Equal(t, 200, code)
	assert.Contains(t, string(body), "dashboard_livekit_up 0\n")
	assert.Less(t, took, livekitTimeout+margin, "a scrape outlived DASHBOARD_LIVEKIT_TIMEOUT")

	// Back from the hang.
	s.env.Thaw()
	// /api/health answers from a probe at most healthMaxAge old.
	poll(t, healthMaxAge+5*time.Second, "health stayed down after the hang", func() (bool, string) {
		code, body, err := s.try(t, client, "GET", "/api/health", nil)
		return err == nil && code == 200, seen(code, body, err)
	})
	code, _, _ = timed("GET", "/api/rooms", nil)
	assert.Equal(t, 200, code)
	poll(t, 5*time.Second, "metrics never said LiveKit is back", func() (bool, string) {
		code, body, err := s.try(t, client, "GET", "/metrics", nil)
		return err == nil && strings.Contains(string(body), "dashboard_livekit_up 1\n"), seen(code, body, err)
	})

	// Dead: refused at once.
	s.env.Stop()
	code, body, _ = timed("GET", "/api/health", nil)
	// The cached answer may still be the healthy one for healthMaxAge.
	if code == 200 {
		time.Sleep(healthMaxAge)
		code, body, _ = timed("GET", "/api/health", nil)
	}
	h = decodeAs[healthResponse](t, body)
	assert.Equal(t, 503, code)
	assert.Equal(t, "unavailable", h.Status)
	assert.Equal(t, "readiness", h.LiveKit, "names the failed check")
	for _, c := range routes {
		code, body, _ := timed(c.method, c.path, c.body)
		assert.Equal(t, 503, code, "dead: %s %s: %s", c.method, c.path, body)
		assert.Equal(t, "livekit_unavailable", errorCode(t, body))
	}
	code, body, _ = timed("POST", "/api/tokens", map[string]any{"role": "listener", "room": "jam", "identity": "bob"})
	assert.Equal(t, 201, code, "tokens are minted locally, LiveKit or not: %s", body)
	poll(t, 5*time.Second, "metrics never said LiveKit is down", func() (bool, string) {
		code, body, err := s.try(t, client, "GET", "/metrics", nil)
		return err == nil && strings.Contains(string(body), "dashboard_livekit_up 0\n"), seen(code, body, err)
	})

	s.env.Start()
	poll(t, healthMaxAge+5*time.Second, "health stayed down after the restart", func() (bool, string) {
		code, body, err := s.try(t, client, "GET", "/api/health", nil)
		return err == nil && code == 200, seen(code, body, err)
	})
	code, _, _ = timed("GET", "/api/rooms", nil)
	assert.Equal(t, 200, code)
	close(stop)
	wg.Wait()
	assert.Empty(t, failures, "every request during the outages was answered in time")
	for code := range seenCodes {
		assert.Contains(t, []int{200, 503}, code, "during the outages: %v", seenCodes)
	}
	assert.Positive(t, seenCodes[503], "the workers saw the outages: %v", seenCodes)
	t.Logf("answers while LiveKit hung, died and came back: %v", seenCodes)
}

// Bounded load on loopback: every request answered, none failed.
func TestLoadWithoutErrors(t *testing.T) {
	s := newStage(t, nil)
	const clients, window = 8, 2 * time.Second
	deadline := time.Now().Add(window)
	var mu sync.Mutex
	counts := map[int]int{}
	var failures []error // judged here, on the test's goroutine
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 5000 && time.Now().Before(deadline); n++ {
				var code int
				var err error
				if n%2 == 0 {
					code, _, err = s.try(t, http.DefaultClient, "GET", "/api/rooms", nil)
				} else {
					code, _, err = s.try(t, http.DefaultClient, "POST", "/api/tokens", map[string]any{"role": "listener", "room": "load", "identity": "l" + string(rune('a'+i))})
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					counts[code]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Empty(t, failures, "every request answered")
	total := counts[200] + counts[201]
	assert.Greater(t, counts[200], 0)
	assert.Greater(t, counts[201], 0)
	assert.Equal(t, map[int]int{200: counts[200], 201: counts[201]}, counts, "only successes expected")
	t.Logf("%d requests in %s from %d clients", total, window, clients)
}

// The rate limit answers 429 with Retry-After once a client's burst is spent;
// behind the trusted proxy, each forwarded client has a bucket of its own.
func TestRateLimit(t *testing.T) {
	s := newStage(t, func(s *config.Settings) { s.RateLimit, s.RateBurst = 1, 3 })
	var codes []int
	for range 5 {
		code, _ := s.call(t, "GET", "/api/rooms", nil)
		codes = append(codes, code)
	}
	assert.Equal(t, []int{200, 200, 200, 429, 429}, codes)
	resp := s.do(t, "GET", "/api/rooms", nil)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, "rate_limited", errorCode(t, mustRead(t, resp)))

	p := newStageOn(t, s.env, func(s *config.Settings) {
		s.RateLimit, s.RateBurst = 1, 2
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
	})
	for _, who := range []string{"203.0.113.7", "203.0.113.8"} {
		for i, want := range []int{200, 200, 429} {
			code, _ := p.call(t, "GET", "/api/rooms", nil, "X-API-Key", testAPIKey, "X-Forwarded-For", who, access.ProxySecretHeader, testProxySecret)
			assert.Equal(t, want, code, "%s request %d", who, i)
		}
	}
}
