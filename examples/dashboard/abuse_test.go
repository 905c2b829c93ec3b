package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
)

// series scrapes /metrics and returns its dashboard_http_requests_total lines.
func series(t *testing.T, s *stage) []string {
	t.Helper()
	code, body := s.call(t, "GET", "/metrics", nil, noAuth...)
	require.Equal(t, 200, code, "%s", body)
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "dashboard_http_requests_total{") {
			out = append(out, line)
		}
	}
	return out
}

// counter is the value of one dashboard_http_requests_total series, 0 if absent.
func counter(t *testing.T, lines []string, labels string) int {
	t.Helper()
	for _, line := range lines {
		if v, ok := strings.CutPrefix(line, "dashboard_http_requests_total{"+labels+"} "); ok {
			n, err := strconv.Atoi(v)
			require.NoError(t, err, line)
			return n
		}
	}
	return 0
}

// An anonymous client sends 10,000 requests with made-up methods: the metrics
// count them all under method="other", and not one new series appears.
func TestMetricsLabelsStayBounded(t *testing.T) {
	s := newStage(t, nil)
	client := &http.Client{}
	send := func(method string) int {
		req, err := http.NewRequest(method, s.srv.URL+"/api/rooms", nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		mustRead(t, resp)
		return resp.StatusCode
	}
	rnd := rand.New(rand.NewPCG(9, 9))
	randomMethod := func() string {
		var b strings.Builder
		for range 1 + rnd.IntN(12) {
			b.WriteByte("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"[rnd.IntN(38)])
		}
		return b.String()
	}
	// A few first, and one scrape, so that every series the flood and the
	// scrapes can reach exists.
	for _, m := range []string{"FOO1", "PUT", "PATCH"} {
		assert.Equal(t, 405, send(m), m)
	}
	series(t, s)
	before := series(t, s)
	const flood = 10_000
	custom := 0
	for range flood {
		m := randomMethod()
		if methodLabel(m) == "other" {
			custom++
		}
		require.Equal(t, 405, send(m), "%s /api/rooms", m)
	}
	after := series(t, s)
	assert.Equal(t, len(before), len(after), "new series appeared")
	assert.Equal(t, 1+custom, counter(t, after, `method="other",route="unmatched",status="405"`), "every made-up method is counted as other")
	assert.Equal(t, 1, counter(t, after, `method="PUT",route="unmatched",status="405"`))
	assert.Greater(t, custom, flood*9/10)
	known := regexp.MustCompile(`method="(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|other)"`)
	for _, line := range after {
		if !assert.Regexp(t, known, line) {
			break // one example is enough
		}
	}
	t.Logf("%d series before and after %d requests with random methods", len(after), flood)
}

func TestStatusLabelIsBounded(t *testing.T) {
	for code, want := range map[int]string{200: "200", 599: "599", 99: "other", 600: "other", 1 << 20: "other", -1: "other"} {
		assert.Equal(t, want, statusLabel(code), fmt.Sprint(code))
	}
}

// /static/ serves the page's script and style and nothing else: not the page's
// template, not a directory listing, not a guessed name; every answer, the
// 404s too, carries the page's security headers.
func TestStaticServesOnlyThePagesAssets(t *testing.T) {
	s := newStage(t, nil)
	secure := func(t *testing.T, h http.Header, what string) {
		t.Helper()
		assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'self'", what)
		assert.Equal(t, "DENY", h.Get("X-Frame-Options"), what)
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), what)
		assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"), what)
	}
	for path, want := range map[string]string{"/static/app.js": "text/javascript", "/static/app.css": "text/css"} {
		resp := s.do(t, "GET", path, nil, noAuth...)
		body := mustRead(t, resp)
		assert.Equal(t, 200, resp.StatusCode, path)
		assert.Contains(t, resp.Header.Get("Content-Type"), want, path)
		assert.NotEmpty(t, body, path)
		secure(t, resp.Header, path)
		// A browser revalidates with the ETag and gets a 304.
		again := s.do(t, "GET", path, nil, "If-None-Match", resp.Header.Get("ETag"))
		mustRead(t, again)
		assert.Equal(t, 304, again.StatusCode, path)
	}
	for _, path := range []string{"/static/", "/static/index.html", "/static/assets/app.js", "/static/APP.JS", "/static/app.js.map",
		"/static/app.js/", "/static/web.go", "/static/..%2fweb.go", "/api/stream/static/app.js"} {
		resp := s.do(t, "GET", path, nil, noAuth...)
		body := mustRead(t, resp)
		assert.Equal(t, 404, resp.StatusCode, "%s: %s", path, body)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), path)
		assert.Contains(t, []string{"not_found", "route_not_found"}, errorCode(t, body), path)
		if strings.HasPrefix(resp.Request.URL.Path, "/static/") { // not redirected elsewhere
			secure(t, resp.Header, path)
		}
		assert.NotContains(t, string(body), "<html", path)
	}
}

// countingHealth is the real client's Health, counted.
type countingHealth struct {
	HealthChecker
	probes atomic.Int64
}

