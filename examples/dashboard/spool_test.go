package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// bucketLine is a loopback relay to MinIO that the test cuts and restores:
// the bucket becoming unreachable mid-show, as a network or a MinIO outage
// makes it.
type bucketLine struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newBucketLine(t *testing.T, endpoint string) *bucketLine {
	t.Helper()
	u, err := url.Parse(endpoint)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &bucketLine{ln: ln, target: u.Host}
	t.Cleanup(func() { ln.Close(); b.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			if b.down {
				b.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.DialTimeout("tcp", b.target, 5*time.Second)
			if err != nil {
				b.mu.Unlock()
				c.Close()
				continue
			}
			b.conns = append(b.conns, c, up)
			b.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return b
}

func (b *bucketLine) endpoint() string { return "http://" + b.ln.Addr().String() }

// cut drops every connection and refuses new ones.
func (b *bucketLine) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = true
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
}

func (b *bucketLine) restore() {
	b.mu.Lock()
	b.down = false
	b.mu.Unlock()
}

// A long show meets a bucket that cannot be reached: the recorder's spool
// (DASHBOARD_SPOOL_MAX_BYTES, tiny here) fills. The recorder then stops
// writing new audio, ending the part there, and the show says so: a
// spool_full event in its timeline, dashboard_spool_full in /metrics and a
// problem on GET /api/shows/{name}. The spool never grows past its limit and
// what was spooled is intact: a whole Ogg file that plays as long as the
// recorder says. When the bucket is back the part is uploaded byte for byte,
// and recording goes on in a new part by itself.
func TestAFullSpoolHoldsTheShowBackAndLosesNothing(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	env := testenv.LiveKit(t, testenv.WithRedis(), hook.option())
	m := testenv.MinIO(t)
	bucket := newBucketLine(t, m.Endpoint)
	spool := t.TempDir()
	const limit = 24 << 10
	d := recordingDashboard(t, hook, env, bucket.endpoint(), m, map[string]string{"DASHBOARD_LIVEKIT_TIMEOUT": "3s",
		"DASHBOARD_SPOOL_DIR": spool, "DASHBOARD_SPOOL_MAX_BYTES": fmt.Sprint(limit), "DASHBOARD_SPOOL_MIN_FREE": "0"})

	code, body := d.call(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "long-jam",
		"performers": []map[string]any{{"identity": "ada", "name": "Ada"}}, "record": []string{"audio"}})
	require.Equal(t, 201, code, "%s", body)

	// The bucket goes away; Ada plays on, longer than the spool holds.
	bucket.cut()
	performerPlays(t, env, "long-jam", "ada", testenv.Tone(t, 440, 60*time.Second))

	show := func() showroutes.View {
		code, body := d.call(t, testViewerKey, "GET", "/api/shows/long-jam", nil)
		require.Equal(t, 200, code, "%s", body)
		return decodeAs[showroutes.View](t, body)
	}
	metric := func(series string) float64 {
		code, body := d.call(t, testViewerKey, "GET", "/metrics", nil)
		require.Equal(t, 200, code)
		return metricValue(t, body, series)
	}
	timeline := func() string {
		code, body := d.call(t, testViewerKey, "GET", "/api/rooms/long-jam/timeline", nil)
		require.Equal(t, 200, code, "%s", body)
		return string(body)
	}
	// What the spool holds for the show: its part and the part's sidecar.
	room := filepath.Join(spool, "long-jam")
	spooled := func() (ogg string, total int64) {
		ents, err := os.ReadDir(room)
		if os.IsNotExist(err) {
			return "", 0 // no audio yet
		}
		require.NoError(t, err)
		for _, e := range ents {
			info, err := e.Info()
			require.NoError(t, err)
			total += info.Size()
			if strings.HasSuffix(e.Name(), ".ogg") {
				require.Empty(t, ogg, "one part spooled")
				ogg = filepath.Join(room, e.Name())
			}
		}
		return ogg, total
	}
	var full showroutes.View
	require.True(t, poll(t, 45*time.Second, "the show never said its spool is full", func() (bool, string) {
		if _, total := spooled(); total > limit {
			return true, "" // the check below says it
		}
		full = show()
		return slices.ContainsFunc(full.Problems, func(p string) bool { return strings.Contains(p, "spool is full") }), fmt.Sprintf("%+v", full)
	}))
	part, total := spooled()
	require.LessOrEqual(t, total, int64(limit), "the spool grew past its limit")
	t.Logf("the show says: %q", full.Problems)
	assert.Equal(t, 1.0, metric("dashboard_spool_full"))
	assert.LessOrEqual(t, metric("dashboard_spool_bytes"), float64(limit))
	assert.Contains(t, timeline(), `"kind":"spool_full"`)

	// The spool holds the part as it ended at the limit, and stays within it
	// while Ada plays on.
	require.NotEmpty(t, part)
	kept, err := os.ReadFile(part)
	require.NoError(t, err)
	time.Sleep(2 * time.Second) // Ada plays on
	_, later := spooled()
	assert.LessOrEqual(t, later, int64(limit), "no new audio is spooled past the limit")
	again, err := os.ReadFile(part)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(kept), sha256.Sum256(again), "nothing spooled is cut or rewritten")
	var side struct{ ID string }
	raw, err := os.ReadFile(part + ".json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &side))
	secs := audioSeconds(t, kept)
	t.Logf("the spooled part: %d bytes, %.2f s of audio (limit %d bytes, spool %d bytes)", len(kept), secs, limit, total)
	assert.Greater(t, secs, 0.5, "it holds the show's audio up to the limit")

	// The bucket is back: the part is uploaded as it was spooled, and
	// recording goes on in a new part.
	bucket.restore()
	var resumed showroutes.View
	require.True(t, poll(t, 45*time.Second, "recording did not go on once the bucket was back", func() (bool, string) {
		resumed = show()
		first, later := false, false
		for _, p := range resumed.Parts {
			first = first || (p.ID == side.ID && p.Status == "complete")
			later = later || p.ID != side.ID
		}
		return first && later && len(resumed.Problems) == 0, fmt.Sprintf("%+v", resumed)
	}))
	assert.Contains(t, timeline(), `"kind":"spool_resumed"`)
	assert.Equal(t, 0.0, metric("dashboard_spool_full"))
	for _, p := range resumed.Parts {
		if p.ID != side.ID {
			continue
		}
		require.Len(t, p.Files, 1)
		code, data := d.call(t, testViewerKey, "GET", p.Files[0].DownloadURL, nil)
		require.Equal(t, 200, code)
		assert.Equal(t, sha256.Sum256(kept), sha256.Sum256(data), "the bucket holds the part byte for byte")
		assert.InDelta(t, secs, float64(p.Files[0].DurationMS)/1000, 0.1, "it plays as long as the recorder says")
	}
}

// recordingDashboard runs a dashboard that records its shows itself, its
// bucket at endpoint (m's keys), with extra settings; LiveKit's webhooks reach
// it through hook.
func recordingDashboard(t *testing.T, hook *hookFront, env *testenv.Env, endpoint string, m *testenv.MinIOEnv, extra map[string]string) *showDashboard {
	t.Helper()
	d := &showDashboard{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), out: &testenv.Buffer{}}
	vars := map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
		"MINIO_ENDPOINT": endpoint, "MINIO_BUCKET": "recordings", "MINIO_ACCESS_KEY": m.AccessKey, "MINIO_SECRET_KEY": m.SecretKey,
		"REDIS_URL": "redis://" + env.RedisAddr, "DASHBOARD_ADDR": d.addr, "DASHBOARD_ADMIN_GROUP": adminGroup,
		"DASHBOARD_API_KEYS": testOperatorKey + ":operator," + testViewerKey + ":viewer"}
	maps.Copy(vars, extra)
	d.getenv = func(k string) string { return vars[k] }
	target, err := url.Parse("http://" + d.addr)
	require.NoError(t, err)
	hook.serve(httputil.NewSingleHostReverseProxy(target))
	d.start(t)
	return d
}

// performerPlays has who join room as a performer and publish file.
func performerPlays(t *testing.T, env *testenv.Env, room, who, file string) {
	t.Helper()
	iss, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	tok, err := iss.Performer(room, who)
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, tok.JWT, nil), file)
	require.NoError(t, err)
}
