package egress_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
)

// These tests need the egress scripts/stack builds: egress v1.8.6 encodes AAC with
// GStreamer's faac, which Debian does not ship, so the stack patches it to use
// avenc_aac (gstreamer1.0-libav). An unpatched egress fails every test here with
// "could not create element: faac".

// The show goes out to a streaming platform, then to a second one while live; the
// first is dropped, the second keeps receiving, and Stop ends it. Each "platform" is
// an RTMP ingest on loopback that keeps what it receives, so the test checks the
// audio that arrived, not only what egress reports.
func TestRestreamToPlatforms(t *testing.T) {
	s := newStudio(t)
	ctx := context.Background()
	s.perform(t, "stage", "ada", 440)
	seen := hear(t) // every answer and log line, searched for stream keys at the end

	first := testenv.ReceiveRTMP(t, "platform-a")
	rs, err := s.egress.Restream(ctx, "stage", "ada", first.URL)
	require.NoError(t, err)
	seen.answer(rs)
	assert.Equal(t, "restream", rs.Kind)
	live, err := s.egress.WaitFor(testenv.Within(t, wait), rs.ID, egress.Active)
	require.NoError(t, err)
	seen.answer(live)
	require.Equal(t, egress.Active, live.Status, live.Error)
	require.Len(t, live.Streams, 1)
	assert.Equal(t, egress.RedactURL(first.URL), live.Streams[0].URL)
	assert.Equal(t, "active", live.Streams[0].Status)
	first.WaitAudio(t, 3*time.Second, wait)

	// A second platform joins while the show is live.
	second := testenv.ReceiveRTMP(t, "platform-b")
	both, err := s.egress.AddDestinations(ctx, rs.ID, second.URL)
	require.NoError(t, err)
	seen.answer(both)
	assert.Equal(t, "restream", both.Kind)
	assert.Len(t, both.Streams, 2)
	second.WaitAudio(t, 3*time.Second, wait)
	first.WaitAudio(t, 6*time.Second, wait) // the first platform was not interrupted

	// Refusals name the destination too: a URL that is not RTMP, one without a
	// host, each carrying a real key.
	_, err = s.egress.AddDestinations(ctx, rs.ID, "https://platform.example/live/"+second.Key)
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
	seen.answer(err)
	_, err = s.egress.Restream(ctx, "stage", "ada", "rtmp:///live/"+first.Key)
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
	seen.answer(err)

	// The first platform is dropped: egress closes that connection (the ingest sees
	// its publisher leave) and reports the stream finished; the second goes on.
	removed, err := s.egress.RemoveDestinations(ctx, rs.ID, first.URL)
	require.NoError(t, err)
	seen.answer(removed)
	assert.True(t, first.WaitEnded(t, wait), "platform-a did not end cleanly")
	var after egress.Egress
	require.Eventually(t, func() bool {
		e, err := s.egress.Get(ctx, rs.ID)
		after = e
		return err == nil && streamStatus(e, first.URL) == "finished"
	}, wait, 200*time.Millisecond, "the removed destination never showed as finished: %+v", &after)
	seen.answer(after)
	assert.Equal(t, egress.Active, after.Status, "one destination left: the restream goes on")
	assert.Equal(t, "active", streamStatus(after, second.URL))
	before, err := second.Audio()
	require.NoError(t, err)
	second.WaitAudio(t, before+2*time.Second, wait)
	listed, err := s.egress.List(ctx, egress.ListOptions{Room: "stage"})
	require.NoError(t, err)
	seen.answer(listed)

	stopping, err := s.egress.Stop(ctx, rs.ID)
	require.NoError(t, err)
	seen.answer(stopping)
	done, err := s.egress.WaitFor(testenv.Within(t, wait), rs.ID, egress.Complete)
	require.NoError(t, err)
	seen.answer(done)
	require.Equal(t, egress.Complete, done.Status, done.Error)
	require.Len(t, done.Streams, 2)
	for _, st := range done.Streams {
		assert.Equal(t, "finished", st.Status, "%s: %s", st.URL, st.Error)
		assert.Empty(t, st.Error)
	}
	assert.True(t, second.WaitEnded(t, wait), "platform-b did not end cleanly")

	// What the platforms got: stereo AAC carrying ada's tone, not silence, and no
	// stream key anywhere in what the library answered or logged.
	for _, r := range []*testenv.RTMPIngest{first, second} {
		codec, channels := audioStream(t, r.File)
		assert.Equal(t, "aac", codec, r.Name)
		assert.Equal(t, 2, channels, r.Name)
		assert.Greater(t, meanVolume(t, r.File), -40.0, "%s received silence", r.Name)
		heard := testenv.Listen(t, r.File)
		assert.InDelta(t, 440, heard.Frequency, 10, "%s received ada's tone: %+v", r.Name, heard)
		t.Logf("%s received %.1fs of %s audio: %+v", r.Name, received(t, r).Seconds(), codec, heard)
	}
	for _, st := range done.Streams {
		assert.NotContains(t, st.URL, first.Key)
		assert.NotContains(t, st.URL, second.Key)
	}
	seen.noSecret(t, first.Key, second.Key)
}

