package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// Ada plays on stage and the operator mutes her: the request scripts/walk
// follows through the code. STREAMKIT_WALK_MUTES repeats the mute (default
// once), so that two coverage profiles, of one mute and of two, tell which
// functions one mute runs; nothing else talks to the dashboard or runs our
// code a varying number of times meanwhile.
func TestAnOperatorMutesAda(t *testing.T) {
	testenv.RequireNetNS(t)
	s := newStage(t, nil)
	code, body := s.call(t, "POST", "/api/rooms", map[string]any{"name": "stage"})
	require.Equal(t, 201, code, "%s", body)
	code, body = s.call(t, "POST", "/api/tokens", map[string]any{"role": "performer", "room": "stage", "identity": "ada"})
	require.Equal(t, 201, code, "%s", body)
	ada := s.env.Join(t, decodeAs[tokenResponse](t, body).Token, nil)
	pub, err := testenv.PublishTone(t, ada, testenv.Tone(t, 440, 30*time.Second))
	require.NoError(t, err)
	// Her track is awaited from LiveKit by the SDK's own client: polling the
	// dashboard (or our library) would run a varying number of our
	// functions, and the walk would count them.
	lk := lksdk.NewRoomServiceClient(s.env.URL, s.env.APIKey, s.env.APISecret)
	require.True(t, poll(t, wait, "her track never showed", func() (bool, string) {
		res, err := lk.ListParticipants(t.Context(), &livekit.ListParticipantsRequest{Room: "stage"})
		return err == nil && len(res.Participants) == 1 && len(res.Participants[0].Tracks) == 1 &&
			res.Participants[0].Tracks[0].Sid == pub.SID(), fmt.Sprint(res, err)
	}))
	tap := tapLiveKit(t)
	mutes := 1
	if v := os.Getenv("STREAMKIT_WALK_MUTES"); v != "" {
		mutes, err = strconv.Atoi(v)
		require.NoError(t, err, "STREAMKIT_WALK_MUTES")
	}
	for range mutes {
		code, body := s.call(t, "POST", "/api/rooms/stage/participants", map[string]any{"action": "mute", "identity": "ada"})
		require.Equal(t, 200, code, "%s", body)
		res := decodeAs[participantActionResult](t, body)
		require.Len(t, res.Tracks, 1)
		assert.True(t, res.Tracks[0].Muted, "her track is muted")
	}
	// The path: our functions on the stack when a mute's request leaves for
	// LiveKit, from the dashboard's server down to the SDK's HTTP client.
	paths := tap.paths()
	require.Len(t, paths, 2*mutes, "a mute asks LiveKit twice: the participant, then the mute")
	for _, p := range paths {
		files := map[string]bool{}
		for _, f := range p {
			files[f.File] = true
		}
		t.Logf("the path to LiveKit: %d functions in %d files", len(p), len(files))
		for _, f := range p {
			t.Logf("  %s  %s", f.File, strings.TrimPrefix(f.Function, "github.com/spacemusic/streamkit/"))
		}
		assert.LessOrEqual(t, len(p), 12, "functions on a mute's path to LiveKit")
		assert.LessOrEqual(t, len(files), 8, "files on a mute's path to LiveKit")
	}
}

// liveKitTap records, for each request to LiveKit, the project's functions on
// its stack (outermost first).
type liveKitTap struct {
	mu   sync.Mutex
	seen [][]runtime.Frame
}

// repoRoot is where the frames' files are named from: the tests run in
// examples/dashboard.
var repoRoot, _ = filepath.Abs("../..")

// tapped is the tap the stages' LiveKit clients report to, when a test set one.
var tapped atomic.Pointer[liveKitTap]

// tapLiveKit makes every stage's LiveKit requests report to a new tap for the
// test (stage_test.go gives each stage a tappedTransport).
func tapLiveKit(t *testing.T) *liveKitTap {
	tap := &liveKitTap{}
	tapped.Store(tap)
	t.Cleanup(func() { tapped.Store(nil) })
	return tap
}

// tappedTransport is the facade's pooled transport, reporting to the tap.
type tappedTransport struct{ next http.RoundTripper }

func newTappedClient() *http.Client {
	return &http.Client{Transport: tappedTransport{&http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second}}}
}

func (tt tappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tap := tapped.Load(); tap != nil && strings.HasPrefix(r.URL.Path, "/twirp/") {
		tap.record()
	}
	return tt.next.RoundTrip(r)
}

func (l *liveKitTap) record() {
	pcs := make([]uintptr, 128)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	var ours []runtime.Frame
	for {
		f, more := frames.Next()
		// The project's code, not the tests' harness (the contract check
		// wraps every handler of the test server).
		if strings.HasPrefix(f.Function, "github.com/spacemusic/streamkit/") && !strings.HasSuffix(f.File, "_test.go") {
			if rel, err := filepath.Rel(repoRoot, f.File); err == nil {
				f.File = rel
			}
			ours = append([]runtime.Frame{f}, ours...)
		}
		if !more {
			break
		}
	}
	l.mu.Lock()
	l.seen = append(l.seen, ours)
	l.mu.Unlock()
}

func (l *liveKitTap) paths() [][]runtime.Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}
