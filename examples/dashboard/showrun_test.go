package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// A dashboard process as production runs it (run, with armed recording), on the
// real stack: LiveKit, Ingress, Egress, MinIO and Redis for the shared event
// log. Stopping it and running it again is the restart of a deploy.
type showDashboard struct {
	addr   string
	getenv func(string) string
	out    *testenv.Buffer
	stop   context.CancelFunc
	done   chan error
}

func (d *showDashboard) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d.stop, d.done = cancel, make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		d.done <- run(ctx, []string{"dashboard"}, d.getenv, d.out)
	}()
	t.Cleanup(func() { cancel(); <-exited }) // before the stack stops, also when the test failed
	waitUp(t, d.addr, d.done)
}

func (d *showDashboard) kill(t *testing.T) {
	t.Helper()
	d.stop()
	require.NoError(t, <-d.done)
}

// call asks the dashboard as key.
func (d *showDashboard) call(t *testing.T, key, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+d.addr+path, r)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	require.NoError(t, err)
	return resp.StatusCode, mustRead(t, resp)
}

// The show as the operator runs it, through the dashboard alone: she opens it
// with OBS (RTMP) and the show's audio in the plan; OBS pushes a few seconds
// and the recording starts by itself. The dashboard is redeployed mid-show:
// the new process finds the show and its recording. Closing answers the report,
// whose recording has a duration and a link that downloads it.
func TestShowRecordsItselfAndReports(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	env, ing := testenv.Ingress(t, hook.option())
	m := testenv.MinIO(t)
	testenv.Egress(t, env)
	d := &showDashboard{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), out: &testenv.Buffer{}}
	vars := map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
		"MINIO_ENDPOINT": m.Endpoint, "MINIO_BUCKET": "recordings", "MINIO_ACCESS_KEY": m.AccessKey, "MINIO_SECRET_KEY": m.SecretKey,
		"REDIS_URL": "redis://" + env.RedisAddr, "DASHBOARD_ADDR": d.addr, "DASHBOARD_ADMIN_GROUP": adminGroup,
		"DASHBOARD_API_KEYS": testOperatorKey + ":operator," + testViewerKey + ":viewer", "DASHBOARD_LIVEKIT_TIMEOUT": "10s",
		"DASHBOARD_SPOOL_DIR": t.TempDir()} // the machine's disk, kept across the restart
	d.getenv = func(k string) string { return vars[k] }
	target, err := url.Parse("http://" + d.addr)
	require.NoError(t, err)
	hook.serve(httputil.NewSingleHostReverseProxy(target)) // LiveKit's webhooks, to whichever process runs
	d.start(t)
	require.Contains(t, d.out.String(), "shows: armed recording is on")

	code, body := d.call(t, testOperatorKey, "POST", "/api/shows", map[string]any{"name": "friday-jam",
		"performers": []map[string]any{{"identity": "obs-main", "name": "Main mix", "via": "obs"}},
		"ingest":     map[string]any{"kind": "rtmp", "audioOnly": true}, "record": []string{"audio"}})
	require.Equal(t, 201, code, "%s", body)
	show := decodeAs[showroutes.Opened](t, body)
	require.NotNil(t, show.OBS)
	assert.True(t, strings.HasPrefix(show.OBS.ServerURL, ing.RTMPBase), "OBS's server: %s", show.OBS.ServerURL)
	require.NotEmpty(t, show.OBS.StreamKey)
	assert.Equal(t, show.OBS.ServerURL+"/"+show.OBS.StreamKey, show.OBS.PublishURL)

	// OBS goes live; nobody presses record. It plays on well past the restart
	// below, so that the part must grow after it.
	const push = 14 * time.Second
	pushed := time.Now()
	testenv.PushRTMP(t, show.OBS.PublishURL, push, true)
	var live showroutes.View
	require.True(t, poll(t, 30*time.Second, "the show never recorded by itself", func() (bool, string) {
		code, body := d.call(t, testViewerKey, "GET", "/api/shows/friday-jam", nil)
		live = showroutes.View{}
		_ = json.Unmarshal(body, &live)
		return code == 200 && live.Recording && len(live.Parts) == 1, string(body)
	}))
	recording := time.Now()
	assert.Equal(t, "audio", live.Parts[0].Kind)
	// The show's own recorder is in the room, hidden: LiveKit lists it, the
	// dashboard does not count it.
	lk, err := rooms.New(rooms.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	inRoom, err := lk.Participants(t.Context(), "friday-jam")
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(inRoom, func(p rooms.Participant) bool { return p.Identity == "streamkit-recorder" && p.Permission.Hidden }),
		"the recorder is in the room, hidden: %+v", inRoom)
	code, body = d.call(t, testViewerKey, "GET", "/api/rooms", nil)
	require.Equal(t, 200, code, "%s", body)
	listed := decodeAs[[]rooms.Room](t, body)
	require.Len(t, listed, 1)
	assert.Equal(t, 1, listed[0].NumParticipants, "OBS only: the recorder is not counted")
	t.Logf("go-live to recording: %s from the push's start to the dashboard listing the show as recording (Ingress admitting the stream included)",
		recording.Sub(pushed).Round(10*time.Millisecond))

	// Redeployed mid-show, two seconds on: the new process finds the show and
	// its recording (the recorder's spooled part, continued when it rejoins).
	time.Sleep(2 * time.Second)
	killed := time.Now()
	d.kill(t)
	d.start(t)
	code, body = d.call(t, testViewerKey, "GET", "/api/shows/friday-jam", nil)
	require.Equal(t, 200, code, "%s", body)
	again := decodeAs[showroutes.View](t, body)
	require.Len(t, again.Parts, 1, "the recording is still the show's: %s", body)
	assert.Equal(t, live.Parts[0].ID, again.Parts[0].ID)
	// It rejoins the stage and records on into the same part: the spool file
	// the old process left on the machine's disk.
	require.True(t, poll(t, 15*time.Second, "the recording did not go on after the restart", func() (bool, string) {
		code, body := d.call(t, testViewerKey, "GET", "/api/shows/friday-jam", nil)
		v := showroutes.View{}
		_ = json.Unmarshal(body, &v)
		return code == 200 && v.Recording && len(v.Parts) == 1 && v.Parts[0].ID == live.Parts[0].ID && v.Parts[0].Status == "active", string(body)
	}))

	time.Sleep(time.Until(pushed.Add(push))) // OBS plays on to the end of its push

	closing := time.Now()
	code, body = d.call(t, testOperatorKey, "DELETE", "/api/shows/friday-jam", nil)
	require.Equal(t, 200, code, "%s", body)
	rep := decodeAs[showroutes.Report](t, body)
	t.Logf("close to report: %s (the dashboard says %d ms)", time.Since(closing).Round(10*time.Millisecond), rep.TookMS)
	assert.Empty(t, rep.Problems)
	require.Len(t, rep.Parts, 1, "%s", body)
	part := rep.Parts[0]
	assert.Equal(t, "complete", part.Status, part.Error)
	require.Len(t, part.Files, 1, "%s", body)
	f := part.Files[0]
	assert.Positive(t, f.DurationMS, "the recording's duration")
	assert.LessOrEqual(t, f.DurationMS, (push + time.Second).Milliseconds(), "no more than was pushed")
	require.True(t, strings.HasPrefix(f.DownloadURL, "/api/recordings/friday-jam/"), f.DownloadURL)
	var kinds []string
	for _, e := range rep.Timeline {
		kinds = append(kinds, string(e.Kind))
	}
	assert.Contains(t, kinds, "recording_started", "the report's timeline: %v", kinds)

	code, data := d.call(t, testViewerKey, "GET", f.DownloadURL, nil)
	require.Equal(t, 200, code, "%s", data)
	secs := audioSeconds(t, data)
	t.Logf("recorded %.2f s of audio; the dashboard says %d ms; %s pushed", secs, f.DurationMS, push)
	assert.Greater(t, secs, 1.0, "the recording holds the show's audio")
	assert.LessOrEqual(t, secs, (push + time.Second).Seconds(), "and no more than was pushed")
	assert.InDelta(t, secs, float64(f.DurationMS)/1000, 0.3, "the report says how long the file plays")
	// The part grew after the restart: it holds more than the old process can
	// have written, and the tone runs to its end. What is missing is the time
	// no process ran (the kill, the start, the rejoin), bounded.
	before := killed.Sub(part.StartedAt).Seconds()
	file := filepath.Join(t.TempDir(), "part.ogg")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	heard := testenv.Listen(t, file).Duration.Seconds()
	const maxGap = 8.0 // seconds: a kill, a start and the recorder's rejoin (6.1 s seen with the whole suite running beside it)
	t.Logf("the old process can have written %.2f s; the part plays %.2f s of the %.2f s from its start to the push's end", before, heard, pushed.Add(push).Sub(part.StartedAt).Seconds())
	assert.Greater(t, heard, before+1, "the part grew after the restart")
	assert.GreaterOrEqual(t, heard, pushed.Add(push).Sub(part.StartedAt).Seconds()-maxGap, "no more is missing than the restart's gap")
	for _, at := range []float64{0.2, heard - 1.2} {
		w := testenv.ListenWindow(t, file, time.Duration(at*float64(time.Second)), time.Second)
		assert.InDelta(t, 440, w.Frequency, 10, "OBS's tone at %.1f s of %.1f s", at, heard)
	}

	code, body = d.call(t, testOperatorKey, "DELETE", "/api/shows/friday-jam", nil)
	assert.Equal(t, 200, code, "closing again is fine: %s", body)
	for _, secret := range []string{show.OBS.StreamKey, env.APISecret, m.SecretKey, testOperatorKey, testViewerKey} {
		assert.NotContains(t, d.out.String(), secret, "a secret reached the dashboard's logs")
	}
}
