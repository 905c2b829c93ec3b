package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// Benchmarks report figures for the README; nothing here asserts a timing. The
// README's figures come from
//
//	scripts/netns go test -run '^$' -bench . -benchtime 2s ./examples/dashboard/
//
// A time, not a count: one BenchmarkBinary iteration starts the binary and idles
// a second, so a count sized for the HTTP benchmarks would run it for an hour.
// scripts/test runs each benchmark once (-benchtime 1x) so none rots.

// countingTransport counts the HTTP calls the dashboard makes to LiveKit.
type countingTransport struct {
	calls  atomic.Int64
	next   http.RoundTripper
	mu     sync.Mutex
	byPath map[string]int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	c.mu.Lock()
	if c.byPath == nil {
		c.byPath = map[string]int64{}
	}
	c.byPath[r.URL.Path]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// paths is how many calls went to each LiveKit endpoint so far.
func (c *countingTransport) paths() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byPath)
}

// benched is a dashboard under measurement.
type benched struct {
	*httptest.Server
	calls  *countingTransport // the LiveKit calls its routes make
	lists  *countingTransport // the live model's (lists for resyncs)
	events live.Events        // the live model; nil without one
}

// benchDashboard serves a dashboard whose LiveKit calls are counted. With a
// hook (whose LiveKit is env), it runs the live model fed by LiveKit's
// webhooks, as in production.
func benchDashboard(b testing.TB, env *testenv.Env, hook *hookFront, tweak func(*config.Settings)) benched {
	counted := func() *countingTransport { return &countingTransport{next: &http.Transport{MaxIdleConnsPerHost: 64}} }
	out := benched{calls: counted(), lists: counted()}
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret,
		HTTPClient: &http.Client{Transport: out.calls}})
	require.NoError(b, err)
	s := defaultSettings()
	if tweak != nil {
		tweak(&s)
	}
	log := slog.New(api.NewLogHandler(io.Discard, nil)) // the production handler
	deps := Deps{Log: log, Settings: s, WSURL: sm.Config().WSURL(), Health: sm, Rooms: sm.Rooms, Tokens: sm.Tokens, Ingress: sm.Ingress}
	if hook != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cfg := sm.Config()
		cfg.HTTPClient = &http.Client{Transport: out.lists}
		stop, err := watchLiveKit(ctx, &deps, cfg, s, log)
		require.NoError(b, err)
		b.Cleanup(func() { cancel(); stop() })
	}
	shows, err := showsOn(sm, deps.Events, "", nil)
	require.NoError(b, err)
	deps.Shows = shows
	out.Server, out.events = httptest.NewServer(NewServer(deps)), deps.Events
	b.Cleanup(out.Close)
	out.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	if hook != nil {
		hook.serve(out.Config.Handler)
	}
	return out
}

// waitForModel waits until the model answers reads and holds n rooms.
func waitForModel(b testing.TB, ev live.Events, n int) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if snap := ev.Snapshot(); snap.Synced && !ev.LastWebhook().IsZero() && len(snap.Rooms) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("the model did not sync with %d rooms in time", n)
}

