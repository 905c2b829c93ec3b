package events_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// replica is one dashboard's Watch on the shared Redis timeline.
type replica struct {
	watch *events.Watch
	recv  *events.Receiver
	stop  func()
}

func startReplica(t *testing.T, lister events.Lister, rdb *redis.Client, key, secret string) *replica {
	w := events.NewWatch(lister, events.Options{Resync: time.Hour, Log: events.NewRedisLog(rdb, "streamkit:events", 0)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	r := &replica{watch: w, recv: events.NewReceiver(key, secret, events.WatchSink(w)), stop: func() { cancel(); <-done }}
	t.Cleanup(r.stop)
	require.Eventually(t, func() bool { return w.Snapshot().Synced }, 10*time.Second, 10*time.Millisecond)
	return r
}

func stories(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		who := ""
		if e.Participant != nil {
			who = " " + e.Participant.Identity
		}
		out = append(out, fmt.Sprintf("%d %s %s%s", e.Revision, e.Kind, e.Room, who))
	}
	return out
}

// Two dashboard replicas behind one webhook URL share LiveKit's Redis: LiveKit's
// webhooks land on either, and subscribers of both see the same events in the
// same order. One replica restarts during the show; its subscriber resumes from
// its last revision and misses nothing.
func TestReplicasShareOneTimeline(t *testing.T) {
	testenv.RequireNetNS(t)
	var mu sync.Mutex
	var targets []*replica
	n := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if len(targets) == 0 {
			mu.Unlock()
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		to := targets[n%len(targets)] // round robin, like a load balancer
		n++
		mu.Unlock()
		to.recv.ServeHTTP(w, r)
	}))
	t.Cleanup(hook.Close)
	env := testenv.LiveKit(t, testenv.WithRedis(), testenv.WithWebhook(hook.URL+"/webhook"))
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	lister, err := events.NewLister(events.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	a := startReplica(t, lister, rdb, env.APIKey, env.APISecret)
	b := startReplica(t, lister, rdb, env.APIKey, env.APISecret)
	mu.Lock()
	targets = []*replica{a, b}
	mu.Unlock()
	fa, fb := follow(t, a.watch), follow(t, b.watch)

	rs, err := rooms.New(rooms.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	ctx := testenv.Within(t, 2*time.Minute)
	_, err = rs.Create(ctx, "stage", rooms.CreateOptions{})
	require.NoError(t, err)
	tok, err := issuer.Performer("stage", "ada")
	require.NoError(t, err)
	ada := env.Join(t, tok.JWT, nil)
	_, err = testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	fa.waitFor(t, events.TrackPublished, "stage", "ada")
	fb.waitFor(t, events.TrackPublished, "stage", "ada")

	// b restarts while the show goes on; its subscriber kept b's last revision.
	last := fb.all()[len(fb.all())-1].Revision
	mu.Lock()
	targets = []*replica{a}
	mu.Unlock()
	b.stop()
	ltok, err := issuer.Listener("stage", "bob")
	require.NoError(t, err)
	env.Join(t, ltok.JWT, nil)
	fa.waitFor(t, events.ParticipantJoined, "stage", "bob")
	b2 := startReplica(t, lister, rdb, env.APIKey, env.APISecret)
	mu.Lock()
	targets = []*replica{a, b2}
	mu.Unlock()
	require.NoError(t, rs.Kick(ctx, "stage", "ada"))
	fa.waitFor(t, events.ParticipantLeft, "stage", "ada")

	// The resumed subscriber: from b's last revision, through the restart.
	var resumed []events.Event
	require.Eventually(t, func() bool {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		from := last
		if len(resumed) > 0 {
			from = resumed[len(resumed)-1].Revision
		}
		evs, err := b2.watch.Wait(wctx, from)
		resumed = append(resumed, evs...)
		return err == nil && len(resumed) > 0 && resumed[len(resumed)-1].Kind == events.ParticipantLeft
	}, 20*time.Second, 10*time.Millisecond, "resumed: %v", stories(resumed))

	all := stories(fa.all())
	assert.Equal(t, all[:len(stories(fb.all()))], stories(fb.all()), "both replicas told the same story until b stopped")
	before := slices.IndexFunc(fa.all(), func(e events.Event) bool { return e.Revision > last })
	require.GreaterOrEqual(t, before, 0)
	assert.Equal(t, all[before:], stories(resumed), "the resumed subscriber missed nothing")
	assert.Equal(t, view(a.watch.Snapshot()), view(b2.watch.Snapshot()), "the restarted replica's model")
	for _, e := range fa.all() {
		assert.False(t, e.Resync, "webhooks told it all: %v", all)
	}
}
