package events_test

import (
	"bytes"
	"encoding/json"
	"io"
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

// LiveKit's webhook reaches two replicas sharing LiveKit's Redis (a retry the
// load balancer sends to the other one): each replica's receiver has its own
// memory of webhook IDs, so only the shared log can tell the second delivery
// is the same change. The log takes it once, both deliveries are acknowledged
// (LiveKit stops sending), and both replicas' models and timelines hold it,
// once.
func TestAWebhookSentToTwoReplicasGoesInOnce(t *testing.T) {
	testenv.RequireNetNS(t)
	var mu sync.Mutex
	var targets []*replica
	delivered := map[string][]int{} // "event identity" -> each replica's answer
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		mu.Lock()
		to := slices.Clone(targets)
		mu.Unlock()
		if len(to) == 0 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		var what struct {
			Event       string
			Participant struct{ Identity string }
		}
		_ = json.Unmarshal(body, &what)
		// LiveKit's own signed request, as it sent it, to each replica in turn.
		code := http.StatusOK
		for _, rep := range to {
			again := r.Clone(r.Context())
			again.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			rep.recv.ServeHTTP(rec, again)
			mu.Lock()
			delivered[what.Event+" "+what.Participant.Identity] = append(delivered[what.Event+" "+what.Participant.Identity], rec.Code)
			mu.Unlock()
			if rec.Code != http.StatusOK {
				code = rec.Code
			}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(hook.Close)
	env := testenv.LiveKit(t, testenv.WithRedis(), testenv.WithWebhook(hook.URL+"/webhook"))
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	lister, err := events.NewLister(events.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	a := startReplica(t, lister, rdb, env.APIKey, env.APISecret)
	b := startReplica(t, lister, rdb, env.APIKey, env.APISecret)
	fa, fb := follow(t, a.watch), follow(t, b.watch)
	mu.Lock()
	targets = []*replica{a, b}
	mu.Unlock()

	rs, err := rooms.New(rooms.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	ctx := testenv.Within(t, 2*time.Minute)
	_, err = rs.Create(ctx, "stage", rooms.CreateOptions{})
	require.NoError(t, err)
	tok, err := issuer.Listener("stage", "ada")
	require.NoError(t, err)
	env.Join(t, tok.JWT, nil)

	// Both replicas answered ada's join, and both answered 200.
	answers := func(what string) []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(delivered[what])
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, answers("participant_joined ada"), 2)
	}, 10*time.Second, 20*time.Millisecond, "LiveKit's join reached both replicas")
	assert.Equal(t, []int{http.StatusOK, http.StatusOK}, answers("participant_joined ada"), "both acknowledged: LiveKit does not send it again")
	assert.Equal(t, []int{http.StatusOK, http.StatusOK}, answers("room_started "), "the room's start too")

	// The shared log holds each change once.
	log := events.NewRedisLog(rdb, "streamkit:events", 0)
	inLog, err := log.Read(ctx, 0, 1000, 0)
	require.NoError(t, err)
	count := func(evs []events.Event, kind events.Kind, who string) int {
		n := 0
		for _, e := range evs {
			if e.Kind == kind && e.Room == "stage" && (who == "" || (e.Participant != nil && e.Participant.Identity == who)) {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 1, count(inLog, events.ParticipantJoined, "ada"), "ada's join in the log: %v", stories(inLog))
	assert.Equal(t, 1, count(inLog, events.RoomOpened, ""), "the room's opening in the log: %v", stories(inLog))

	// Each replica read the log to its end: its model has ada, its timeline
	// tells her join once.
	head := inLog[len(inLog)-1].Revision
	for name, f := range map[string]*follower{"a": fa, "b": fb} {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			evs := f.all()
			if assert.NotEmpty(c, evs) {
				assert.GreaterOrEqual(c, evs[len(evs)-1].Revision, head)
			}
		}, 10*time.Second, 20*time.Millisecond, "replica %s read the log to revision %d", name, head)
		assert.Equal(t, 1, count(f.all(), events.ParticipantJoined, "ada"), "replica %s: %v", name, stories(f.all()))
	}
	for name, w := range map[string]*events.Watch{"a": a.watch, "b": b.watch} {
		var identities []string
		if stage, ok := w.Snapshot().Rooms["stage"]; assert.True(t, ok, "replica %s has no stage", name) {
			for id := range stage.Participants {
				identities = append(identities, id)
			}
		}
		assert.Equal(t, []string{"ada"}, identities, "replica %s's model", name)
	}
}
