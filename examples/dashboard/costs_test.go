package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/storage"
)

// A second viewer, to tell one viewer's caps from everyone's.
const otherViewerKey = "other-viewer-key-0123456"

func withOtherViewer(s *config.Settings) {
	s.APIKeys = append(s.APIKeys, access.APIKey{Key: otherViewerKey, Role: api.Viewer})
}

// One viewer opens the page in tab after tab: the ninth event stream is refused
// with its own code, and another viewer still gets in. The global cap stays.
func TestOneViewerCannotTakeEveryEventStream(t *testing.T) {
	st := newStage(t, withOtherViewer)
	st.keepOutOfLogs(otherViewerKey)

	var tabs []*sse
	for range 8 {
		tabs = append(tabs, openStream(t, st.srv.URL+"/api/events", testViewerKey, ""))
	}
	// follow=false answers at once: were the ninth let in, the test would not hang.
	status, body := st.as(t, testViewerKey, "GET", "/api/events?follow=false", "")
	require.Equal(t, http.StatusTooManyRequests, status, "%s", body)
	assert.Equal(t, "too_many_streams", errorCode(t, body))

	other := openStream(t, st.srv.URL+"/api/events", otherViewerKey, "")
	defer other.close()

	// A tab closed gives its place back.
	tabs[0].close()
	poll(t, wait, "a closed tab's place is free again", func() (bool, string) {
		status, body := st.as(t, testViewerKey, "GET", "/api/events?follow=false", "")
		return status == http.StatusOK, string(body)
	})
}

// openBodies is the store's transport, counting the object streams it has open:
// a download the dashboard gave up on must close its stream from the bucket.
type openBodies struct {
	next http.RoundTripper
	open atomic.Int64
}

func (o *openBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodGet || resp.StatusCode/100 != 2 {
		return resp, err
	}
	o.open.Add(1)
	resp.Body = &countedBody{ReadCloser: resp.Body, o: o}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	o    *openBodies
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.o.open.Add(-1) })
	return b.ReadCloser.Close()
}

// downloadStage is a dashboard on the archive whose object streams are counted.
func (a *bucketStage) downloadStage(t *testing.T, tweak func(*config.Settings)) (*stage, *openBodies) {
	t.Helper()
	bodies := &openBodies{next: http.DefaultTransport.(*http.Transport).Clone()}
	store, err := recordings.New(recordings.Config{Config: storage.Config{Endpoint: a.m.Endpoint, Bucket: "recordings",
		AccessKey: a.m.AccessKey, SecretKey: a.m.SecretKey}, Timeout: 5 * time.Second, HTTPClient: &http.Client{Transport: bodies}})
	require.NoError(t, err)
	return a.dashboardOn(t, tweak, store), bodies
}

// dashboardOn is a dashboard on the archive reading it through store.
func (a *bucketStage) dashboardOn(t *testing.T, tweak func(*config.Settings), store archive.Recordings) *stage {
	t.Helper()
	s, _ := a.dashboard(t, tweak, nil)
	s.readArchiveThrough(t, tweak, store, nil)
	return s
}

// lengthReads is the archive, counting the files read for their length.
type lengthReads struct {
	*recordings.Store
	reads atomic.Int64
}

func (l *lengthReads) Duration(ctx context.Context, key string) (time.Duration, error) {
	l.reads.Add(1)
	return l.Store.Duration(ctx, key)
}

