package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// nodesFunc is a Nodes of a function: a fake LiveKit Redis.
type nodesFunc func(ctx context.Context, rooms []string) (Reading, error)

func (f nodesFunc) Read(ctx context.Context, rooms []string) (Reading, error) {
	return f(ctx, rooms)
}

// fakeRedis counts its readings; it answers one live node hosting every room
// asked for, or fails while down, and holds each reading until let (if set)
// is closed.
type fakeRedis struct {
	reads atomic.Int64
	down  atomic.Bool
	let   chan struct{}
}

func (f *fakeRedis) Read(_ context.Context, rs []string) (Reading, error) {
	f.reads.Add(1)
	if f.let != nil {
		<-f.let
	}
	if f.down.Load() {
		return Reading{}, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	now := time.Now()
	r := Reading{at: now, roomOn: map[string]string{},
		nodes: []*livekit.Node{{Id: "ND_1", State: livekit.NodeState_SERVING, Stats: &livekit.NodeStats{UpdatedAt: now.Unix(), NumRooms: 1}}}}
	for _, room := range rs {
		r.roomOn[room] = "ND_1"
	}
	return r, nil
}

// The page asks for the shows and the nodes on every event: a crowd of them
// within a second costs LiveKit's Redis one reading, shared by both routes,
// and the crowd waits for it rather than reading Redis each.
func TestOneNodeReadingServesACrowd(t *testing.T) {
	redis := &fakeRedis{let: make(chan struct{})}
	s := New(nodesFunc(redis.Read), nil, nil, slog.New(slog.DiscardHandler))
	tuesday := []shows.Show{{Name: "tuesday", Room: rooms.Room{Name: "tuesday"}}}

	const crowd = 100
	var wg sync.WaitGroup
	views := make([][]showroutes.View, crowd)
	for i := range crowd {
		views[i] = []showroutes.View{{Name: "tuesday"}}
		wg.Add(1)
		go func() { defer wg.Done(); s.Place(context.Background(), tuesday, views[i]) }()
	}
	require.Eventually(t, func() bool { return redis.reads.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // the crowd gathers behind the one reading
	close(redis.let)
	wg.Wait()
	for _, v := range views {
		assert.Equal(t, "ND_1", v[0].Node)
		assert.False(t, v[0].Lost)
	}

	// GET /api/nodes within the second: the same reading.
	h := s.Handler()
	for range crowd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			assert.NoError(t, h(rec, httptest.NewRequest("GET", "/api/nodes", nil)))
			var nodes []View
			assert.NoError(t, json.Unmarshal(rec.Body.Bytes(), &nodes))
			assert.Len(t, nodes, 1)
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), redis.reads.Load(), "200 requests within the second: one reading of Redis")

	// Once it is older than a second, the next request reads again.
	s.place.mu.Lock()
	s.place.cur.at = time.Now().Add(-2 * placementMaxAge)
	s.place.mu.Unlock()
	require.Eventually(t, func() bool {
		v := []showroutes.View{{Name: "tuesday"}}
		s.Place(context.Background(), tuesday, v)
		return redis.reads.Load() == 2 && v[0].Node == "ND_1"
	}, 5*time.Second, time.Millisecond)
}

// A Redis that stops answering is told once, not on every request, and once
// again when it is back; meanwhile GET /api/nodes answers 503 and the shows
// are listed without their nodes.
func TestARedisOutageIsLoggedOnceEachWay(t *testing.T) {
	redis := &fakeRedis{}
	logs := &testenv.Buffer{}
	s := New(nodesFunc(redis.Read), nil, nil, slog.New(slog.NewJSONHandler(logs, nil)))
	s.place.maxAge = 0 // every request past the one in flight reads again
	tuesday := []shows.Show{{Name: "tuesday", Room: rooms.Room{Name: "tuesday"}}}
	h := s.Handler()
	ask := func() (showroutes.View, error) {
		v := []showroutes.View{{Name: "tuesday"}}
		s.Place(context.Background(), tuesday, v)
		return v[0], h(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/nodes", nil))
	}
	v, err := ask()
	require.NoError(t, err)
	assert.Equal(t, "ND_1", v.Node)

	redis.down.Store(true)
	start := redis.reads.Load()
	for redis.reads.Load() < start+20 {
		v, err = ask()
		if redis.reads.Load() > start+1 { // past the reading before the outage
			var e *api.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, 503, e.Status)
			assert.Equal(t, "nodes_unavailable", e.Code)
		}
	}
	v, err = ask()
	require.Error(t, err)
	assert.Empty(t, v.Node, "no node while Redis is down")
	assert.Empty(t, v.Problems)

	redis.down.Store(false)
	require.Eventually(t, func() bool { v, err := ask(); return err == nil && v.Node == "ND_1" }, 5*time.Second, time.Millisecond)
	for range 20 {
		_, _ = ask()
	}
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "did not answer"), "%s", out)
	assert.Equal(t, 1, strings.Count(out, "answers again"), "%s", out)
	assert.Equal(t, 2, strings.Count(out, "\n"), "%s", out)
}
