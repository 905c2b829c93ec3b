package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// newRecordingStage is a dashboard on a LiveKit with a real Egress recording
// into a real MinIO, allowed to restream to loopback.
func newRecordingStage(t testing.TB) *stage {
	t.Helper()
	testenv.RequireNetNS(t)
	env := testenv.LiveKit(t, testenv.WithRedis(), testenv.WithBackend("process"))
	m := testenv.MinIO(t) // before the media slot, which Egress takes
	testenv.Egress(t, env)
	storage := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	s := newStageWith(t, env, storage, func(s *config.Settings) {
		s.LiveKitTimeout = 10 * time.Second
		s.RestreamAllow = mustHostList(t, "127.0.0.1") // testenv.ReceiveRTMP listens on loopback
	})
	require.NoError(t, s.sm.Recordings.EnsureBucket(t.Context()))
	s.keepOutOfLogs(m.AccessKey)
	return s
}

// The engineer records tonight's show from the dashboard: a performer plays,
// the show's audio and her stem are recorded, both appear as running, stop, and
// land in the archive with their duration and a link that downloads them.
func TestEngineerRecordsTheShow(t *testing.T) {
	s := newRecordingStage(t)

	code, body := s.call(t, "POST", "/api/tokens", map[string]any{"role": "performer", "room": "live", "identity": "ada"})
	require.Equal(t, 201, code, "%s", body)
	ada := s.env.Join(t, decodeAs[tokenResponse](t, body).Token, nil)
	_, err := testenv.PublishTone(t, ada, testenv.Tone(t, 440, 60*time.Second))
	require.NoError(t, err)
	if !poll(t, wait, "ada's track never appeared", func() (bool, string) {
		code, body, err := s.try(t, http.DefaultClient, "GET", "/api/rooms/live/participants", nil)
		var ps []rooms.Participant
		return err == nil && code == 200 && json.Unmarshal(body, &ps) == nil && len(ps) == 1 && len(ps[0].Tracks) == 1, seen(code, body, err)
	}) {
		t.FailNow()
	}

	code, body = s.call(t, "POST", "/api/stream/egress", map[string]any{"kind": "audio", "room": "live", "identity": "ada", "bitrate": 192})
	require.Equal(t, 201, code, "%s", body)
	show := decodeAs[[]egress.Egress](t, body)
	require.Len(t, show, 1)
	assert.Equal(t, "audio", show[0].Kind)
	code, body = s.call(t, "POST", "/api/egress", map[string]any{"kind": "stems", "room": "live"})
	require.Equal(t, 201, code, "%s", body)
	stems := decodeAs[[]egress.Egress](t, body)
	require.Len(t, stems, 1, "one stem per performer")
	require.NotEqual(t, show[0].ID, stems[0].ID)

	// Both run; the room filter and the active filter find them.
	if !poll(t, wait, "the recordings never went active", func() (bool, string) {
		code, body, err := s.try(t, http.DefaultClient, "GET", "/api/egress?room=live&active=true", nil)
		var list []egress.Egress
		if err != nil || code != 200 || json.Unmarshal(body, &list) != nil {
			return false, seen(code, body, err)
		}
		active := 0
		for _, e := range list {
			if e.Status == egress.Active {
				active++
			}
		}
		return active == 2, seen(code, body, err)
	}) {
		t.FailNow()
	}
	code, body = s.call(t, "GET", "/metrics", nil)
	require.Equal(t, 200, code)
	assert.Contains(t, string(body), `dashboard_egresses{status="active"} 2`+"\n")

	time.Sleep(3 * time.Second) // a few seconds of music on tape (not a timing assertion)
	// The show's recording ends first and the stem's a little later (the store
	// dates objects to the second), so "newest first" has one right order.
	for i, id := range []string{show[0].ID, stems[0].ID} {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond)
		}
		code, body = s.call(t, "DELETE", "/api/egress?id="+id, nil)
		require.Equal(t, 200, code, "%s", body)
		s.egressReaches(t, "live", id, egress.Complete)
	}

	// The archive lists both files, newest first, each with its own egress, its
	// duration, a link that expires when asked and downloads it, with sound in it.
	code, body = s.call(t, "GET", "/api/stream/recordings?room=live&linkTtl=600", nil)
	require.Equal(t, 200, code, "%s", body)
	files := decodeAs[[]archive.Recording](t, body)
	require.Len(t, files, 2, "%s", body)
	assert.Equal(t, []string{stems[0].ID, show[0].ID}, []string{files[0].EgressID, files[1].EgressID}, "newest first, each file with its own egress: %s", body)
	assert.True(t, files[0].LastModified.After(files[1].LastModified), "newest first: %s", body)
	for _, f := range files {
		assert.Equal(t, "live", f.Room)
		assert.Positive(t, f.Size)
		assert.Greater(t, f.DurationMS, int64(2000), "%s lasted %d ms", f.Key, f.DurationMS)
		assert.Contains(t, []string{show[0].ID, stems[0].ID}, f.EgressID)
		assert.WithinDuration(t, time.Now().Add(10*time.Minute), f.LinkExpires, 5*time.Second)
		assert.Equal(t, "600", linkExpiry(t, f.DownloadURL), "the store's link lasts linkTtl")
		resp, err := http.Get(f.DownloadURL)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, "%s", got)
		assert.Len(t, got, int(f.Size), "the link serves the whole file")
		secs := audioSeconds(t, got)
		assert.Greater(t, secs, 2.0, "%s: the recording holds sound", f.Key)
		assert.InDelta(t, secs, float64(f.DurationMS)/1000, 0.3, "%s: the listed duration is how long the file plays", f.Key)
	}
	// Links last an hour unless asked otherwise, and a week is allowed.
	for q, want := range map[string]string{"": "3600", "&linkTtl=604800": "604800"} {
		code, body = s.call(t, "GET", "/api/recordings?room=live"+q, nil)
		require.Equal(t, 200, code, "%s", body)
		for _, f := range decodeAs[[]archive.Recording](t, body) {
			assert.Equal(t, want, linkExpiry(t, f.DownloadURL), "linkTtl%s", q)
		}
	}

	// Stopping again is a clear 4xx, not a 5xx.
	code, body = s.call(t, "DELETE", "/api/egress?id="+show[0].ID, nil)
	assert.Contains(t, []int{404, 409}, code, "%s", body)
}