// witness keeps every answer a test got from the library, and every line logged
// meanwhile (the default slog logger writes into it for the test's length), to
// search them for secrets.
type witness struct {
	log     *slog.Logger
	lines   testenv.Buffer
	answers []string
}

func hear(t *testing.T) *witness {
	w := &witness{}
	w.log = slog.New(slog.NewJSONHandler(&w.lines, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prev := slog.Default()
	slog.SetDefault(w.log)
	t.Cleanup(func() { slog.SetDefault(prev) })
	return w
}

// answer records v as a caller would print, encode and log it.
func (w *witness) answer(v any) {
	js, err := json.Marshal(v)
	if err != nil {
		js = []byte(err.Error())
	}
	w.answers = append(w.answers, fmt.Sprintf("%+v", v), fmt.Sprintf("%v", v), string(js))
	w.log.Info("answer", "value", v)
}

func (w *witness) noSecret(t *testing.T, secrets ...string) {
	t.Helper()
	require.NotEmpty(t, w.answers)
	logged := w.lines.String()
	require.NotEmpty(t, logged)
	for _, secret := range secrets {
		for _, a := range w.answers {
			assert.NotContains(t, a, secret, "an answer holds a stream key")
		}
		for line := range strings.Lines(logged) {
			assert.NotContains(t, line, secret, "a log line holds a stream key")
		}
	}
}

// The show as HLS: the playlist and its segments land in the bucket, the playlist
// is closed when the egress stops, every segment it names is there, and together
// they play back as the tone.
func TestHLSIntoTheBucket(t *testing.T) {
	s := newStudio(t)
	ctx := context.Background()
	s.perform(t, "stage", "ada", 440)

	h, err := s.egress.HLS(ctx, "stage", "")
	require.NoError(t, err)
	assert.Equal(t, "hls", h.Kind)
	live, err := s.egress.WaitFor(testenv.Within(t, wait), h.ID, egress.Active)
	require.NoError(t, err)
	require.Equal(t, egress.Active, live.Status, live.Error)

	// Segments are uploaded while the show is live, not only at the end (the
	// archive shows them as loose files, or as the run's one HLS recording once
	// its playlist is there).
	require.Eventually(t, func() bool {
		list, err := s.store.List(ctx, "stage")
		if err != nil {
			return false
		}
		for _, r := range list {
			if strings.HasSuffix(r.Key, ".ts") || (r.Kind == recordings.KindHLS && r.Segments > 0) {
				return true
			}
		}
		return false
	}, wait, 250*time.Millisecond, "no HLS segment reached the bucket while live")

	_, err = s.egress.Stop(ctx, h.ID)
	require.NoError(t, err)
	done, err := s.egress.WaitFor(testenv.Within(t, wait), h.ID, egress.Complete)
	require.NoError(t, err)
	require.Equal(t, egress.Complete, done.Status, done.Error)

	// The archive lists the run as one HLS recording keyed by its closed playlist.
	list, err := s.store.List(ctx, "stage")
	require.NoError(t, err)
	require.Len(t, list, 1, "one HLS run, one recording: %+v", list)
	rec := list[0]
	assert.Equal(t, recordings.KindHLS, rec.Kind)
	require.True(t, strings.HasPrefix(rec.Key, "stage/hls/") && strings.HasSuffix(rec.Key, ".m3u8") &&
		!strings.HasPrefix(path.Base(rec.Key), "live"), "the recording's key is the closed playlist: %s", rec.Key)

	// Copy the playlist and every segment it names out of the bucket, as a CDN
	// would serve them: each one must be there, beside the playlist.
	dir := t.TempDir()
	playlist := filepath.Join(dir, path.Base(rec.Key))
	download := func(key, to string) {
		link, err := s.store.DownloadURL(ctx, key, time.Minute)
		require.NoError(t, err, "%s is not in the bucket", key)
		fetch(t, link, to)
	}
	download(rec.Key, playlist)
	text, err := os.ReadFile(playlist)
	require.NoError(t, err)
	assert.Contains(t, string(text), "#EXTM3U")
	assert.Contains(t, string(text), "#EXT-X-ENDLIST", "a stopped show's playlist is closed")
	var segments []string
	sc := bufio.NewScanner(strings.NewReader(string(text)))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			segments = append(segments, line)
			download(path.Join(path.Dir(rec.Key), line), filepath.Join(dir, path.Base(line)))
		}
	}
	require.NotEmpty(t, segments, "the playlist names no segments:\n%s", text)
	assert.Equal(t, len(segments), rec.Segments, "the archive counts the run's segments")

	// The finished egress says where its playlist is and how much it holds.
	require.Len(t, done.Playlists, 1, "%+v", done)
	pl := done.Playlists[0]
	assert.Equal(t, rec.Key, pl.Key, "the egress names the playlist the archive lists")
	assert.EqualValues(t, len(segments), pl.Segments)
	assert.Greater(t, pl.Duration, 2*time.Second)

	codec, channels := audioStream(t, playlist)
	assert.Equal(t, "aac", codec)
	assert.Equal(t, 2, channels)
	played := decodedDuration(t, playlist)
	assert.Greater(t, played, 2*time.Second, "the playlist plays back")
	assert.Greater(t, meanVolume(t, playlist), -40.0, "the HLS audio must not be silent")
	heard := testenv.Listen(t, playlist)
	assert.InDelta(t, 440, heard.Frequency, 10, "the segments play back ada's tone: %+v", heard)
	t.Logf("%d segments, %.1fs of audio: %+v", len(segments), played.Seconds(), heard)
}