// A page of 500 new recordings does not read 500 files for their lengths in one
// request: each load reads a few, and a file once read (its length, or that it
// has none to read) is never read again, since recordings are never overwritten.
func TestOnePageReadsAFewLengths(t *testing.T) {
	a := newArchive(t)
	store := &lengthReads{}
	s := a.dashboardOn(t, nil, store)
	store.Store = s.sm.Recordings
	for i := range 20 {
		a.put(t, fmt.Sprintf("jam/part-%02d.ogg", i), noise(t, 300)) // no Ogg pages: no length to read
	}
	for load := 1; load <= 3; load++ {
		status, body := s.as(t, testViewerKey, "GET", "/api/recordings?room=jam&limit=20", "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		require.Len(t, decodeAs[[]archive.Recording](t, body), 20)
		assert.EqualValues(t, min(20, load*archive.MaxDurationReads), store.reads.Load(), "files read for their length after %d loads", load)
	}
	status, body := s.as(t, testViewerKey, "GET", "/api/recordings?room=jam&limit=20", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	assert.EqualValues(t, 20, store.reads.Load(), "every file was read once, and only once")
}

// A viewer starts download after download and reads none of them: the fifth is
// refused while another viewer's goes, and the stalled ones are cut at the
// total-time cap (long before the write timeout would), their streams from the
// bucket closed and their places given back.
func TestStalledDownloadsAreCappedAndCut(t *testing.T) {
	a := newArchive(t)
	s, bodies := a.downloadStage(t, func(s *config.Settings) {
		withOtherViewer(s)
		s.WriteTimeout = time.Minute // a stalled reader is not cut by this in the test's time
		s.DownloadMax = 2 * time.Second
	})
	s.keepOutOfLogs(otherViewerKey)
	show := noise(t, 24<<20) // more than loopback's socket buffers hold
	a.put(t, "jam/long-show.ogg", show)

	start := func(key string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", s.srv.URL+"/api/recordings/jam/long-show.ogg", nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	var stalled []*http.Response
	for range 4 {
		resp := start(testViewerKey)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		stalled = append(stalled, resp)
	}
	fifth := start(testViewerKey)
	require.Equal(t, http.StatusTooManyRequests, fifth.StatusCode)
	body, _ := io.ReadAll(fifth.Body)
	assert.Equal(t, "too_many_downloads", errorCode(t, body))

	other := start(otherViewerKey)
	require.Equal(t, http.StatusOK, other.StatusCode, "another viewer's download goes")
	got, err := io.ReadAll(other.Body)
	require.NoError(t, err)
	assert.Len(t, got, len(show), "the other viewer, reading, gets the whole recording")

	// At the cap the dashboard gives up on the stalled readers: their streams
	// from the bucket are closed, and reading now ends short.
	poll(t, wait, "the bucket's streams of the stalled downloads are closed", func() (bool, string) {
		n := bodies.open.Load()
		return n == 0, strconv.FormatInt(n, 10) + " open"
	})
	for i, resp := range stalled {
		n, err := io.Copy(io.Discard, resp.Body)
		assert.Less(t, n, int64(len(show)), "stalled download %d ran past the cap (%v)", i, err)
	}
	again := start(testViewerKey)
	assert.Equal(t, http.StatusOK, again.StatusCode, "the cut downloads gave their places back")
}

// A presigned link works after the account that asked for it is revoked, so a
// role's links last only as long as the role warrants: an hour for a viewer, a
// day for an operator, a week (S3's most) for an admin. More is refused, never
// clamped: a script asking for a week learns it will not get one.
func TestLinkLifetimesAreBoundedByRole(t *testing.T) {
	a := newArchive(t)
	s, _ := a.dashboard(t, nil, nil)
	a.put(t, "jam/show.ogg", noise(t, 5000))

	for _, c := range []struct {
		who, key string
		most     int
	}{{"viewer", testViewerKey, 3600}, {"operator", testOperatorKey, 86400}, {"admin", testAPIKey, 604800}} {
		status, body := s.as(t, c.key, "GET", "/api/recordings?room=jam&linkTtl="+strconv.Itoa(c.most), "")
		require.Equal(t, http.StatusOK, status, "%s: %s", c.who, body)
		recs := decodeAs[[]archive.Recording](t, body)
		require.Len(t, recs, 1)
		assert.Equal(t, strconv.Itoa(c.most), linkExpiry(t, recs[0].DownloadURL), "%s's longest link", c.who)

		if c.most < int(recordings.MaxLinkTTL.Seconds()) {
			status, body = s.as(t, c.key, "GET", "/api/recordings?room=jam&linkTtl="+strconv.Itoa(c.most+1), "")
			require.Equal(t, http.StatusBadRequest, status, "%s asking a second more: %s", c.who, body)
			assert.Equal(t, "link_ttl_too_long", errorCode(t, body), c.who)
		}
	}
	status, body := s.as(t, testViewerKey, "GET", "/api/recordings?room=jam", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	assert.Equal(t, "3600", linkExpiry(t, decodeAs[[]archive.Recording](t, body)[0].DownloadURL), "the default suits every role")
}

// signedHook is a webhook as LiveKit sends one: the body's sha256 in a token
// signed with the API key and secret.
func signedHook(t testing.TB, st *stage, body []byte) *http.Request {
	sum := sha256.Sum256(body)
	tok, err := auth.NewAccessToken(st.env.APIKey, st.env.APISecret).SetValidFor(time.Minute).
		SetSha256(base64.StdEncoding.EncodeToString(sum[:])).ToJWT()
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, st.srv.URL+"/api/webhooks/livekit", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/webhook+json")
	return req
}

// flood has listeners join and leave room, n webhooks in all, as LiveKit
// would report a listener token used in a loop.
func flood(t *testing.T, st *stage, room string, n int) {
	t.Helper()
	bodies := make(chan []byte, 64)
	go func() {
		defer close(bodies)
		for i := range n {
			kind := "participant_joined"
			if i%2 == 1 {
				kind = "participant_left"
			}
			b, err := protojson.Marshal(&livekit.WebhookEvent{Event: kind, Id: fmt.Sprintf("EV_%s_%d", room, i), CreatedAt: time.Now().Unix(),
				Room:        &livekit.Room{Name: room, Sid: "RM_" + room},
				Participant: &livekit.ParticipantInfo{Sid: fmt.Sprintf("PA_%d", i/2), Identity: fmt.Sprintf("loop-%d", i/2)}})
			if err != nil {
				panic(err)
			}
			bodies <- b
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range bodies {
				resp, err := http.DefaultClient.Do(signedHook(t, st, b))
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				if err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load(), "webhooks refused")
}

// Someone with a listener token joins and leaves in a loop: 10,000 webhooks.
// The shared log keeps the newest events within its caps (count and bytes),
// the keys that refuse duplicates are bounded too, and the room's timeline is
// still read a page at a time, newest first.
func TestAJoinLeaveLoopStaysWithinTheLogCaps(t *testing.T) {
	env := testenv.LiveKit(t, testenv.WithRedis())
	const maxEvents, maxBytes = 500, 96 << 10
	st := newStageOn(t, env, func(s *config.Settings) {
		s.RedisURL = "redis://" + env.RedisAddr
		s.LogMaxEvents, s.LogMaxBytes = maxEvents, maxBytes
	})
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	ctx := testenv.Within(t, 3*time.Minute)

	flood(t, st, "loop", 10_000)

	// What the log holds in Redis, key by key (the stream, its counter, the
	// dedupe keys, the room index).
	used := map[string]int64{}
	var total int64
	iter := rdb.Scan(ctx, 0, "streamkit:events*", 1000).Iterator()
	for iter.Next(ctx) {
		n, err := rdb.MemoryUsage(ctx, iter.Val(), 0).Result()
		require.NoError(t, err)
		used[iter.Val()] = n
		total += n
	}
	require.NoError(t, iter.Err())
	t.Logf("the log's keys after 10,000 webhooks: %d keys, %d bytes; stream %d bytes", len(used), total, used["streamkit:events"])
	assert.LessOrEqual(t, rdb.XLen(ctx, "streamkit:events").Val(), int64(maxEvents), "events kept")
	assert.LessOrEqual(t, used["streamkit:events"], int64(maxBytes), "the stream's bytes")
	assert.LessOrEqual(t, len(used), 8, "a few keys, not one per event")
	// The dedupe keys and the room index hold at most maxEvents entries each:
	// together with the stream, under three times the byte cap.
	assert.LessOrEqual(t, total, int64(3*maxBytes), "everything the log keeps: %v", used)

	// The room's story, a page at a time: the newest first, older ones by the
	// cursor, each page oldest first and the pages continuous.
	status, body := st.as(t, testViewerKey, "GET", "/api/rooms/loop/timeline?limit=50", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	page := decodeAs[live.TimelinePage](t, body)
	require.Len(t, page.Events, 50)
	require.NotZero(t, page.Before, "older events are kept")
	assert.Equal(t, page.Events[0].Revision, page.Before)
	status, body = st.as(t, testViewerKey, "GET", fmt.Sprintf("/api/rooms/loop/timeline?limit=50&before=%d", page.Before), "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	older := decodeAs[live.TimelinePage](t, body)
	require.Len(t, older.Events, 50)
	assert.Less(t, older.Events[len(older.Events)-1].Revision, page.Events[0].Revision)

	// A room the log never saw costs no scan of it: empty, or 404 when LiveKit
	// has no such room either.
	status, body = st.as(t, testViewerKey, "GET", "/api/rooms/never-seen/timeline", "")
	require.Equal(t, http.StatusNotFound, status, "%s", body)
}

// Pages polling a show, and a viewer reloading it in a loop, do not each cost
// LiveKit's three calls and the bucket's listing: 20 reads at once take one
// look (two at most, should the look expire meanwhile), and the operator who
// closes the show sees it closed at once.
func TestShowReadsShareOneLook(t *testing.T) {
	env := testenv.LiveKit(t, testenv.WithRedis())
	d := benchDashboard(t, env, nil, nil)
	call := func(key, method, path string, body string) (int, string) {
		req, err := http.NewRequest(method, d.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-API-Key", key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := d.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	code, body := call(testOperatorKey, "POST", "/api/shows", `{"name":"late-set"}`)
	require.Equal(t, http.StatusCreated, code, body)
	code, body = call(testViewerKey, "GET", "/api/shows/late-set", "")
	require.Equal(t, http.StatusOK, code, body)
	before := d.calls.calls.Load()

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := call(testViewerKey, "GET", "/api/shows/late-set", "")
			assert.Equal(t, http.StatusOK, code, body)
		}()
	}
	wg.Wait()
	reads := d.calls.calls.Load() - before
	time.Sleep(showroutes.ShowTTL + 100*time.Millisecond) // the look expires: the next read looks again
	before = d.calls.calls.Load()
	code, body = call(testViewerKey, "GET", "/api/shows/late-set", "")
	require.Equal(t, http.StatusOK, code, body)
	one := d.calls.calls.Load() - before // what one look costs
	require.Positive(t, one, "a fresh look asks LiveKit")
	assert.LessOrEqual(t, reads, 2*one, "20 reads at once cost %d LiveKit calls; one look costs %d", reads, one)

	code, body = call(testOperatorKey, "DELETE", "/api/shows/late-set", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = call(testViewerKey, "GET", "/api/shows/late-set", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"phase":"closed"`, "the closer's own change is seen at once")
}

// A script asking the archive with a new limit or cursor each time does not
// list the bucket each time: the room's one listing answers every page, and a
// page cut shorter still names where the next one begins.
func TestAChangedLimitOrCursorListsTheBucketOnce(t *testing.T) {
	a := newArchive(t)
	s, counted := a.dashboard(t, nil, nil)
	for i := range 5 {
		a.put(t, fmt.Sprintf("jam/part-%d.ogg", i), noise(t, 100))
	}
	var all []archive.Recording
	began := time.Now()
	for limit := 5; limit >= 1; limit-- {
		resp, body := fetchAs(t, http.DefaultClient, s.srv.URL, fmt.Sprintf("/api/recordings?room=jam&limit=%d", limit))
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		page := decodeAs[[]archive.Recording](t, body)
		require.Len(t, page, limit)
		if limit == 5 {
			all = page
			assert.Empty(t, resp.Header.Get("X-Next-Cursor"), "all of it")
			continue
		}
		for i := range page {
			assert.Equal(t, all[i].Key, page[i].Key, "limit %d", limit)
		}
		next := resp.Header.Get("X-Next-Cursor")
		require.NotEmpty(t, next, "limit %d", limit)
		resp, body = fetchAs(t, http.DefaultClient, s.srv.URL, "/api/recordings?room=jam&limit=5&cursor="+next)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		rest := decodeAs[[]archive.Recording](t, body)
		require.Len(t, rest, 5-limit, "limit %d: the rest", limit)
		assert.Equal(t, all[limit].Key, rest[0].Key, "limit %d: the next page begins after the cut", limit)
	}
	// Cursors a script makes up (well formed, any position) are cut from the
	// same listing: the first page a cursor after the newest, or before them all.
	for _, at := range []recordings.Recording{{Key: "jam/zzz", LastModified: time.Now().Add(time.Hour)},
		{Key: "jam/aaa", LastModified: time.Unix(0, 0)}, all[2].Recording} {
		resp, body := fetchAs(t, http.DefaultClient, s.srv.URL, "/api/recordings?room=jam&cursor="+recordings.Cursor(at))
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	}
	// One listing for the room per listingTTL: neither the page size nor the
	// cursor asked for another (a slow machine may see the listing expire; 12
	// pages each listing would be 8 listings more).
	most := 1 + int(time.Since(began)/archive.ListingTTL)
	assert.LessOrEqual(t, int(counted.lists.Load()), most, "listings in %s", time.Since(began))
}

// Beside each user's cap, the server holds at most 256 event streams in all
// (each is a connection and a goroutine for as long as a page is open), and an
// idle stream hears a ping every 15 s, which keeps it alive through proxies.
func TestEventStreamsAreCappedAndKeptAlive(t *testing.T) {
	st := newStage(t, func(s *config.Settings) { s.StreamsPerPrincipal = live.MaxStreams + 8 })
	raw, err := http.NewRequest(http.MethodGet, st.srv.URL+"/api/events", nil)
	require.NoError(t, err)
	raw.Header.Set("X-API-Key", testViewerKey)
	first, err := http.DefaultClient.Do(raw)
	require.NoError(t, err)
	defer first.Body.Close()
	require.Equal(t, http.StatusOK, first.StatusCode)
	pinged := make(chan time.Duration, 1)
	opened := time.Now()
	go func() {
		sc := bufio.NewScanner(first.Body)
		for sc.Scan() {
			if sc.Text() == ": ping" {
				pinged <- time.Since(opened)
				return
			}
		}
	}()
	for range live.MaxStreams - 1 {
		defer openStream(t, st.srv.URL+"/api/events", testViewerKey, "").close()
	}
	status, body := st.as(t, testViewerKey, "GET", "/api/events?follow=false", "")
	require.Equal(t, http.StatusTooManyRequests, status, "the 257th stream: %s", body)
	assert.Equal(t, "rate_limited", errorCode(t, body))
	assert.Contains(t, string(body), "256")

	select {
	case after := <-pinged:
		t.Logf("the first ping came %s after the stream opened", after.Round(10*time.Millisecond))
		assert.GreaterOrEqual(t, after, live.Heartbeat-time.Second, "a ping every 15 s, not more often")
	case <-time.After(live.Heartbeat + 5*time.Second):
		t.Fatal("an idle stream heard no ping")
	}
}