// linkExpiry is how long the store will honour a presigned link, in seconds, as
// the link itself says.
func linkExpiry(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	require.NotEmpty(t, u.Query().Get("X-Amz-Signature"), "a presigned link: %s", link)
	return u.Query().Get("X-Amz-Expires")
}

// audioSeconds is the duration of data's first audio stream, by ffprobe; the
// test fails when it has none.
func audioSeconds(t testing.TB, data []byte) float64 {
	t.Helper()
	file := filepath.Join(t.TempDir(), "recording")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	out, err := exec.Command(testenv.Binary(t, "ffprobe", "ffmpeg"), "-v", "error", "-select_streams", "a:0",
		"-show_entries", "stream=codec_type:format=duration", "-of", "default=noprint_wrappers=1", file).Output()
	require.NoError(t, err, "ffprobe: %s", out)
	require.Contains(t, string(out), "codec_type=audio", "no audio stream: %s", out)
	m := regexp.MustCompile(`duration=([0-9.]+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "no duration: %s", out)
	d, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return d
}

// Wrong input to the recording routes is refused here with a clear code, before
// anything reaches LiveKit or the bucket: a dashboard whose LiveKit and bucket
// are one counting server answers those without a single request to it. What
// only LiveKit can know (a room or egress that does not exist) is its answer,
// asked of the real stack.
func TestRecordingBadInput(t *testing.T) {
	var reached atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "nothing should ask", http.StatusServiceUnavailable)
	}))
	t.Cleanup(upstream.Close)
	counted := &testenv.Env{URL: upstream.URL, WSURL: "ws" + strings.TrimPrefix(upstream.URL, "http"),
		APIKey: "counted-key", APISecret: "counted-secret-0123456789abcdefghijklmnop"}
	// Without the live model: its periodic lists of LiveKit would be counted.
	local := newStageLive(t, counted, egress.Storage{Endpoint: upstream.URL, Bucket: "recordings", AccessKey: "counted-ak", SecretKey: "counted-sk-0123456789"},
		func(s *config.Settings) { s.RestreamAllow = mustHostList(t, "127.0.0.1") }, false)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/egress", map[string]any{"kind": "vinyl", "room": "live"}},
		{"POST", "/api/egress", map[string]any{"kind": "restream", "room": "live"}},
		{"POST", "/api/egress", map[string]any{"kind": "restream", "room": "live", "urls": []string{"http://127.0.0.1/x"}}},
		{"POST", "/api/egress", map[string]any{"kind": "stems", "room": "live", "bitrate": 96}},
		{"POST", "/api/egress", map[string]any{"kind": "audio", "room": "a b"}},
		// filename is a suffix of the server's key, never a path or a template.
		{"POST", "/api/egress", map[string]any{"kind": "audio", "room": "live", "filename": "../other-room/x"}},
		{"POST", "/api/egress", map[string]any{"kind": "audio", "room": "live", "filename": "{room_name}"}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "filename": "show.mp4"}},
		{"POST", "/api/egress", map[string]any{"kind": "stems", "room": "live", "filename": "x"}},
		// A video recording takes who and a key suffix, nothing of the other kinds.
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "a b", "identity": "obs"}},
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "../live", "identity": "obs"}},
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "obs", "filename": "../other-room/x"}},
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "obs", "filename": "show.mp4"}},
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "obs", "bitrate": 96}},
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "obs", "layout": "grid"}},
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "obs", "urls": []string{"rtmp://127.0.0.1/live/k"}}},
		// A room composite's layout is one the page draws, never a URL, a path or
		// markup for egress's page; its size is one x264 encodes.
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "layout": "mosaic"}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "layout": "grid&url=ws://evil.example"}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "layout": "../../grid"}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "layout": "<script>alert(1)</script>"}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "width": 1281, "height": 720}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "width": 1280}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "width": 100000, "height": 100000}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "audioOnly": true, "layout": "grid"}},
		{"POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "identity": "obs"}},
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "obs", "width": 1280, "height": 720}},
		{"POST", "/api/egress/EG_nope/destinations", map[string]any{}},
		{"POST", "/api/egress/EG_nope/destinations", map[string]any{"add": []string{"http://127.0.0.1/x"}}},
		{"DELETE", "/api/egress", nil},
		{"GET", "/api/egress?active=maybe", nil},
		{"GET", "/api/recordings?linkTtl=0", nil},
		{"GET", "/api/recordings?linkTtl=9999999", nil},
		{"GET", "/api/recordings?room=../etc", nil},
	} {
		code, body := local.call(t, c.method, c.path, c.body)
		assert.Equal(t, 400, code, "%s %s %v: %s", c.method, c.path, c.body, body)
		assert.Equal(t, "invalid_argument", errorCode(t, body), "%s %s %v", c.method, c.path, c.body)
	}
	// Every JSON body refuses fields it does not know.
	for _, rt := range (&server{}).routes() {
		if rt.Request != nil && rt.Needs == recordingService {
			code, body := local.call(t, rt.Method, strings.ReplaceAll(rt.Path, "{id}", "EG_x"), `{"bogus":1}`)
			assert.Equal(t, 400, code, "%s %s: %s", rt.Method, rt.Path, body)
			assert.Equal(t, "unknown_field", errorCode(t, body), rt.Path)
		}
	}
	// A viewer watches; recording is an operator's call, refused before anything
	// reaches LiveKit.
	code, body := local.call(t, "POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "obs"}, asViewer...)
	assert.Equal(t, 403, code, "a viewer records video: %s", body)
	assert.Equal(t, "forbidden", errorCode(t, body))
	code, body = local.call(t, "POST", "/api/egress", map[string]any{"kind": "room", "room": "live", "layout": "grid"}, asViewer...)
	assert.Equal(t, 403, code, "a viewer records the room: %s", body)
	assert.Equal(t, "forbidden", errorCode(t, body))
	assert.Zero(t, reached.Load(), "a request refused as bad input reached LiveKit or the bucket")

	s := newRecordingStage(t)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/egress", map[string]any{"kind": "audio", "room": "empty-room"}},
		{"POST", "/api/egress", map[string]any{"kind": "video", "room": "empty-room", "identity": "obs"}},
		{"POST", "/api/egress/EG_doesnotexist/destinations", map[string]any{"add": []string{"rtmp://127.0.0.1:1/live/x"}}},
		{"DELETE", "/api/egress?id=EG_doesnotexist", nil},
	} {
		code, body := s.call(t, c.method, c.path, c.body)
		assert.Equal(t, 404, code, "%s %s %v: %s", c.method, c.path, c.body, body)
		assert.Equal(t, "not_found", errorCode(t, body), "%s %s %v", c.method, c.path, c.body)
	}

	// In a live room, video of someone who is not there, or who sends no video
	// (ada only plays), is refused, and nothing starts recording.
	tok, err := s.sm.Tokens.Performer("live", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, s.env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, time.Minute))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := s.sm.Rooms.Participant(t.Context(), "live", "ada")
		return err == nil && len(p.Tracks) == 1
	}, wait, tick, "ada never arrived")
	code, body = s.call(t, "POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "nobody"})
	assert.Equal(t, 404, code, "%s", body)
	assert.Equal(t, "not_found", errorCode(t, body))
	code, body = s.call(t, "POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "ada"}, asViewer...)
	assert.Equal(t, 403, code, "%s", body)
	code, body = s.call(t, "POST", "/api/egress", map[string]any{"kind": "video", "room": "live", "identity": "ada"})
	assert.Equal(t, 409, code, "ada sends no video: %s", body)
	all, err := s.sm.Egress.List(t.Context(), egress.ListOptions{Room: "live"})
	require.NoError(t, err)
	assert.Empty(t, all, "a refused video recording started nothing")
	assert.Equal(t, "failed_precondition", errorCode(t, body))

	code, body = s.call(t, "GET", "/api/recordings", nil)
	require.Equal(t, 200, code, "%s", body)
	assert.Equal(t, "[]\n", string(body), "an empty archive is an empty list")
}

// Without a bucket the recording routes say so instead of failing obscurely.
func TestUnconfiguredRecording(t *testing.T) {
	s := newStage(t, nil)
	for _, c := range []struct{ method, path string }{{"GET", "/api/egress"}, {"DELETE", "/api/egress?id=EG_x"}, {"GET", "/api/recordings"}} {
		code, body := s.call(t, c.method, c.path, nil)
		assert.Equal(t, 501, code, "%s %s: %s", c.method, c.path, body)
		assert.Equal(t, "not_configured", errorCode(t, body))
	}
}

// The show goes out live to a streaming platform, then to a second one, and the
// first is dropped, all from the dashboard; the platforms (RTMP ingests on
// loopback) really receive the audio, and no answer ever shows a stream key.
func TestEngineerRestreamsToPlatforms(t *testing.T) {
	s := newRecordingStage(t)
	tok, err := s.sm.Tokens.Performer("live", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, s.env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, 2*time.Minute))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := s.sm.Rooms.Participant(t.Context(), "live", "ada")
		return err == nil && len(p.Tracks) == 1
	}, wait, tick, "ada's track never appeared")

	twitch, youtube := testenv.ReceiveRTMP(t, "platform-a"), testenv.ReceiveRTMP(t, "platform-b")
	s.keepOutOfLogs(twitch.Key, youtube.Key)
	noKeys := func(body []byte) {
		t.Helper()
		assert.NotContains(t, string(body), twitch.Key, "a stream key in an answer")
		assert.NotContains(t, string(body), youtube.Key, "a stream key in an answer")
	}
	code, body := s.call(t, "POST", "/api/egress", map[string]any{"kind": "restream", "room": "live", "identity": "ada", "urls": []string{twitch.URL}})
	require.Equal(t, 201, code, "%s", body)
	noKeys(body)
	id := decodeAs[[]egress.Egress](t, body)[0].ID
	twitch.WaitAudio(t, 2*time.Second, time.Minute)

	code, body = s.call(t, "POST", "/api/stream/egress/"+id+"/destinations", map[string]any{"add": []string{youtube.URL}})
	require.Equal(t, 200, code, "%s", body)
	noKeys(body)
	assert.Len(t, decodeAs[egress.Egress](t, body).Streams, 2)
	youtube.WaitAudio(t, 2*time.Second, time.Minute)

	code, body = s.call(t, "POST", "/api/egress/"+id+"/destinations", map[string]any{"remove": []string{twitch.URL}})
	require.Equal(t, 200, code, "%s", body)
	noKeys(body)
	assert.True(t, twitch.WaitEnded(t, time.Minute), "the dropped platform's connection did not end cleanly")
	got, err := youtube.Audio()
	require.NoError(t, err)
	youtube.WaitAudio(t, got+time.Second, time.Minute) // the other platform goes on

	code, body = s.call(t, "GET", "/api/egress?room=live&active=true", nil)
	require.Equal(t, 200, code, "%s", body)
	noKeys(body)
	code, body = s.call(t, "DELETE", "/api/egress?id="+id, nil)
	require.Equal(t, 200, code, "%s", body)
	noKeys(body)
	assert.True(t, youtube.WaitEnded(t, time.Minute), "stopping did not end the stream cleanly")
}

// The engineer publishes the show as HLS from the dashboard: it runs, stops, and
// lands in the archive as one recording whose playlist, and every segment it
// names, download through the dashboard, with sound in them.
func TestEngineerStreamsHLS(t *testing.T) {
	s := newRecordingStage(t)
	tok, err := s.sm.Tokens.Performer("live", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, s.env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, time.Minute))
	require.NoError(t, err)
	if !poll(t, wait, "ada's track never appeared", func() (bool, string) {
		p, err := s.sm.Rooms.Participant(t.Context(), "live", "ada")
		return err == nil && len(p.Tracks) == 1, fmt.Sprint(p, err)
	}) {
		t.FailNow()
	}

	code, body := s.call(t, "POST", "/api/egress", map[string]any{"kind": "hls", "room": "live", "identity": "ada"})
	require.Equal(t, 201, code, "%s", body)
	started := decodeAs[[]egress.Egress](t, body)
	require.Len(t, started, 1)
	require.Equal(t, "hls", started[0].Kind)
	id := started[0].ID
	status := func(want egress.Status) func() (bool, string) {
		return func() (bool, string) {
			code, body, err := s.try(t, http.DefaultClient, "GET", "/api/egress?room=live", nil)
			var list []egress.Egress
			if err != nil || code != 200 || json.Unmarshal(body, &list) != nil {
				return false, seen(code, body, err)
			}
			for _, e := range list {
				if e.ID == id {
					return e.Status == want || e.Status == egress.Failed, seen(code, body, err)
				}
			}
			return false, seen(code, body, err)
		}
	}
	if !poll(t, wait, "the HLS egress never went active", status(egress.Active)) {
		t.FailNow()
	}
	time.Sleep(8 * time.Second) // a few segments of music (not a timing assertion)
	code, body = s.call(t, "DELETE", "/api/egress?id="+id, nil)
	require.Equal(t, 200, code, "%s", body)
	if !poll(t, 60*time.Second, "the HLS egress never completed", status(egress.Complete)) {
		t.FailNow()
	}

	code, body = s.call(t, "GET", "/api/recordings?room=live", nil)
	require.Equal(t, 200, code, "%s", body)
	list := decodeAs[[]archive.Recording](t, body)
	require.Len(t, list, 1, "the run is one recording: %s", body)
	run := list[0]
	assert.Equal(t, recordings.KindHLS, run.Kind)
	assert.Equal(t, id, run.EgressID)
	assert.Positive(t, run.Segments)
	require.True(t, strings.HasPrefix(run.DownloadURL, "/api/recordings/live/hls/") && strings.HasSuffix(run.DownloadURL, "/playlist.m3u8"), run.DownloadURL)

	code, playlist := s.call(t, "GET", run.DownloadURL, nil)
	require.Equal(t, 200, code, "%s", playlist)
	require.True(t, strings.HasPrefix(string(playlist), "#EXTM3U"), "%s", playlist)
	var segments []string
	for _, line := range strings.Split(string(playlist), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			segments = append(segments, line)
		}
	}
	require.NotEmpty(t, segments, "%s", playlist)
	assert.EqualValues(t, len(segments), run.Segments, "the archive counts the playlist's segments")
	var sound float64
	for _, seg := range segments {
		code, data := s.call(t, "GET", path.Dir(run.DownloadURL)+"/"+seg, nil)
		require.Equal(t, 200, code, "%s: %s", seg, data)
		sound += audioSeconds(t, data)
	}
	assert.Greater(t, sound, 4.0, "seconds of sound in the segments")
}

// egressReaches polls the dashboard's list of room's recordings until egress id
// reaches want, for at most a minute; a recording that failed fails the test.
func (s *stage) egressReaches(t *testing.T, room, id string, want egress.Status) {
	t.Helper()
	if !poll(t, time.Minute, "the recording never became "+string(want), func() (bool, string) {
		code, body, err := s.try(t, http.DefaultClient, "GET", "/api/egress?room="+room, nil)
		var list []egress.Egress
		if err != nil || code != 200 || json.Unmarshal(body, &list) != nil {
			return false, seen(code, body, err)
		}
		for _, e := range list {
			if e.ID == id && e.Status == egress.Failed {
				t.Errorf("egress failed: %s", e.Error)
				return true, ""
			}
			if e.ID == id && e.Status == want {
				return true, ""
			}
		}
		return false, seen(code, body, err)
	}) || t.Failed() {
		t.FailNow()
	}
}
