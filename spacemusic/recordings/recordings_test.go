package recordings_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/lifecycle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/storage"
)

// bucketOps is a real MinIO and an S3 client acting as its operator.
type bucketOps struct {
	m  *testenv.MinIOEnv
	mc *minio.Client
}

func newMinIO(t *testing.T) *bucketOps {
	t.Helper()
	m := testenv.MinIO(t)
	u, err := url.Parse(m.Endpoint)
	require.NoError(t, err)
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""), Region: "us-east-1"})
	require.NoError(t, err)
	return &bucketOps{m: m, mc: mc}
}

func (b *bucketOps) store(t *testing.T, bucket string, tweak func(*recordings.Config)) *recordings.Store {
	t.Helper()
	cfg := recordings.Config{Config: storage.Config{Endpoint: b.m.Endpoint, Bucket: bucket, AccessKey: b.m.AccessKey, SecretKey: b.m.SecretKey}}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := recordings.New(cfg)
	require.NoError(t, err)
	return s
}

func (b *bucketOps) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	_, err := b.mc.PutObject(t.Context(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	require.NoError(t, err)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// The operator shares a bucket with the show and keeps her own lifecycle rule
// on it. Starting the dashboard, twice, changes neither her rule nor her files:
// only a bucket we create gets our expiry rule.
func TestEnsureBucketLeavesAnExistingBucketAlone(t *testing.T) {
	b := newMinIO(t)
	ctx := t.Context()
	require.NoError(t, b.mc.MakeBucket(ctx, "shared", minio.MakeBucketOptions{Region: "us-east-1"}))
	own := lifecycle.NewConfiguration()
	own.Rules = []lifecycle.Rule{{ID: "operator-logs", Status: "Enabled", RuleFilter: lifecycle.Filter{Prefix: "logs/"},
		Expiration: lifecycle.Expiration{Days: 7}}}
	require.NoError(t, b.mc.SetBucketLifecycle(ctx, "shared", own))
	old := randomBytes(t, 4096)
	b.put(t, "shared", "archive/2024-show.ogg", old)

	s := b.store(t, "shared", nil)
	require.NoError(t, s.EnsureBucket(ctx))
	require.NoError(t, s.EnsureBucket(ctx), "a second start")

	got, err := b.mc.GetBucketLifecycle(ctx, "shared")
	require.NoError(t, err)
	require.Len(t, got.Rules, 1, "our rule was added to, or replaced, the operator's")
	assert.Equal(t, "operator-logs", got.Rules[0].ID)
	assert.Equal(t, "logs/", got.Rules[0].RuleFilter.Prefix)
	assert.EqualValues(t, 7, got.Rules[0].Expiration.Days)
	obj, err := b.mc.GetObject(ctx, "shared", "archive/2024-show.ogg", minio.GetObjectOptions{})
	require.NoError(t, err)
	data, err := io.ReadAll(obj)
	require.NoError(t, err)
	assert.Equal(t, old, data, "the old object survives")

	// A bucket with no lifecycle at all stays without one.
	require.NoError(t, b.mc.MakeBucket(ctx, "bare", minio.MakeBucketOptions{Region: "us-east-1"}))
	require.NoError(t, b.store(t, "bare", nil).EnsureBucket(ctx))
	days, err := b.store(t, "bare", nil).RetentionDays(ctx)
	require.NoError(t, err)
	assert.Zero(t, days, "an existing bucket got an expiry rule")
}

// A bucket we create keeps recordings as long as configured: 30 days unless
// told otherwise, any number of days, or forever (no rule at all).
func TestNewBucketGetsTheConfiguredRetention(t *testing.T) {
	b := newMinIO(t)
	for name, c := range map[string]struct {
		days, want int
	}{
		"default":      {0, 30},
		"a week":       {7, 7},
		"keep forever": {recordings.KeepForever, 0},
	} {
		t.Run(name, func(t *testing.T) {
			bucket := strings.ReplaceAll(name, " ", "-")
			s := b.store(t, bucket, func(c2 *recordings.Config) { c2.RetentionDays = c.days })
			require.NoError(t, s.EnsureBucket(t.Context()))
			ok, err := b.mc.BucketExists(t.Context(), bucket)
			require.NoError(t, err)
			require.True(t, ok)
			days, err := s.RetentionDays(t.Context())
			require.NoError(t, err)
			assert.Equal(t, c.want, days)
			// What MinIO itself holds, not our reading of it.
			if c.want > 0 {
				rules, err := b.mc.GetBucketLifecycle(t.Context(), bucket)
				require.NoError(t, err)
				require.Len(t, rules.Rules, 1)
				assert.Equal(t, "Enabled", rules.Rules[0].Status)
				assert.Empty(t, rules.Rules[0].RuleFilter.Prefix, "the rule covers the whole bucket")
				assert.EqualValues(t, c.want, rules.Rules[0].Expiration.Days)
			}
			if c.want == 0 {
				_, err := b.mc.GetBucketLifecycle(t.Context(), bucket)
				assert.Equal(t, "NoSuchLifecycleConfiguration", minio.ToErrorResponse(err).Code, "no rule at all")
			}
		})
	}
	_, err := recordings.New(recordings.Config{Config: storage.Config{Endpoint: b.m.Endpoint, Bucket: "x", AccessKey: "a", SecretKey: "b", RetentionDays: -2}})
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// Browsers reach the store by its public name: links are signed for it, and
// download the same bytes; signing never touches the network.
func TestLinksAreSignedForThePublicEndpoint(t *testing.T) {
	b := newMinIO(t)
	ctx := t.Context()
	port := strings.TrimPrefix(b.m.Endpoint, "http://127.0.0.1:")
	public := "http://localhost:" + port // the same MinIO by another name
	s := b.store(t, "recordings", func(c *recordings.Config) { c.PublicEndpoint = public })
	require.NoError(t, s.EnsureBucket(ctx))
	data := randomBytes(t, 300_000)
	b.put(t, "recordings", "jam/show.ogg", data)

	link, err := s.DownloadURL(ctx, "jam/show.ogg", time.Minute)
	require.NoError(t, err)
	u, err := url.Parse(link)
	require.NoError(t, err)
	assert.Equal(t, "localhost:"+port, u.Host, "the link names the public host")
	resp, err := http.Get(link)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, "%s", got)
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "the public link serves the object")

	// A public host this process cannot or should not reach: a listener that
	// counts who calls. Presigning does not look the bucket's region up there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var calls atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			calls.Add(1)
			c.Close()
		}
	}()
	far := b.store(t, "recordings", func(c *recordings.Config) { c.PublicEndpoint = "https://" + ln.Addr().String() })
	link, err = far.Link(ctx, recordings.Recording{Key: "jam/show.ogg"}, time.Minute)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(link, "https://"+ln.Addr().String()+"/recordings/jam/show.ogg?"), link)
	assert.Zero(t, calls.Load(), "presigning called the public endpoint")

	_, err = recordings.New(recordings.Config{Config: storage.Config{Endpoint: b.m.Endpoint, Bucket: "x", AccessKey: "a", SecretKey: "b", PublicEndpoint: "ftp://x"}})
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
}

