package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// heapPeak samples the heap in use until stop is called, and returns its peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// redisCommands is how many commands Redis has processed so far.
func redisCommands(b testing.TB, rdb *redis.Client) int64 {
	info, err := rdb.Info(b.Context(), "stats").Result()
	require.NoError(b, err)
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(b, err)
			return n
		}
	}
	b.Fatal("no total_commands_processed in INFO stats")
	return 0
}

// fillLog appends n events to the shared log, spread over 100 rooms, from 32
// writers at once (each Append is one atomic script call).
// sized is n, or a fiftieth of it in a run that only checks that the
// benchmark still works (scripts/test runs every benchmark with -benchtime 1x,
// with -race): the figures come from runs of their own.
func sized(n int) int {
	if f := flag.Lookup("test.benchtime"); f != nil && f.Value.String() == "1x" {
		return n / 50
	}
	return n
}

// inParallel runs do(i) for every i below n on workers goroutines, so that
// the fills take seconds, not minutes; it answers the first error.
func inParallel(workers, n int, do func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if err := do(int(i)); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	err, _ := first.Load().(error)
	return err
}

func fillLog(b testing.TB, rdb *redis.Client, n int) {
	log := events.NewRedisLog(rdb, "streamkit:events", 0)
	require.NoError(b, inParallel(32, n, func(i int) error {
		room := fmt.Sprintf("room-%d", i%100)
		e := events.Event{Kind: events.ParticipantJoined, Room: room, RoomSID: "RM_" + room, At: time.Now(),
			Participant: &events.Participant{Participant: rooms.Participant{SID: fmt.Sprintf("PA_%d", i), Identity: fmt.Sprintf("listener-%d", i)}}}
		_, _, err := log.Append(b.Context(), events.Key(e), e)
		return err
	}), "appends failed")
}

// BenchmarkTimelineCost: GET /api/rooms/{name}/timeline on a dashboard whose
// shared Redis log holds 100,000 events over 100 rooms, for a room with 1,000
// of them and for a room the log never saw. Reported per request: Redis
// commands (INFO's total_commands_processed, the live model's own polling
// included), LiveKit calls, and the dashboard process's peak heap in use.
func BenchmarkTimelineCost(b *testing.B) {
	hook := newHookFront(b)
	env := testenv.LiveKit(b, testenv.WithRedis(), hook.option())
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	b.Cleanup(func() { rdb.Close() })
	began := time.Now()
	n := sized(100_000)
	fillLog(b, rdb, n)
	b.Logf("%d events appended in %s", n, time.Since(began).Round(time.Millisecond))
	d := benchDashboard(b, env, hook, func(s *config.Settings) { s.RedisURL = "redis://" + env.RedisAddr })
	for _, c := range []struct{ name, room string }{{"room-with-1000", "room-7"}, {"never-seen", "never-seen"}} {
		b.Run(c.name, func(b *testing.B) {
			url := d.URL + "/api/rooms/" + c.room + "/timeline"
			runtime.GC()
			cmds, calls := redisCommands(b, rdb), d.calls.calls.Load()
			stop := heapPeak()
			b.ResetTimer()
			for range b.N {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("X-API-Key", testViewerKey)
				resp, err := d.Client().Do(req)
				require.NoError(b, err)
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if c.room == "never-seen" {
					require.Equal(b, 404, resp.StatusCode, "%s", out)
				} else {
					require.Equal(b, 200, resp.StatusCode, "%s", out)
				}
			}
			b.StopTimer()
			peak := stop()
			b.ReportMetric(float64(redisCommands(b, rdb)-cmds-1)/float64(b.N), "redis-cmds/req")
			b.ReportMetric(float64(d.calls.calls.Load()-calls)/float64(b.N), "livekit-calls/req")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// hostCounter counts the HTTP calls made through it, by host.
type hostCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int64
}

func (h *hostCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	if h.n == nil {
		h.n = map[string]int64{}
	}
	h.n[r.URL.Host]++
	if r.URL.Query().Has("list-type") { // an S3 listing (ListObjectsV2), one page of it
		h.n["list "+r.URL.Host]++
	}
	h.mu.Unlock()
	return h.next.RoundTrip(r)
}

func (h *hostCounter) of(host string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[host]
}

// fillBucket puts n small recordings into room's folder, 64 at a time.
func fillBucket(b testing.TB, m *testenv.MinIOEnv, room string, n int) {
	u, err := url.Parse(m.Endpoint)
	require.NoError(b, err)
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""), Region: "us-east-1"})
	require.NoError(b, err)
	require.NoError(b, inParallel(64, n, func(i int) error {
		key := fmt.Sprintf("%s/2026-11-%02dT%06dZ-EG_%05d.ogg", room, 1+i%28, i%240000, i)
		_, err := mc.PutObject(b.Context(), "recordings", key, strings.NewReader("not an ogg"), 10, minio.PutObjectOptions{})
		return err
	}), "puts failed")
}