func get(b *testing.B, c *http.Client, url string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-API-Key", testAPIKey)
	resp, err := c.Do(req)
	require.NoError(b, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(b, 200, resp.StatusCode)
}

func p50(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkListRooms: GET /api/rooms through the dashboard (HTTP, auth, JSON,
// logging) answered from the live model and, on a second dashboard without one,
// by LiveKit, against a direct rooms.List on the same LiveKit, with 10 and 1,000
// open rooms: each one's median time for one request at a time, and the
// requests per second of the model's answer and of direct lists, 8 at a time
// (x-direct: the goal at 1,000 rooms is at least 20). livekit-calls/req is the
// model dashboard's: none per request (the resync's lists are counted too, but
// fall outside a short run).
func BenchmarkListRooms(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("rooms=%d", n), func(b *testing.B) {
			hook := newHookFront(b)
			env := testenv.LiveKit(b, hook.option())
			model := benchDashboard(b, env, hook, nil)
			proxy := benchDashboard(b, env, nil, nil)
			direct, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
			require.NoError(b, err)
			createRooms(b, direct.Rooms, n)
			waitForModel(b, model.events, n)
			ctx := context.Background()
			for range 20 { // warm every path's connections
				get(b, model.Client(), model.URL+"/api/rooms")
				get(b, proxy.Client(), proxy.URL+"/api/rooms")
				_, err := direct.Rooms.List(ctx)
				require.NoError(b, err)
			}
			model.calls.calls.Store(0)
			viaModel, viaProxy, viaList := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				get(b, model.Client(), model.URL+"/api/rooms")
				t1 := time.Now()
				get(b, proxy.Client(), proxy.URL+"/api/rooms")
				t2 := time.Now()
				list, err := direct.Rooms.List(ctx)
				viaModel, viaProxy, viaList = append(viaModel, t1.Sub(t0)), append(viaProxy, t2.Sub(t1)), append(viaList, time.Since(t2))
				require.NoError(b, err)
				require.Len(b, list, n)
			}
			// Throughput: many pages at once, as a show's crew polls it, against
			// as many direct lists at once; the same count each, in turns.
			rate := func(do func()) float64 {
				const workers = 8
				var next atomic.Int64
				var wg sync.WaitGroup
				start := time.Now()
				for range workers {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							do()
						}
					})
				}
				wg.Wait()
				return float64(b.N) / time.Since(start).Seconds()
			}
			modelRate := rate(func() { get(b, model.Client(), model.URL+"/api/rooms") })
			directRate := rate(func() {
				_, err := direct.Rooms.List(ctx)
				require.NoError(b, err)
			})
			b.StopTimer()
			b.ReportMetric(modelRate, "model-req/s")
			b.ReportMetric(directRate, "direct-req/s")
			b.ReportMetric(modelRate/directRate, "x-direct")
			m, p, l := p50(viaModel), p50(viaProxy), p50(viaList)
			b.ReportMetric(float64(m.Microseconds())/1000, "model-p50-ms")
			b.ReportMetric(float64(p.Microseconds())/1000, "via-livekit-p50-ms")
			b.ReportMetric(float64(l.Microseconds())/1000, "direct-p50-ms")
			b.ReportMetric(float64(m)/float64(l), "model/direct")
			b.ReportMetric(float64(model.calls.calls.Load())/float64(b.N), "livekit-calls/req")
		})
	}
}