// A link lives an hour unless asked otherwise, a week at most: S3's own limit,
// read from the signed URL itself (X-Amz-Expires), which is what the store
// enforces. A week and a second is refused, not shortened.
func TestLinkLifetimes(t *testing.T) {
	b := newMinIO(t)
	ctx := t.Context()
	s := b.store(t, "recordings", nil)
	require.NoError(t, s.EnsureBucket(ctx))
	data := randomBytes(t, 1000)
	b.put(t, "recordings", "jam/show.ogg", data)

	expires := func(link string) string {
		t.Helper()
		u, err := url.Parse(link)
		require.NoError(t, err)
		return u.Query().Get("X-Amz-Expires")
	}
	for _, c := range []struct {
		ttl  time.Duration
		want string
	}{
		{0, "3600"},
		{time.Minute, "60"},
		{7 * 24 * time.Hour, "604800"},
	} {
		link, err := s.DownloadURL(ctx, "jam/show.ogg", c.ttl)
		require.NoError(t, err, c.ttl)
		assert.Equal(t, c.want, expires(link), "DownloadURL(%s)", c.ttl)
		resp, err := http.Get(link)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "a %s link works: %s", c.ttl, got)
		assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got))

		link, err = s.Link(ctx, recordings.Recording{Key: "jam/show.ogg"}, c.ttl)
		require.NoError(t, err, c.ttl)
		assert.Equal(t, c.want, expires(link), "Link(%s)", c.ttl)
	}
	for _, ttl := range []time.Duration{604801 * time.Second, 30 * 24 * time.Hour, time.Second / 2, -time.Hour} {
		_, err := s.DownloadURL(ctx, "jam/show.ogg", ttl)
		assert.ErrorIs(t, err, spacemusic.ErrInvalidArgument, "DownloadURL(%s)", ttl)
		_, err = s.Link(ctx, recordings.Recording{Key: "jam/show.ogg"}, ttl)
		assert.ErrorIs(t, err, spacemusic.ErrInvalidArgument, "Link(%s)", ttl)
	}
}

