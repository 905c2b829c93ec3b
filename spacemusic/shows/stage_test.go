package shows_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/shows"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// stage is a real LiveKit whose webhooks feed a Watch, and the services a show
// drives. With media, Ingress, Egress and MinIO run beside it.
type stage struct {
	env     *testenv.Env
	ing     *testenv.IngressEnv
	watch   *events.Watch
	rooms   *rooms.Service
	ingress *ingress.Service
	egress  *egress.Service
	store   *recordings.Store
	issuer  *tokens.Issuer
	seen    *seen
	spool   string // the dashboard machine's disk: a restarted dashboard finds its spool here
	bucket  egress.Storage
}

// seen keeps the Watch's events with when this process saw each.
type seen struct {
	mu  sync.Mutex
	evs []events.Event
	at  []time.Time
}

// What a stage runs beside LiveKit and Redis.
type media int

const (
	noMedia    media = iota
	withEgress       // Egress and MinIO
	withOBS          // Ingress too
)

// newStage starts the stack; resync, when given, is how often the Watch lists
// LiveKit (an hour otherwise: only webhooks move the model).
func newStage(t *testing.T, m media, resync ...time.Duration) *stage {
	t.Helper()
	every := time.Hour
	if len(resync) > 0 {
		every = resync[0]
	}
	testenv.RequireNetNS(t)
	s := &stage{seen: &seen{}, spool: t.TempDir()}
	var recv http.Handler
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := recv
		mu.Unlock()
		if h == nil {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hook.Close)
	withHook := testenv.WithWebhook(hook.URL + "/webhook")
	st := egress.Storage{Endpoint: "http://127.0.0.1:1", Bucket: "recordings", AccessKey: "unused", SecretKey: "unused-secret"}
	switch m {
	case withOBS:
		s.env, s.ing = testenv.Ingress(t, withHook)
	case withEgress:
		s.env = testenv.LiveKit(t, testenv.WithRedis(), testenv.WithBackend("process"), withHook)
	default:
		s.env = testenv.LiveKit(t, testenv.WithRedis(), withHook)
	}
	if m != noMedia {
		testenv.Egress(t, s.env)
		mi := testenv.MinIO(t)
		st = egress.Storage{Endpoint: mi.Endpoint, Bucket: "recordings", AccessKey: mi.AccessKey, SecretKey: mi.SecretKey}
	}
	s.bucket = st
	lkcfg := rooms.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret}
	var err error
	s.rooms, err = rooms.New(lkcfg)
	require.NoError(t, err)
	s.ingress, err = ingress.New(lkcfg)
	require.NoError(t, err)
	s.egress, err = egress.New(lkcfg, st)
	require.NoError(t, err)
	s.issuer, err = tokens.NewIssuer(s.env.APIKey, s.env.APISecret)
	require.NoError(t, err)
	if m != noMedia {
		s.store, err = recordings.New(recordings.Config{Config: st})
		require.NoError(t, err)
		require.NoError(t, s.store.EnsureBucket(testenv.Within(t, 10*time.Second)))
	}
	lister, err := events.NewLister(events.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret})
	require.NoError(t, err)
	s.watch = events.NewWatch(lister, events.Options{Resync: every, Own: s.issuer.Own}) // Own: impostors are reported
	mu.Lock()
	recv = events.NewReceiver(s.env.APIKey, s.env.APISecret, events.WatchSink(s.watch))
	mu.Unlock()
	s.background(t, s.watch.Run)
	require.Eventually(t, func() bool { return s.watch.Snapshot().Synced }, 10*time.Second, 10*time.Millisecond, "first list")
	s.background(t, func(ctx context.Context) error {
		var after uint64
		for {
			evs, err := s.watch.Wait(ctx, after)
			if err != nil {
				return err
			}
			now := time.Now()
			s.seen.mu.Lock()
			for _, e := range evs {
				s.seen.evs, s.seen.at = append(s.seen.evs, e), append(s.seen.at, now)
				after = e.Revision
			}
			s.seen.mu.Unlock()
		}
	})
	return s
}

