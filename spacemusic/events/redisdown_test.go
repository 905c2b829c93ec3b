package events_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// The shared log's Redis goes down mid-show: a webhook the log cannot take is
// answered 503, so LiveKit sends it again, and nothing is lost; once Redis is
// back, the retry goes in (once).
func TestAWebhookRedisCannotTakeIsRetried(t *testing.T) {
	env := testenv.LiveKit(t)
	lister, err := events.NewLister(events.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	bin := testenv.Binary(t, "redis-server", "redis")
	port := testenv.FreePort(t)
	startRedis := func() *testenv.Process {
		p := testenv.StartProcess(t, "redis", bin, []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"})
		rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
		defer rdb.Close()
		require.Eventually(t, func() bool { return rdb.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond, "redis up")
		return p
	}
	up := startRedis()
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	w := events.NewWatch(lister, events.Options{Resync: time.Hour, Log: events.NewRedisLog(rdb, "streamkit:events", 0)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { return w.Snapshot().Synced }, 10*time.Second, 10*time.Millisecond)
	recv := events.NewReceiver(hookKey, hookSecret, events.WatchSink(w))
	// deliver takes whom to fail: the outer t, or the c of a polled condition
	// (signing requires, and a FailNow on t inside a condition would hang).
	deliver := func(t require.TestingT, id string) int {
		rec := httptest.NewRecorder()
		c, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		recv.ServeHTTP(rec, signed(t, hookKey, hookSecret, time.Minute, joinedBody(t, id)).WithContext(c))
		return rec.Code
	}

	up.Stop() // Redis is really down: its process is gone
	assert.Equal(t, http.StatusServiceUnavailable, deliver(t, "EV_while_down"), "LiveKit must send it again")
	assert.Equal(t, int64(1), recv.Counts()[events.Failed])
	assert.NotContains(t, w.Snapshot().Rooms, "stage", "nothing applied that the log did not take")

	startRedis() // back, empty (no persistence): LiveKit's retry goes in
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, http.StatusOK, deliver(c, "EV_while_down"))
	}, 10*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { _, ok := w.Snapshot().Rooms["stage"]; return ok }, 10*time.Second, 20*time.Millisecond, "the retry reached the model")
	assert.Equal(t, http.StatusOK, deliver(t, "EV_while_down"), "a second retry is acknowledged")
	assert.Equal(t, int64(1), recv.Counts()[events.Duplicate], "and not told twice")
}