// Open streams an object and seeks in it; keys outside a room's folder never
// reach the store.
func TestOpenReadsAndSeeks(t *testing.T) {
	b := newMinIO(t)
	ctx := t.Context()
	s := b.store(t, "recordings", nil)
	require.NoError(t, s.EnsureBucket(ctx))
	data := randomBytes(t, 200_000)
	b.put(t, "recordings", "jam/show.ogg", data)

	obj, err := s.Open(ctx, "jam/show.ogg")
	require.NoError(t, err)
	defer obj.Close()
	assert.Equal(t, int64(len(data)), obj.Size)
	assert.Equal(t, "audio/ogg", obj.ContentType)
	assert.Equal(t, "jam", obj.Room)
	got, err := io.ReadAll(obj)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got))
	_, err = obj.Seek(100, io.SeekStart)
	require.NoError(t, err)
	part := make([]byte, 100)
	_, err = io.ReadFull(obj, part)
	require.NoError(t, err)
	assert.Equal(t, data[100:200], part)

	_, err = s.Open(ctx, "jam/nothing.ogg")
	assert.ErrorIs(t, err, errs.ErrNotFound)
	for _, key := range []string{"", "show.ogg", "/jam/show.ogg", "jam/../other/x.ogg", "..", "jam//x", "jam/./x", `jam\x`, "a b/x.ogg", "jam/x\x00"} {
		_, err = s.Open(ctx, key)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%q", key)
	}
}