// service is a dashboard's shows.Service; a new one is a restarted dashboard.
// Options change its Config (e.g. a loudness Meter).
func (s *stage) service(t *testing.T, options ...func(*shows.Config)) *shows.Service {
	t.Helper()
	cfg := shows.Config{Rooms: s.rooms, Ingress: s.ingress, Tokens: s.issuer, Egress: s.egress, Secret: s.env.APISecret,
		Recordings: s.store, Watch: s.watch, URL: s.env.WSURL}
	for _, o := range options {
		o(&cfg)
	}
	if s.store != nil {
		rec, err := capture.New(capture.Config{URL: s.env.WSURL, Tokens: s.issuer, Store: s.store, Dir: s.spool})
		require.NoError(t, err)
		t.Cleanup(rec.Close)
		cfg.Capture = rec
	}
	svc, err := shows.New(cfg)
	require.NoError(t, err)
	return svc
}

// serviceUploadingVia is a dashboard's shows.Service whose recorder reaches
// the bucket through rt.
func (s *stage) serviceUploadingVia(t *testing.T, rt http.RoundTripper) *shows.Service {
	t.Helper()
	store, err := recordings.New(recordings.Config{Config: s.bucket, HTTPClient: &http.Client{Transport: rt}})
	require.NoError(t, err)
	rec, err := capture.New(capture.Config{URL: s.env.WSURL, Tokens: s.issuer, Store: store, Dir: s.spool})
	require.NoError(t, err)
	t.Cleanup(rec.Close)
	svc, err := shows.New(shows.Config{Rooms: s.rooms, Ingress: s.ingress, Tokens: s.issuer, Egress: s.egress, Secret: s.env.APISecret,
		Recordings: s.store, Watch: s.watch, URL: s.env.WSURL, Capture: rec})
	require.NoError(t, err)
	return svc
}

// background runs f until the test ends.
func (s *stage) background(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// when is when this process saw the first event of kind about room by who.
func (s *stage) when(t *testing.T, kind events.Kind, room, who string, limit time.Duration) (events.Event, time.Time) {
	t.Helper()
	return s.nth(t, 1, kind, room, who, limit)
}

// count is what LiveKit has for the room: rooms, ingresses, egresses.
func (s *stage) count(t *testing.T, ctx context.Context, room string) (int, int, int) {
	t.Helper()
	rs, err := s.rooms.List(ctx, room)
	require.NoError(t, err)
	ins, err := s.ingress.List(ctx, ingress.ListOptions{Room: room})
	require.NoError(t, err)
	egs, err := s.egress.List(ctx, egress.ListOptions{Room: room})
	require.NoError(t, err)
	return len(rs), len(ins), len(egs)
}

// nth is the nth (from 1) event of kind about room (by who, when set), and when
// this process saw it.
func (s *stage) nth(t *testing.T, n int, kind events.Kind, room, who string, limit time.Duration) (events.Event, time.Time) {
	t.Helper()
	var e events.Event
	var at time.Time
	require.Eventually(t, func() bool {
		s.seen.mu.Lock()
		defer s.seen.mu.Unlock()
		k := 0
		for i, x := range s.seen.evs {
			if x.Kind == kind && x.Room == room && (who == "" || (x.Participant != nil && x.Participant.Identity == who)) {
				if k++; k == n {
					e, at = x, s.seen.at[i]
					return true
				}
			}
		}
		return false
	}, limit, 10*time.Millisecond, "no %s #%d in %s by %q", kind, n, room, who)
	return e, at
}

// probedSeconds is how long the audio at url plays, by ffprobe.
func probedSeconds(t *testing.T, url string) float64 {
	t.Helper()
	require.NotEmpty(t, url)
	out, err := exec.Command(testenv.Binary(t, "ffprobe", "ffmpeg"), "-v", "error", "-select_streams", "a:0",
		"-show_entries", "format=duration", "-of", "csv=p=0", url).CombinedOutput()
	require.NoError(t, err, "ffprobe: %s", out)
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	require.NoError(t, err, "ffprobe: %q", out)
	return d
}

// download is the object at url in a local file.
func download(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	name := filepath.Join(t.TempDir(), path.Base(resp.Request.URL.Path))
	out, err := os.Create(name)
	require.NoError(t, err)
	_, err = io.Copy(out, resp.Body)
	require.NoError(t, out.Close())
	require.NoError(t, err, "the whole file downloads")
	return name
}