func (c *countingHealth) Health(ctx context.Context) error {
	c.probes.Add(1)
	return c.HealthChecker.Health(ctx)
}

// /api/health is public, so it answers from a probe at most a second old: a
// crowd of anonymous callers costs LiveKit one probe, not one each. When
// LiveKit goes away the answer names the failed check in plain words, never
// LiveKit's or the network's own text; when it is back, so is the dashboard.
func TestHealthIsCachedAndSaysLittle(t *testing.T) {
	env := testenv.LiveKit(t, testenv.WithBackend("process"))
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret, Timeout: 2 * time.Second})
	require.NoError(t, err)
	health := &countingHealth{HealthChecker: sm}
	logs := &testenv.Buffer{}
	_, handler := newContract(t, NewServer(Deps{Log: slog.New(slog.NewJSONHandler(logs, nil)), Settings: defaultSettings(),
		Health: health, Rooms: sm.Rooms, Tokens: sm.Tokens}))
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	// get runs on the crowd's goroutines too: failures are returned, never fatal.
	get := func() (int, healthResponse, string) {
		resp, err := http.Get(srv.URL + "/api/health")
		if err != nil {
			return 0, healthResponse{}, err.Error()
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, healthResponse{}, err.Error()
		}
		var h healthResponse
		_ = json.Unmarshal(body, &h)
		return resp.StatusCode, h, string(body)
	}

	// 200 callers at once.
	const crowd = 200
	var wg sync.WaitGroup
	codes := make([]int, crowd)
	start := make(chan struct{})
	for i := range crowd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i], _, _ = get()
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	for i, c := range codes {
		assert.Equal(t, 200, c, "caller %d", i)
	}
	// Within one cache lifetime, one probe, or two across its end.
	bound := 2 + int64(took/healthMaxAge)
	assert.LessOrEqual(t, health.probes.Load(), bound, "%d callers in %s", crowd, took)
	t.Logf("%d concurrent callers in %s: %d LiveKit probes", crowd, took.Round(time.Millisecond), health.probes.Load())

	// LiveKit goes away: a 503 naming the check, in words that give nothing away.
	env.Stop()
	var body string
	var h healthResponse
	if !poll(t, 5*time.Second, "health never noticed", func() (bool, string) {
		var code int
		code, h, body = get()
		return code == 503, body
	}) {
		t.FailNow()
	}
	assert.Equal(t, "unavailable", h.Status)
	assert.Equal(t, "readiness", h.LiveKit)
	assert.Equal(t, "LiveKit did not answer", h.Error)
	u, err := url.Parse(env.URL)
	require.NoError(t, err)
	for _, leak := range []string{"dial", "tcp", "connection refused", u.Host, u.Port(), "health readiness"} {
		assert.NotContains(t, body, leak, "upstream detail in a public answer")
	}
	assert.Contains(t, logs.String(), "health probe failed", "the detail is in the log for the operator")

	// Back: the dashboard follows within a cache lifetime of LiveKit.
	env.Start()
	require.Eventually(t, func() bool { return sm.Health(t.Context()) == nil }, 10*time.Second, 50*time.Millisecond)
	back := time.Now()
	poll(t, healthMaxAge+3*time.Second, "health stayed down", func() (bool, string) {
		code, _, body := get()
		return code == 200, body
	})
	t.Logf("the dashboard said ok %s after LiveKit did", time.Since(back).Round(time.Millisecond))
}

// countFetches counts the page's GET /api/rooms requests as the page starts
// them: how many, and the most at once. (On the server this cannot be seen:
// Chromium holds identical GETs back until the first one is answered, so a
// piling page queues its polls in the browser.)
const countFetches = `(() => {
  const f = window.fetch;
  Object.assign(window, { roomsStarted: 0, roomsInFlight: 0, roomsMost: 0 });
  window.fetch = function (input, init) {
    if (String(input) !== "/api/rooms") return f.apply(this, arguments);
    window.roomsStarted++;
    window.roomsMost = Math.max(window.roomsMost, ++window.roomsInFlight);
    const p = f.apply(this, arguments);
    const done = () => window.roomsInFlight--;
    p.then(done, done);
    return p;
  };
})();`

// A slow server gets one refresh at a time from an open page: without its event
// stream the page polls every 3 s, and starts its next poll only when the last
// one has finished (here each GET /api/rooms takes 3.5 s).
func TestThePageNeverPilesUpPolls(t *testing.T) {
	testenv.RequireNetNS(t)
	s := newStage(t, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup = adminGroup
	})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/events" { // no event stream: the page falls back to polling
			http.Error(w, "no stream here", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/api/rooms" {
			select {
			case <-time.After(3500 * time.Millisecond):
			case <-r.Context().Done():
			}
		}
		s.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)

	b := openDashboard(t, slow.URL+"/", "mia")
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(countFetches).Do(ctx)
		return err
	}), chromedp.Reload())
	b.until("three polls", `window.roomsStarted >= 3`)
	var most int
	b.run(chromedp.Evaluate(`window.roomsMost`, &most))
	assert.Equal(t, 1, most, "the page started a poll while one was running")
}
