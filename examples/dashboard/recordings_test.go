package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
)

// countingStore is the real archive, counting how often the bucket is listed
// and how many listings ran at once; slow makes each listing take longer.
type countingStore struct {
	*recordings.Store
	slow             atomic.Int64 // nanoseconds
	lists            atomic.Int32
	running, maxRuns atomic.Int32

	mu    sync.Mutex
	calls [][2]time.Time // each GET /api/recordings: when it arrived and was answered
}

// tap records the archive list's requests.
func (c *countingStore) tap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/recordings" {
			next.ServeHTTP(w, r)
			return
		}
		began := time.Now()
		next.ServeHTTP(w, r)
		c.mu.Lock()
		c.calls = append(c.calls, [2]time.Time{began, time.Now()})
		c.mu.Unlock()
	})
}

func (c *countingStore) List(ctx context.Context, room string) ([]recordings.Recording, error) {
	c.lists.Add(1)
	n := c.running.Add(1)
	defer c.running.Add(-1)
	for m := c.maxRuns.Load(); n > m && !c.maxRuns.CompareAndSwap(m, n); m = c.maxRuns.Load() {
	}
	select {
	case <-time.After(time.Duration(c.slow.Load())):
	case <-ctx.Done():
	}
	return c.Store.List(ctx, room)
}

// bucketStage is a real MinIO holding the show's recordings, and LiveKit beside it
// (no Egress: these recordings are put in the bucket directly).
type bucketStage struct {
	env *testenv.Env
	m   *testenv.MinIOEnv
}

func newArchive(t testing.TB) *bucketStage {
	t.Helper()
	return &bucketStage{env: testenv.LiveKit(t, testenv.WithRedis()), m: testenv.MinIO(t)}
}

// dashboard is a dashboard on the archive whose recordings are counted.
func (a *bucketStage) dashboard(t testing.TB, tweak func(*config.Settings), storage func(*egress.Storage)) (*stage, *countingStore) {
	t.Helper()
	st := egress.Storage{Endpoint: a.m.Endpoint, Bucket: "recordings", AccessKey: a.m.AccessKey, SecretKey: a.m.SecretKey}
	if storage != nil {
		storage(&st)
	}
	s := newStageWith(t, a.env, st, tweak)
	require.NoError(t, s.sm.Recordings.EnsureBucket(t.Context()))
	counted := &countingStore{Store: s.sm.Recordings}
	s.readArchiveThrough(t, tweak, counted, counted.tap)
	return s, counted
}

// readArchiveThrough serves s anew, reading the archive through store, its
// handler wrapped by wrap (nil: none).
func (s *stage) readArchiveThrough(t testing.TB, tweak func(*config.Settings), store archive.Recordings, wrap func(http.Handler) http.Handler) {
	t.Helper()
	set := defaultSettings()
	if tweak != nil {
		tweak(&set)
	}
	s.srv.Close()
	var h http.Handler
	s.api, h = newContract(t, NewServer(Deps{Log: slog.New(slog.NewJSONHandler(s.logs, nil)), Settings: set, WSURL: publicWS,
		Health: s.sm, Rooms: s.sm.Rooms, Tokens: s.sm.Tokens, Ingress: s.sm.Ingress, Egress: s.sm.Egress, Recordings: store}))
	if wrap != nil {
		h = wrap(h)
	}
	s.srv = httptest.NewUnstartedServer(h)
	s.srv.Config.WriteTimeout = set.WriteTimeout // as run does
	s.srv.Start()
	t.Cleanup(s.srv.Close)
}

// put stores an object as egress would.
func (a *bucketStage) put(t testing.TB, key string, data []byte) {
	t.Helper()
	putObject(t, a.m, "recordings", key, data)
}

func putObject(t testing.TB, m *testenv.MinIOEnv, bucket, key string, data []byte) {
	t.Helper()
	u, err := url.Parse(m.Endpoint)
	require.NoError(t, err)
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""), Region: "us-east-1"})
	require.NoError(t, err)
	_, err = mc.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	require.NoError(t, err)
}