// BenchmarkArchiveCost: with 10,000 recordings in one room's folder, a viewer
// pages GET /api/recordings changing limit on every request (as a script
// defeating a per-page cache would), and reads GET /api/shows/{name} of the
// show in that room, each at most at the default rate limit (20 requests per
// second). Reported per request: calls to the bucket and to LiveKit, and the
// dashboard process's peak heap in use.
func BenchmarkArchiveCost(b *testing.B) {
	env := testenv.LiveKit(b, testenv.WithRedis())
	m := testenv.MinIO(b)
	counted := &hostCounter{next: &http.Transport{MaxIdleConnsPerHost: 64}}
	st := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret, Storage: st,
		HTTPClient: &http.Client{Transport: counted}})
	require.NoError(b, err)
	require.NoError(b, sm.Recordings.EnsureBucket(b.Context()))
	began := time.Now()
	n := sized(10_000)
	fillBucket(b, m, "archive", n)
	b.Logf("%d objects put in %s", n, time.Since(began).Round(time.Millisecond))
	shows, err := sm.Shows(nil, spacemusic.ShowsOptions{SpoolDir: b.TempDir()})
	require.NoError(b, err)
	s := defaultSettings()
	srv := httptest.NewServer(NewServer(Deps{Log: slog.New(slog.DiscardHandler), Settings: s, WSURL: sm.Config().WSURL(), Health: sm,
		Rooms: sm.Rooms, Tokens: sm.Tokens, Ingress: sm.Ingress, Egress: sm.Egress, Recordings: sm.Recordings, Shows: shows}))
	b.Cleanup(srv.Close)
	do := func(b *testing.B, key, method, path, body string, want int) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := srv.Client().Do(req)
		require.NoError(b, err)
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(b, want, resp.StatusCode, "%s %s: %s", method, path, out)
	}
	storeHost, _ := url.Parse(m.Endpoint)
	lkHost, _ := url.Parse(env.URL)
	measure := func(b *testing.B, path func(i int) string) {
		runtime.GC()
		bucket, lists, lk := counted.of(storeHost.Host), counted.of("list "+storeHost.Host), counted.of(lkHost.Host)
		stop := heapPeak()
		b.ResetTimer()
		pace := time.NewTicker(time.Second / 20) // the default rate limit of one client, DASHBOARD_RATE_LIMIT=20
		defer pace.Stop()
		for i := range b.N {
			do(b, testViewerKey, "GET", path(i), "", 200)
			<-pace.C
		}
		b.StopTimer()
		peak := stop()
		b.ReportMetric(float64(counted.of(storeHost.Host)-bucket)/float64(b.N), "bucket-calls/req")
		b.ReportMetric(float64(counted.of("list "+storeHost.Host)-lists)/float64(b.N), "bucket-lists/req")
		b.ReportMetric(float64(counted.of(lkHost.Host)-lk)/float64(b.N), "livekit-calls/req")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	}
	b.Run("recordings-limit-varies", func(b *testing.B) {
		measure(b, func(i int) string { return fmt.Sprintf("/api/recordings?room=archive&limit=%d", 1+(i*37)%500) })
	})
	// A script paging from cursors of its own making (any recording's position)
	// is cut from the same listing as the first page.
	all, err := sm.Recordings.List(b.Context(), "archive")
	require.NoError(b, err)
	b.Run("recordings-cursor-varies", func(b *testing.B) {
		measure(b, func(i int) string {
			return "/api/recordings?room=archive&limit=50&cursor=" + recordings.Cursor(all[(i*7919)%len(all)])
		})
	})
	do(b, testOperatorKey, "POST", "/api/shows", `{"name":"archive"}`, 201)
	b.Run("show", func(b *testing.B) {
		measure(b, func(int) string { return "/api/shows/archive" })
	})
}
