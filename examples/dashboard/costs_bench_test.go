package main

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/events"
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
func fillLog(b testing.TB, rdb *redis.Client, n int) {
	log := events.NewRedisLog(rdb, "streamkit:events", 0)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				room := fmt.Sprintf("room-%d", i%100)
				e := events.Event{Kind: events.ParticipantJoined, Room: room, RoomSID: "RM_" + room, At: time.Now(),
					Participant: &events.Participant{Participant: rooms.Participant{SID: fmt.Sprintf("PA_%d", i), Identity: fmt.Sprintf("listener-%d", i)}}}
				_, _, err := log.Append(b.Context(), events.Key(e), e)
				if err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
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
	fillLog(b, rdb, 100_000)
	b.Logf("100,000 events appended in %s", time.Since(began).Round(time.Millisecond))
	d := benchDashboard(b, env, hook, func(s *settings) { s.RedisURL = "redis://" + env.RedisAddr })
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