func noise(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// fetchAs sends a GET with the test API key and more headers, without following
// redirects, and reads the whole answer.
func fetchAs(t testing.TB, client *http.Client, base, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", testAPIKey)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// A week of shows is in the archive: the page lists it newest first, a page at
// a time, each HLS run as one recording, and reloading the page within seconds
// does not list the bucket again.
func TestArchiveIsPagedNewestFirstAndCached(t *testing.T) {
	a := newArchive(t)
	s, counted := a.dashboard(t, func(s *config.Settings) { s.CORSOrigins = []string{"https://ops.example.test"} }, nil)
	// MinIO dates objects to the second: one second between recordings.
	a.put(t, "jam/2026-11-25T200000Z-EG_a.ogg", noise(t, 1000))
	time.Sleep(1100 * time.Millisecond)
	run := "jam/hls/2026-11-25T200500Z-EG_b/"
	for _, k := range []string{"segment_0.ts", "segment_1.ts", "segment_2.ts", "playlist.m3u8"} {
		a.put(t, run+k, noise(t, 100))
	}
	time.Sleep(1100 * time.Millisecond)
	a.put(t, "jam/2026-11-25T201000Z-EG_c.ogg", noise(t, 2000))

	resp, body := fetchAs(t, http.DefaultClient, s.srv.URL, "/api/recordings?room=jam&limit=2", "Origin", "https://ops.example.test")
	require.Equal(t, 200, resp.StatusCode, "%s", body)
	assert.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "X-Next-Cursor, Link", "a page on another origin reads the next page")
	page := decodeAs[[]archive.Recording](t, body)
	require.Len(t, page, 2, "%s", body)
	assert.Equal(t, "jam/2026-11-25T201000Z-EG_c.ogg", page[0].Key, "newest first")
	assert.Equal(t, recordings.KindFile, page[0].Kind)
	assert.True(t, strings.HasPrefix(page[0].DownloadURL, a.m.Endpoint+"/recordings/"), page[0].DownloadURL)
	assert.Equal(t, run+"playlist.m3u8", page[1].Key, "the HLS run is one recording")
	assert.Equal(t, recordings.KindHLS, page[1].Kind)
	assert.Equal(t, 3, page[1].Segments)
	assert.EqualValues(t, 400, page[1].Size)
	assert.Equal(t, "/api/recordings/"+run+"playlist.m3u8", page[1].DownloadURL, "its segments are served beside the playlist")
	assert.True(t, page[1].LinkExpires.IsZero())
	cursor := resp.Header.Get("X-Next-Cursor")
	require.NotEmpty(t, cursor)
	link := resp.Header.Get("Link")
	require.True(t, strings.HasPrefix(link, "</api/recordings?") && strings.HasSuffix(link, `>; rel="next"`), link)
	next, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
	require.NoError(t, err)
	assert.Equal(t, url.Values{"room": {"jam"}, "limit": {"2"}, "cursor": {cursor}}, next.Query())
	assert.EqualValues(t, 1, counted.lists.Load())

	// Reloading within the cache's lifetime lists nothing; the answer is the same.
	again, body2 := fetchAs(t, http.DefaultClient, s.srv.URL, "/api/recordings?room=jam&limit=2")
	require.Equal(t, 200, again.StatusCode)
	assert.Equal(t, cursor, again.Header.Get("X-Next-Cursor"))
	// The same recordings; only the links are signed anew (their time and
	// signature differ from request to request, so the bodies' bytes may too).
	same := func(p []archive.Recording) []recordings.Recording {
		out := make([]recordings.Recording, len(p))
		for i, r := range p {
			out[i] = r.Recording
		}
		return out
	}
	assert.Equal(t, same(page), same(decodeAs[[]archive.Recording](t, body2)))
	assert.EqualValues(t, 1, counted.lists.Load(), "a reload listed the bucket again")

	resp, body = fetchAs(t, http.DefaultClient, s.srv.URL, next.String())
	require.Equal(t, 200, resp.StatusCode, "%s", body)
	last := decodeAs[[]archive.Recording](t, body)
	require.Len(t, last, 1)
	assert.Equal(t, "jam/2026-11-25T200000Z-EG_a.ogg", last[0].Key)
	assert.Empty(t, resp.Header.Get("X-Next-Cursor"), "the last page")
	assert.Empty(t, resp.Header.Get("Link"))
	assert.EqualValues(t, 1, counted.lists.Load(), "the next page is cut from the same listing")

	// The HLS link plays: the playlist through the dashboard.
	resp, _ = fetchAs(t, http.DefaultClient, s.srv.URL, page[1].DownloadURL)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "application/vnd.apple.mpegurl", resp.Header.Get("Content-Type"))

	for _, q := range []string{"limit=0", "limit=501", "limit=ten", "limit=-1", "cursor=garbage", "cursor=" + url.QueryEscape(cursor+"!"),
		"cursor=MTIzfC4uL2V0Yy9wYXNzd2Q" /* 123|../etc/passwd */} {
		code, body := s.call(t, "GET", "/api/recordings?room=jam&"+q, nil)
		assert.Equal(t, 400, code, "%s: %s", q, body)
		assert.Equal(t, "invalid_argument", errorCode(t, body), q)
	}
}