// The archive lists a room newest first, an HLS run (old layout: one hls folder
// per room; new: one folder per run) as one recording, and pages through it
// with cursors that survive new recordings arriving.
func TestListPagesNewestFirstWithHLSAsOne(t *testing.T) {
	b := newMinIO(t)
	ctx := t.Context()
	s := b.store(t, "recordings", nil)
	require.NoError(t, s.EnsureBucket(ctx))
	// MinIO dates objects to the second: one second between recordings. The
	// first upload's name carries the latest time of all (a clock gone wrong, a
	// file copied in): the archive orders by when objects arrived, not by names.
	step := func() { time.Sleep(1100 * time.Millisecond) }
	b.put(t, "recordings", "jam/2026-11-25T235900Z-EG_a.ogg", randomBytes(t, 1000))
	b.put(t, "recordings", "jam/2026-11-25T235900Z-EG_a.ogg.json", []byte(`{}`)) // a manifest
	step()
	b.put(t, "recordings", "jam/hls/segment_00000.ts", randomBytes(t, 300))
	b.put(t, "recordings", "jam/hls/segment_00001.ts", randomBytes(t, 300))
	b.put(t, "recordings", "jam/hls/playlist.m3u8", randomBytes(t, 50))
	step()
	run := "jam/hls/2026-11-25T200500Z-EG_b/"
	for _, k := range []string{"segment_0.ts", "segment_1.ts", "segment_2.ts", "live.m3u8", "playlist.m3u8"} {
		b.put(t, "recordings", run+k, randomBytes(t, 100))
	}
	step()
	b.put(t, "recordings", "jam/2026-11-25T201000Z-EG_c.ogg", randomBytes(t, 2000))
	b.put(t, "recordings", "other/x.ogg", randomBytes(t, 10))

	all, err := s.List(ctx, "jam")
	require.NoError(t, err)
	var keys []string
	for _, r := range all {
		keys = append(keys, r.Key)
		assert.Equal(t, "jam", r.Room)
	}
	require.Equal(t, []string{"jam/2026-11-25T201000Z-EG_c.ogg", run + "playlist.m3u8", "jam/hls/playlist.m3u8", "jam/2026-11-25T235900Z-EG_a.ogg"}, keys,
		"newest first, one entry per HLS folder, no manifests")
	assert.Equal(t, recordings.KindFile, all[0].Kind)
	assert.Equal(t, recordings.KindHLS, all[1].Kind)
	assert.Equal(t, 3, all[1].Segments)
	assert.EqualValues(t, 500, all[1].Size, "the folder's total")
	assert.Equal(t, recordings.KindHLS, all[2].Kind)
	assert.Equal(t, 2, all[2].Segments)
	assert.EqualValues(t, 650, all[2].Size)
	for i := 1; i < len(all); i++ {
		assert.False(t, all[i].LastModified.After(all[i-1].LastModified), "%s is newer than %s", all[i].Key, all[i-1].Key)
	}

	first, err := s.ListPage(ctx, recordings.ListOptions{Room: "jam", Limit: 3})
	require.NoError(t, err)
	assert.Equal(t, all[:3], first.Recordings)
	require.NotEmpty(t, first.Next)
	step()
	b.put(t, "recordings", "jam/2026-11-25T202000Z-EG_d.ogg", randomBytes(t, 10)) // arrives between pages
	second, err := s.ListPage(ctx, recordings.ListOptions{Room: "jam", Limit: 3, Cursor: first.Next})
	require.NoError(t, err)
	assert.Equal(t, all[3:], second.Recordings, "the next page goes on where the first ended")
	assert.Empty(t, second.Next, "the last page")

	everyRoom, err := s.ListPage(ctx, recordings.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, everyRoom.Recordings, 6)

	for _, o := range []recordings.ListOptions{{Limit: -1}, {Limit: recordings.MaxPageSize + 1}, {Cursor: "garbage!"},
		{Cursor: "MTIzfC4uL2V0Yy9wYXNzd2Q"}, {Room: "../etc"}} {
		_, err := s.ListPage(ctx, o)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%+v", o)
	}
}

// A page holds 50 recordings unless asked otherwise, and at most 500: the
// numbers the dashboard documents, written out here rather than read from the
// package's constants.
func TestPageSizes(t *testing.T) {
	b := newMinIO(t)
	ctx := t.Context()
	s := b.store(t, "recordings", nil)
	require.NoError(t, s.EnsureBucket(ctx))
	for i := range 51 {
		b.put(t, "recordings", fmt.Sprintf("jam/%02d.ogg", i), []byte{byte(i)})
	}

	page, err := s.ListPage(ctx, recordings.ListOptions{Room: "jam"})
	require.NoError(t, err)
	assert.Equal(t, 50, len(page.Recordings), "the default page")
	assert.NotEmpty(t, page.Next, "one more recording is left")

	page, err = s.ListPage(ctx, recordings.ListOptions{Room: "jam", Limit: 500})
	require.NoError(t, err, "500 is allowed")
	assert.Equal(t, 51, len(page.Recordings))
	assert.Empty(t, page.Next)

	_, err = s.ListPage(ctx, recordings.ListOptions{Room: "jam", Limit: 501})
	assert.ErrorIs(t, err, spacemusic.ErrInvalidArgument, "501 is too many")
}