// createRooms opens n rooms with 8 workers, bounded in time.
func createRooms(b testing.TB, rs *rooms.Service, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := rs.Create(ctx, fmt.Sprintf("bench-%04d", i), rooms.CreateOptions{EmptyTimeout: time.Hour}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(b, <-errs)
}

// BenchmarkCreateToken: POST /api/tokens from parallel clients, as an
// operator, so the identity rules run (reserved identities, presence from the
// watched model: no LiveKit call per mint), side by side in one run with
//   - floor: a bare net/http handler that reads the same body and answers a
//     201 JSON of the same size, and
//   - node: the seed's Node dashboard minting with livekit-server-sdk
//     (testenv.NodeDashboard),
//
// through the same client at the same concurrency, taking turns. It reports each one's
// req/s and the dashboard's ratios to them (the goal: >= 0.8 x floor, >= 2 x
// node), and the LiveKit calls per mint.
func BenchmarkCreateToken(b *testing.B) {
	hook := newHookFront(b)
	env := testenv.LiveKit(b, hook.option())
	srv := benchDashboard(b, env, hook, nil)
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(b, err)
	createRooms(b, sm.Rooms, 1) // its webhook makes the model serve
	waitForModel(b, srv.events, 1)
	node := testenv.NodeDashboard(b, env.APIKey, env.APISecret, testOperatorKey, "ws://127.0.0.1:7880")

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := `{"role":"listener","room":"bench-0001","identity":"bob","ttl":600}`
	post := func(url string) (int, []byte, error) {
		req, _ := http.NewRequest("POST", url+"/api/tokens", strings.NewReader(body))
		req.Header.Set("X-API-Key", testOperatorKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		return resp.StatusCode, out, err
	}
	code, answer, err := post(srv.URL)
	require.NoError(b, err)
	require.Equal(b, 201, code, "%s", answer)
	same := []byte(`{"token":"` + strings.Repeat("x", len(answer)-len(`{"token":""}`)) + `"}`)
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(same)
	}))
	b.Cleanup(floor.Close)

	// The three take turns in rounds, so that the machine's load (shared, and
	// changing) weighs on each alike; each round sends n requests from the
	// same number of workers.
	const rounds = 5
	workers := 4 * runtime.GOMAXPROCS(0)
	took := map[string]time.Duration{}
	run := func(url string, n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if code, out, err := post(url); err != nil || code != 201 {
						b.Errorf("%s: %d %s %v", url, code, out, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		took[url] += time.Since(start)
	}
	b.ResetTimer()
	calls := srv.calls.calls.Load()
	sent := 0
	for r := range rounds {
		n := b.N / rounds
		if r == rounds-1 {
			n = b.N - sent
		}
		sent += n
		for _, url := range []string{srv.URL, floor.URL, node} {
			run(url, n)
		}
	}
	calls = srv.calls.calls.Load() - calls
	b.StopTimer()
	rate := func(url string) float64 { return float64(b.N) / took[url].Seconds() }
	dash, fl, nd := rate(srv.URL), rate(floor.URL), rate(node)
	b.ReportMetric(dash, "req/s")
	b.ReportMetric(fl, "floor-req/s")
	b.ReportMetric(nd, "node-req/s")
	b.ReportMetric(dash/fl, "x-floor")
	b.ReportMetric(dash/nd, "x-node")
	b.ReportMetric(float64(calls)/float64(b.N), "livekit-calls/mint")
}

// BenchmarkBinary builds the dashboard, starts it against a real LiveKit and
// reports the time until /api/health answers 200 and the resident memory after a
// second of idling.
func BenchmarkBinary(b *testing.B) {
	env := testenv.LiveKit(b)
	bin := filepath.Join(b.TempDir(), "dashboard")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(b, err, "%s", out)
	st, err := os.Stat(bin)
	require.NoError(b, err)

	var startup time.Duration
	var rss int64
	b.ResetTimer()
	for range b.N {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(b))
		cmd := exec.Command(bin)
		// A production start: API keys and the admin group are required settings.
		cmd.Env = []string{"LIVEKIT_URL=" + env.URL, "LIVEKIT_API_KEY=" + env.APIKey, "LIVEKIT_API_SECRET=" + env.APISecret,
			"DASHBOARD_ADDR=" + addr, "DASHBOARD_API_KEYS=" + testAPIKey, "DASHBOARD_ADMIN_GROUP=stage-admins"}
		var output testenv.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		t0 := time.Now()
		require.NoError(b, cmd.Start())
		up := false
		for deadline := time.Now().Add(10 * time.Second); !up && time.Now().Before(deadline); {
			if resp, err := http.Get("http://" + addr + "/api/health"); err == nil {
				resp.Body.Close()
				up = resp.StatusCode == 200
			}
			if !up {
				time.Sleep(2 * time.Millisecond)
			}
		}
		startup += time.Since(t0)
		require.True(b, up, "the dashboard did not come up:\n%s", output.String())
		time.Sleep(time.Second)
		rss += residentKiB(b, cmd.Process.Pid)
		require.NoError(b, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(b, cmd.Wait(), "clean exit on SIGTERM")
	}
	b.StopTimer()
	b.ReportMetric(float64(startup.Microseconds())/1000/float64(b.N), "startup-ms")
	b.ReportMetric(float64(rss)/1024/float64(b.N), "idle-rss-MiB")
	b.ReportMetric(float64(st.Size())/(1<<20), "binary-MiB")
}

func residentKiB(b *testing.B, pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(b, err)
			return kib
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkEventFanout: one event reaches 100 open event streams through the
// whole server (auth, pipeline, SSE); reported as the p50 and p99 delay from
// the event being applied to each page having read it. No LiveKit is needed:
// the events come straight into the model, as webhooks would.
func BenchmarkEventFanout(b *testing.B) {
	const clients = 100
	s := defaultSettings()
	s.StreamsPerPrincipal = clients // a hundred pages of one viewer key stand for a hundred people
	watch := events.NewWatch(nil, events.Options{LogSize: 100000})
	srv := httptest.NewServer(NewServer(Deps{Settings: s, Events: watch,
		Webhooks: events.NewReceiver("k", strings.Repeat("s", 32), events.WatchSink(watch))}))
	b.Cleanup(srv.Close)

	type got struct {
		rev uint64
		at  time.Time
	}
	seen := make(chan got, clients*64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ready sync.WaitGroup
	for range clients {
		ready.Add(1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/events", nil)
		req.Header.Set("X-API-Key", testViewerKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, resp.StatusCode, "stream refused")
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			first := true
			for sc.Scan() {
				line := sc.Text()
				if first && line == "" { // the greeting ended: subscribed
					ready.Done()
					first = false
				}
				if id, ok := strings.CutPrefix(line, "id: "); ok {
					rev, _ := strconv.ParseUint(id, 10, 64)
					select {
					case seen <- got{rev, time.Now()}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	ready.Wait()

	var delays []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := time.Now()
		e, ok, _ := watch.Apply(ctx, events.Event{Kind: events.RoomOpened, Room: "fanout-" + strconv.Itoa(i), RoomSID: "RM_" + strconv.Itoa(i)})
		require.True(b, ok)
		for n := 0; n < clients; n++ {
			select {
			case g := <-seen:
				require.Equal(b, e.Revision, g.rev)
				delays = append(delays, g.at.Sub(sent))
			case <-time.After(10 * time.Second):
				b.Fatalf("event %d reached %d of %d pages", e.Revision, n, clients)
			}
		}
	}
	b.StopTimer()
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99-ms")
}