// A recording downloads through the dashboard, whole or by ranges (a browser
// seeking in it), and nothing outside a room's folder can be asked for.
func TestRecordingDownloadsThroughTheDashboard(t *testing.T) {
	a := newArchive(t)
	s, _ := a.dashboard(t, nil, nil)
	show := noise(t, 300_000)
	a.put(t, "jam/2026-11-25T201500Z-EG_abc.ogg", show)
	a.put(t, "other/private.ogg", noise(t, 10))

	for _, prefix := range []string{"/api", "/api/stream"} {
		resp, body := fetchAs(t, http.DefaultClient, s.srv.URL, prefix+"/recordings/jam/2026-11-25T201500Z-EG_abc.ogg")
		require.Equal(t, 200, resp.StatusCode, "%s", body)
		assert.Equal(t, sha256.Sum256(show), sha256.Sum256(body), "the whole recording")
		assert.Equal(t, "audio/ogg", resp.Header.Get("Content-Type"))
		assert.Equal(t, `attachment; filename=2026-11-25T201500Z-EG_abc.ogg`, resp.Header.Get("Content-Disposition"))
		assert.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	}

	resp, body := fetchAs(t, http.DefaultClient, s.srv.URL, "/api/recordings/jam/2026-11-25T201500Z-EG_abc.ogg", "Range", "bytes=100-199")
	require.Equal(t, 206, resp.StatusCode, "%s", body)
	assert.Equal(t, show[100:200], body, "exactly the range")
	assert.Equal(t, "bytes 100-199/300000", resp.Header.Get("Content-Range"))
	resp, _ = fetchAs(t, http.DefaultClient, s.srv.URL, "/api/recordings/jam/2026-11-25T201500Z-EG_abc.ogg", "Range", "bytes=400000-500000")
	assert.Equal(t, 416, resp.StatusCode, "a range outside the recording")

	code, body := s.call(t, "GET", "/api/recordings/jam/nothing.ogg", nil)
	assert.Equal(t, 404, code, "%s", body)
	assert.Equal(t, "not_found", errorCode(t, body))
	code, body = s.call(t, "GET", "/api/recordings/jam/2026-11-25T201500Z-EG_abc.ogg", nil, noAuth...)
	assert.Equal(t, 401, code, "%s", body)
	assert.Equal(t, "unauthenticated", errorCode(t, body))

	// Escaped dots and slashes reach the handler and are refused there.
	for _, p := range []string{"jam%2F..%2Fother%2Fprivate.ogg", "..%2Fother%2Fprivate.ogg", "jam/%2E%2E%2Fother/private.ogg", "%2Fother/private.ogg",
		"private.ogg", "jam%5C..%5Cother%5Cprivate.ogg", "jam%2F%2Fx.ogg", "", "a%20b/x.ogg"} {
		code, body := s.call(t, "GET", "/api/recordings/"+p, nil)
		assert.Equal(t, 400, code, "%s: %s", p, body)
		assert.Equal(t, "invalid_argument", errorCode(t, body), p)
	}
	// Plain dots never get past the router as they are: it redirects to the
	// cleaned path, which is a key of its own, asked for openly.
	resp, body = fetchAs(t, http.DefaultClient, s.srv.URL, "/api/recordings/jam/../other/private.ogg")
	assert.NotEqual(t, 200, resp.StatusCode, "%s", body)
}