// streamStatus is the status of the destination url in e, or "" when absent.
func streamStatus(e egress.Egress, url string) string {
	for _, st := range e.Streams {
		if st.URL == egress.RedactURL(url) {
			return st.Status
		}
	}
	return ""
}

// audioStream is the codec and channel count of the file's first audio stream.
func audioStream(t *testing.T, file string) (string, int) {
	t.Helper()
	out, err := exec.Command(testenv.Binary(t, "ffprobe", "ffmpeg"), "-v", "error", "-select_streams", "a:0",
		"-show_entries", "stream=codec_name,channels", "-of", "csv=p=0", file).Output()
	require.NoError(t, err)
	// A playlist lists the stream once per program; the first line is enough.
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	f := strings.Split(strings.TrimSpace(first), ",")
	require.Len(t, f, 2, "ffprobe: %q", out)
	n, err := strconv.Atoi(f[1])
	require.NoError(t, err)
	return f[0], n
}

func fetch(t *testing.T, link, out string) {
	t.Helper()
	resp, err := http.Get(link)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	f, err := os.Create(out)
	require.NoError(t, err)
	_, err = io.Copy(f, resp.Body)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func received(t *testing.T, r *testenv.RTMPIngest) time.Duration {
	t.Helper()
	d, err := r.Audio()
	require.NoError(t, err)
	return d
}
