package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
)

// A thousand stages are open and the operators' pages follow the show. Each
// page keeps an event stream open and, on every event, reloads what it shows
// (rooms, ingresses, shows, health), as the real page does. The calls the dashboard
// makes to LiveKit in a window of the show are the same for one page and for
// twenty: the pages read the model, and the model lists LiveKit on its own
// schedule.
func TestPagesDoNotMultiplyLiveKitCalls(t *testing.T) {
	testenv.RequireNetNS(t)
	const (
		stages = 1000
		pages  = 20
		steps  = 12 // events in each window: stages opened through the dashboard, one every 500 ms
	)
	hook := newHookFront(t)
	env := testenv.LiveKit(t, hook.option())
	srv := benchDashboard(t, env, hook, func(s *config.Settings) {
		s.Resync = 5 * time.Second
		s.StreamsPerPrincipal = 64 // twenty pages of one viewer key stand for twenty people
	})
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	createRooms(t, sm.Rooms, stages)
	waitForModel(t, srv.events, stages)

	// window runs n pages through one window of the show and returns the LiveKit
	// calls the dashboard made and the page requests it served.
	window := func(round, n int) (float64, int64) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var served sync.WaitGroup
		var mu sync.Mutex
		var requests int64
		streams := make([]*sse, n)
		for i := range streams {
			streams[i] = openStream(t, srv.URL+"/api/events", testViewerKey, "")
		}
		began, before, lists := time.Now(), srv.calls.paths(), srv.lists.calls.Load()
		for _, s := range streams {
			served.Add(1)
			go func() {
				defer served.Done()
				seen := len(s.all())
				for ctx.Err() == nil && seen < steps {
					if now := len(s.all()); now > seen {
						seen = now
						for _, path := range []string{"/api/rooms", "/api/ingress", "/api/shows", "/api/health"} {
							if pageGet(ctx, srv, path) {
								mu.Lock()
								requests++
								mu.Unlock()
							}
						}
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		for i := range steps {
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/rooms", strings.NewReader(fmt.Sprintf(`{"name":"round%d-%d"}`, round, i)))
			req.Header.Set("X-API-Key", testOperatorKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, 201, resp.StatusCode)
			time.Sleep(500 * time.Millisecond)
		}
		// The window is the steps' time, the same for every round: the pages
		// have until then to reload.
		took, after := time.Since(began), srv.calls.paths()
		t.Logf("round %d: the model's resyncs made %d calls (%d stages, every 5 s)", round, srv.lists.calls.Load()-lists, stages)
		served.Wait()
		// The steps' own CreateRoom calls are the same in every round; the rest
		// is what reading costs LiveKit.
		var used int64
		for p, n := range after {
			if d := n - before[p]; d > 0 && !strings.HasSuffix(p, "/CreateRoom") {
				used += d
				t.Logf("round %d: %s %d", round, p, d)
			}
		}
		for _, s := range streams {
			s.close()
		}
		require.NoError(t, ctx.Err(), "every page saw every step in time")
		return float64(used) / took.Seconds(), requests
	}

	one, servedOne := window(1, 1)
	many, servedMany := window(2, pages)
	t.Logf("LiveKit calls per second from the routes with %d stages, besides the steps' own: %.1f for 1 page (%d page requests), %.1f for %d pages (%d page requests)",
		stages, one, servedOne, many, pages, servedMany)
	require.GreaterOrEqual(t, servedMany, int64(pages*steps), "every page reloaded on events")
	// Health probes (at most one a second, shared by every caller) are all the
	// calls the routes make; a page adds none. (The model's resyncs run on
	// their own clock, whatever the pages do: logged above.) The margin covers
	// a probe more or less in a window; a call per page request would be 20
	// times as many.
	assert.LessOrEqual(t, many, one*1.5, "LiveKit calls grew with the pages")
}

// pageGet is one page request as a viewer; false when it did not answer 200.
func pageGet(ctx context.Context, srv benched, path string) bool {
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("X-API-Key", testViewerKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}