// A long download through the dashboard outlives the server's write timeout
// as long as it moves: a show is larger than 30 s of writing to a slow client.
func TestSlowDownloadOutlivesTheWriteTimeout(t *testing.T) {
	a := newArchive(t)
	s, _ := a.dashboard(t, func(s *config.Settings) { s.WriteTimeout = time.Second }, nil)
	show := noise(t, 24<<20) // more than loopback's socket buffers hold
	a.put(t, "jam/long-show.ogg", show)

	req, err := http.NewRequest("GET", s.srv.URL+"/api/recordings/jam/long-show.ogg", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	h := sha256.New()
	began := time.Now()
	buf := make([]byte, 256<<10)
	for i := 0; i < 10_000; i++ { // a listener on a slow line: about 3 s in all
		n, err := io.ReadFull(resp.Body, buf)
		h.Write(buf[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		require.NoError(t, err, "the download broke off after %s", time.Since(began))
		time.Sleep(30 * time.Millisecond)
	}
	t.Logf("downloaded in %s with a 1 s write timeout", time.Since(began))
	assert.Equal(t, sha256.Sum256(show), [32]byte(h.Sum(nil)), "the whole recording arrived")
}

// A dashboard served over https hands out no plain-http links: the browser
// would refuse them (mixed content) or send them in clear. It links to its own
// download path instead, unless the store's public endpoint is https.
func TestHTTPSPagesGetNoPlainHTTPLinks(t *testing.T) {
	a := newArchive(t)
	behindProxy := func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
	}
	proxied, _ := a.dashboard(t, behindProxy, nil)
	direct, _ := a.dashboard(t, nil, nil)
	show := noise(t, 5000)
	a.put(t, "jam/show.ogg", show)

	list := func(s *stage, client *http.Client, base, path string, headers ...string) archive.Recording {
		t.Helper()
		resp, body := fetchAs(t, client, base, path, headers...)
		require.Equal(t, 200, resp.StatusCode, "%s", body)
		recs := decodeAs[[]archive.Recording](t, body)
		require.Len(t, recs, 1, "%s", body)
		return recs[0]
	}
	https := []string{"X-Forwarded-Proto", "https", access.ProxySecretHeader, testProxySecret}

	r := list(proxied, http.DefaultClient, proxied.srv.URL, "/api/recordings?room=jam", https...)
	assert.Equal(t, "/api/recordings/jam/show.ogg", r.DownloadURL, "https behind the trusted proxy")
	assert.True(t, r.LinkExpires.IsZero())
	resp, body := fetchAs(t, http.DefaultClient, proxied.srv.URL, r.DownloadURL)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, sha256.Sum256(show), sha256.Sum256(body))
	r = list(proxied, http.DefaultClient, proxied.srv.URL, "/api/stream/recordings?room=jam", https...)
	assert.Equal(t, "/api/stream/recordings/jam/show.ogg", r.DownloadURL, "the gateway's paths stay the gateway's")
	r = list(proxied, http.DefaultClient, proxied.srv.URL, "/api/recordings?room=jam")
	assert.True(t, strings.HasPrefix(r.DownloadURL, a.m.Endpoint+"/"), "plain http page: the presigned link, %s", r.DownloadURL)
	r = list(direct, http.DefaultClient, direct.srv.URL, "/api/recordings?room=jam", https...)
	assert.True(t, strings.HasPrefix(r.DownloadURL, a.m.Endpoint+"/"), "X-Forwarded-Proto from an untrusted address is ignored: %s", r.DownloadURL)
	// Any local process has the trusted address (host networking): without
	// the proxy secret its X-Forwarded-Proto is not believed, as its
	// forward-auth headers are not.
	for _, secret := range []string{"", "a-wrong-secret-of-at-least-32-characters"} {
		r = list(proxied, http.DefaultClient, proxied.srv.URL, "/api/recordings?room=jam", "X-Forwarded-Proto", "https", access.ProxySecretHeader, secret)
		assert.True(t, strings.HasPrefix(r.DownloadURL, a.m.Endpoint+"/"), "X-Forwarded-Proto without the proxy secret (%q) is ignored: %s", secret, r.DownloadURL)
	}

	// TLS at the dashboard itself.
	tlsSrv := httptest.NewUnstartedServer(direct.srv.Config.Handler)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	r = list(direct, tlsSrv.Client(), tlsSrv.URL, "/api/recordings?room=jam")
	assert.Equal(t, "/api/recordings/jam/show.ogg", r.DownloadURL, "https at the dashboard")

	// An https public endpoint for the store: its presigned links are fine.
	public, _ := a.dashboard(t, behindProxy, func(st *egress.Storage) { st.PublicEndpoint = "https://recordings.example.test" })
	r = list(public, http.DefaultClient, public.srv.URL, "/api/recordings?room=jam", https...)
	assert.True(t, strings.HasPrefix(r.DownloadURL, "https://recordings.example.test/recordings/jam/show.ogg?"), r.DownloadURL)
	assert.False(t, r.LinkExpires.IsZero())
}

// Download paths and paging parameters, on a real MinIO: any value gets a 2xx
// or a clear 4xx in the one error shape.
func FuzzRecordingPathsAndPages(f *testing.F) {
	for _, s := range []string{"jam/show.ogg", "..", "../x", "jam/../x", "%2e%2e", "/etc/passwd", "jam//x", "a\\b", "\x00", "50", "0", "-1",
		"MTIzfGphbS9zaG93Lm9nZw", "MTIzfC4uL2V0Yy9wYXNzd2Q", strings.Repeat("x", 1100)} {
		f.Add(s)
	}
	a := newArchive(f)
	s, _ := a.dashboard(f, nil, nil)
	a.put(f, "jam/show.ogg", noise(f, 1000))
	f.Fuzz(func(t *testing.T, v string) {
		q := url.QueryEscape(v)
		for _, path := range []string{"/api/recordings/" + url.PathEscape(v), "/api/recordings/jam/" + url.PathEscape(v),
			"/api/recordings?limit=" + q, "/api/recordings?cursor=" + q, "/api/stream/recordings?room=jam&cursor=" + q} {
			code, out := s.call(t, "GET", path, nil)
			assert.Less(t, code, 500, "%s → %d %s", path, code, out)
			if code >= 400 {
				assertErrorShape(t, code, out)
			}
		}
	})
}

// The page refreshes itself, but never starts a refresh while the last one is
// still waiting: with a slow bucket (listings take 4 s here, longer than the
// page's 3 s rhythm) each request for the archive comes a pause after the last
// answer, not queued up behind it (Chromium holds a second identical GET until
// the first is answered, so a timer-driven page piles requests up there).
func TestThePageNeverStacksPolls(t *testing.T) {
	testenv.RequireNetNS(t)
	a := newArchive(t)
	s, counted := a.dashboard(t, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup = adminGroup
		s.LiveKitTimeout = 10 * time.Second
	}, nil)
	counted.slow.Store(int64(4 * time.Second))
	a.put(t, "jam/show.ogg", noise(t, 100))

	b := openDashboard(t, s.srv.URL+"/", "mia")
	b.until("the recording", `!!document.querySelector('#recordings tr[data-key="jam/show.ogg"]')`)
	time.Sleep(12 * time.Second) // a few rounds of the page's refresh (not a timing assertion)
	assert.GreaterOrEqual(t, counted.lists.Load(), int32(2), "the page kept refreshing")
	assert.EqualValues(t, 1, counted.maxRuns.Load(), "a refresh started while the last was still listing")
	counted.mu.Lock()
	defer counted.mu.Unlock()
	for i := 1; i < len(counted.calls); i++ {
		pause := counted.calls[i][0].Sub(counted.calls[i-1][1])
		assert.Greater(t, pause, time.Second, "request %d for the archive was sent while request %d was still waiting", i+1, i)
	}
}

