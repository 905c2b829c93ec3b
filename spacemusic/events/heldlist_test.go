package events_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// heldLister is LiveKit's real lister, except that once armed, the next
// listing of room's participants is taken and then held until released: a
// resync that is slow to list, with LiveKit moving on meanwhile.
type heldLister struct {
	events.Lister
	room    string
	armed   atomic.Bool
	listed  chan struct{} // closed once the held listing was taken
	release chan struct{}
}

func (h *heldLister) ListParticipants(ctx context.Context, room string) ([]*livekit.ParticipantInfo, error) {
	ps, err := h.Lister.ListParticipants(ctx, room)
	if room == h.room && h.armed.CompareAndSwap(true, false) {
		close(h.listed)
		select {
		case <-h.release:
		case <-ctx.Done():
		}
	}
	return ps, err
}

// A resync lists the stage while it is empty, and is slow to finish; meanwhile
// ada joins and LiveKit's webhook puts her in the model. The resync's listing,
// stale by then, does not take her out: a webhook applied while a resync
// listed knows better than the listing.
func TestAResyncLeavesAloneWhatAWebhookChangedWhileItListed(t *testing.T) {
	testenv.RequireNetNS(t)
	var recv atomic.Pointer[events.Receiver]
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := recv.Load()
		if rc == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		rc.ServeHTTP(w, r)
	}))
	t.Cleanup(hook.Close)
	env := testenv.LiveKit(t, testenv.WithWebhook(hook.URL+"/webhook"))
	lk, err := events.NewLister(events.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret, Timeout: 5 * time.Second})
	require.NoError(t, err)
	held := &heldLister{Lister: lk, room: "stage", listed: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	releaseHeld := func() { once.Do(func() { close(held.release) }) }
	t.Cleanup(releaseHeld) // a failed test does not leave the resync hanging
	// Resync hourly: the only resync after the first list is the one this test starts.
	w := events.NewWatch(held, events.Options{Resync: time.Hour})
	recv.Store(events.NewReceiver(env.APIKey, env.APISecret, events.WatchSink(w)))
	ctx := testenv.Within(t, 2*time.Minute)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); _ = w.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-ran })
	f := follow(t, w)

	rs, err := rooms.New(rooms.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	_, err = rs.Create(ctx, "stage", rooms.CreateOptions{})
	require.NoError(t, err)
	f.waitFor(t, events.RoomOpened, "stage", "")

	// The resync lists the empty stage, then is held.
	held.armed.Store(true)
	resynced := make(chan error, 1)
	go func() { _, err := w.Resync(ctx); resynced <- err }()
	select {
	case <-held.listed:
	case <-ctx.Done():
		require.FailNow(t, "the resync never listed the stage")
	}

	// Meanwhile ada joins; her webhook reaches the model.
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	tok, err := issuer.Listener("stage", "ada")
	require.NoError(t, err)
	env.Join(t, tok.JWT, nil)
	joined := f.waitFor(t, events.ParticipantJoined, "stage", "ada")
	assert.False(t, joined.Resync, "the webhook told it")

	// The stale listing (no ada) is released and the resync ends.
	releaseHeld()
	select {
	case err := <-resynced:
		require.NoError(t, err)
	case <-ctx.Done():
		require.FailNow(t, "the resync never ended")
	}
	// The Watch's own timeline, read after the resync returned: all it emitted.
	story, err := w.Since(ctx, 0)
	require.NoError(t, err)
	stage, ok := w.Snapshot().Rooms["stage"]
	require.True(t, ok, "the stage is open: %s", describe(story))
	assert.Contains(t, stage.Participants, "ada", "the resync took out ada, whom the webhook had put in: %s", describe(story))
	for _, e := range story {
		assert.NotEqual(t, events.ParticipantLeft, e.Kind, "a left from the stale listing: %s", describe(story))
	}
	// A resync of the watch's own may find the new stage before its webhook
	// lands (a room_opened correction, seen once in CI): not what this story is
	// about. Nothing about ada is corrected.
	fixed := w.Corrections()
	delete(fixed, events.RoomOpened)
	assert.Empty(t, fixed, "nothing to correct: %s", describe(story))
}