// Grouping is pure: segments of a folder that holds no playlist stay files, and
// a playlist in the room's own folder does not swallow the room.
func TestGroup(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0).UTC() }
	got := recordings.Group([]recordings.Recording{
		{Key: "jam/a.ogg", Kind: "file", Size: 1, LastModified: at(1)},
		{Key: "jam/loose.m3u8", Kind: "file", Size: 2, LastModified: at(2)},
		{Key: "jam/x/seg.ts", Kind: "file", Size: 3, LastModified: at(3)},
		{Key: "jam/h/live.m3u8", Kind: "file", Size: 4, LastModified: at(9)},
		{Key: "jam/h/seg.m4s", Kind: "file", Size: 5, LastModified: at(4)},
	})
	byKey := map[string]recordings.Recording{}
	for _, r := range got {
		byKey[r.Key] = r
	}
	assert.Len(t, got, 4)
	assert.Equal(t, recordings.KindFile, byKey["jam/a.ogg"].Kind)
	assert.Equal(t, recordings.KindHLS, byKey["jam/loose.m3u8"].Kind)
	assert.Equal(t, recordings.KindFile, byKey["jam/x/seg.ts"].Kind)
	h := byKey["jam/h/live.m3u8"]
	assert.Equal(t, recordings.Recording{Key: "jam/h/live.m3u8", Kind: recordings.KindHLS, Size: 9, Segments: 1, LastModified: at(9)}, h)
}

// Hostile keys never pass keys.Check as something that leaves a room's folder.
func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{"jam/show.ogg", "../x", "jam/../x", "/jam/x", "jam//x", "jam/./x", "jam", `a\b/c`, "jam/hls/p.m3u8", "ja m/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if keys.Check(key) != nil {
			return
		}
		parts := strings.Split(key, "/")
		if len(parts) < 2 || strings.HasPrefix(key, "/") || strings.Contains(key, "..") || strings.Contains(key, `\`) {
			t.Fatalf("accepted %q", key)
		}
		for _, p := range parts {
			if p == "" || p == "." {
				t.Fatalf("accepted %q", key)
			}
		}
	})
}

// Any cursor decodes to a valid position or errs.ErrInvalidArgument, never a panic.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{"", "MTIzfGphbS94Lm9nZw", "garbage", "MTIzfC4uL2V0Yy9wYXNzd2Q", strings.Repeat("A", 2000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		r, err := recordings.DecodeCursor(c)
		if err != nil {
			if !errors.Is(err, errs.ErrInvalidArgument) {
				t.Fatalf("%q: %v", c, err)
			}
			return
		}
		if keys.Check(r.Key) != nil {
			t.Fatalf("cursor %q holds key %q", c, r.Key)
		}
	})
}

// A hung bucket: a loopback listener that accepts connections and never
// answers. Every call gives up at the store's Timeout as errs.ErrUnavailable
// instead of holding its caller (or the test) forever.
func TestHungBucketTimesOut(t *testing.T) {
	hung := testenv.HungServer(t)
	s, err := recordings.New(recordings.Config{Config: storage.Config{Endpoint: "http://" + hung, Bucket: "recordings",
		AccessKey: "ak", SecretKey: "sk"}, Timeout: 300 * time.Millisecond})
	require.NoError(t, err)

	for name, call := range map[string]func(context.Context) error{
		"EnsureBucket":  s.EnsureBucket,
		"List":          func(ctx context.Context) error { _, err := s.List(ctx, ""); return err },
		"ListPage":      func(ctx context.Context) error { _, err := s.ListPage(ctx, recordings.ListOptions{}); return err },
		"Open":          func(ctx context.Context) error { _, err := s.Open(ctx, "jam/show.ogg"); return err },
		"DownloadURL":   func(ctx context.Context) error { _, err := s.DownloadURL(ctx, "jam/show.ogg", 0); return err },
		"RetentionDays": func(ctx context.Context) error { _, err := s.RetentionDays(ctx); return err },
	} {
		t.Run(name, func(t *testing.T) {
			// The test's own bound: far above the store's Timeout.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- call(ctx) }()
			select {
			case err := <-done:
				assert.ErrorIs(t, err, errs.ErrUnavailable)
				assert.NoError(t, ctx.Err(), "the store's deadline, not the test's, ended the call")
			case <-time.After(10 * time.Second):
				t.Fatal("the call did not return")
			}
		})
	}
}