// A hung bucket: the archive's routes give up at the store's deadline
// (DASHBOARD_LIVEKIT_TIMEOUT) with 503 storage_unavailable, instead of holding
// the request until the server's write timeout.
func TestHungBucketAnswers503(t *testing.T) {
	hung := egress.Storage{Endpoint: "http://" + testenv.HungServer(t), Bucket: "recordings", AccessKey: "ak", SecretKey: "hung-bucket-secret"}
	s := newStageWith(t, testenv.LiveKit(t), hung, func(s *config.Settings) { s.LiveKitTimeout = 300 * time.Millisecond })
	client := &http.Client{Timeout: 10 * time.Second} // a bound for the test, far above the store's deadline
	for _, path := range []string{"/api/recordings?room=jam", "/api/recordings/jam/show.ogg"} {
		req, err := http.NewRequest("GET", s.srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", testAPIKey)
		resp, err := client.Do(req)
		require.NoError(t, err, "%s held the request past the store's deadline", path)
		body := mustRead(t, resp)
		assert.Equal(t, 503, resp.StatusCode, "%s: %s", path, body)
		assert.Equal(t, "storage_unavailable", errorCode(t, body), path)
	}
}

// A recording's length comes from its file, not from the egress that made it:
// a file no egress LiveKit knows of (one it has forgotten, or our recorder's)
// is listed with how long it plays.
func TestADurationNeedsNoEgress(t *testing.T) {
	a := newArchive(t)
	s, _ := a.dashboard(t, nil, nil)
	tone, err := os.ReadFile(testenv.Tone(t, 440, 1500*time.Millisecond))
	require.NoError(t, err)
	a.put(t, "jam/2026-11-27T210000Z-aaaaaaaaaaaaa.ogg", tone)
	status, body := s.as(t, testViewerKey, "GET", "/api/recordings?room=jam", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	list := decodeAs[[]archive.Recording](t, body)
	require.Len(t, list, 1)
	assert.Empty(t, list[0].EgressID, "no egress made it")
	assert.InDelta(t, 1500, list[0].DurationMS, 30, "how long the file plays")
}
