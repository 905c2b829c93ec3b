package egress_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
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

	first := receiveRTMP(t, "platform-a")
	rs, err := s.egress.Restream(ctx, "stage", "ada", first.URL)
	require.NoError(t, err)
	assert.Equal(t, "restream", rs.Kind)
	live, err := s.egress.WaitFor(ctxFor(t, wait), rs.ID, egress.Active)
	require.NoError(t, err)
	require.Equal(t, egress.Active, live.Status, live.Error)
	require.Len(t, live.Streams, 1)
	assert.Equal(t, egress.RedactURL(first.URL), live.Streams[0].URL)
	assert.Equal(t, "active", live.Streams[0].Status)
	first.waitAudio(t, 3*time.Second)

	// A second platform joins while the show is live.
	second := receiveRTMP(t, "platform-b")
	both, err := s.egress.AddDestinations(ctx, rs.ID, second.URL)
	require.NoError(t, err)
	assert.Equal(t, "restream", both.Kind)
	assert.Len(t, both.Streams, 2)
	second.waitAudio(t, 3*time.Second)
	first.waitAudio(t, 6*time.Second) // the first platform was not interrupted

	// The first platform is dropped: egress closes that connection (the ingest sees
	// its publisher leave) and reports the stream finished; the second goes on.
	_, err = s.egress.RemoveDestinations(ctx, rs.ID, first.URL)
	require.NoError(t, err)
	first.waitEnded(t)
	var after egress.Egress
	require.Eventually(t, func() bool {
		e, err := s.egress.Get(ctx, rs.ID)
		after = e
		return err == nil && streamStatus(e, first.URL) == "finished"
	}, wait, 200*time.Millisecond, "the removed destination never showed as finished: %+v", &after)
	assert.Equal(t, egress.Active, after.Status, "one destination left: the restream goes on")
	assert.Equal(t, "active", streamStatus(after, second.URL))
	before := second.seconds(t)
	second.waitAudio(t, before+2*time.Second)

	_, err = s.egress.Stop(ctx, rs.ID)
	require.NoError(t, err)
	done, err := s.egress.WaitFor(ctxFor(t, wait), rs.ID, egress.Complete)
	require.NoError(t, err)
	require.Equal(t, egress.Complete, done.Status, done.Error)
	require.Len(t, done.Streams, 2)
	for _, st := range done.Streams {
		assert.Equal(t, "finished", st.Status, "%s: %s", st.URL, st.Error)
		assert.Empty(t, st.Error)
	}
	second.waitEnded(t)

	// What the platforms got: stereo AAC carrying the tone, not silence, and no
	// stream key anywhere in what the library reports.
	for _, r := range []*rtmpReceiver{first, second} {
		codec, channels := audioStream(t, r.File)
		assert.Equal(t, "aac", codec, r.Name)
		assert.Equal(t, 2, channels, r.Name)
		assert.Greater(t, meanVolume(t, r.File), -40.0, "%s received silence", r.Name)
		t.Logf("%s received %.1fs of %s audio", r.Name, r.seconds(t).Seconds(), codec)
	}
	for _, st := range done.Streams {
		assert.NotContains(t, st.URL, first.key)
		assert.NotContains(t, st.URL, second.key)
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
	live, err := s.egress.WaitFor(ctxFor(t, wait), h.ID, egress.Active)
	require.NoError(t, err)
	require.Equal(t, egress.Active, live.Status, live.Error)

	// Segments are uploaded while the show is live, not only at the end.
	require.Eventually(t, func() bool {
		list, err := s.store.List(ctx, "stage")
		if err != nil {
			return false
		}
		for _, r := range list {
			if strings.HasSuffix(r.Key, ".ts") {
				return true
			}
		}
		return false
	}, wait, 250*time.Millisecond, "no HLS segment reached the bucket while live")

	_, err = s.egress.Stop(ctx, h.ID)
	require.NoError(t, err)
	done, err := s.egress.WaitFor(ctxFor(t, wait), h.ID, egress.Complete)
	require.NoError(t, err)
	require.Equal(t, egress.Complete, done.Status, done.Error)

	// Copy the show's HLS objects out of the bucket, as a CDN would serve them.
	list, err := s.store.List(ctx, "stage")
	require.NoError(t, err)
	dir := t.TempDir()
	var playlist string
	inBucket := map[string]bool{}
	for _, r := range list {
		require.True(t, strings.HasPrefix(r.Key, "stage/hls/"), "unexpected object %s", r.Key)
		name := path.Base(r.Key)
		inBucket[name] = true
		link, err := s.store.DownloadURL(ctx, r.Key, time.Minute)
		require.NoError(t, err)
		fetch(t, link, filepath.Join(dir, name))
		if strings.HasSuffix(name, ".m3u8") && !strings.HasPrefix(name, "live") {
			playlist = filepath.Join(dir, name)
		}
	}
	require.NotEmpty(t, playlist, "no playlist in the bucket: %v", inBucket)

	text, err := os.ReadFile(playlist)
	require.NoError(t, err)
	assert.Contains(t, string(text), "#EXTM3U")
	assert.Contains(t, string(text), "#EXT-X-ENDLIST", "a stopped show's playlist is closed")
	var segments []string
	sc := bufio.NewScanner(strings.NewReader(string(text)))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			segments = append(segments, line)
			assert.True(t, inBucket[path.Base(line)], "the playlist names %s, which is not in the bucket", line)
		}
	}
	require.NotEmpty(t, segments, "the playlist names no segments:\n%s", text)

	// The finished egress says where its playlist is and how much it holds.
	require.Len(t, done.Playlists, 1, "%+v", done)
	pl := done.Playlists[0]
	assert.True(t, inBucket[path.Base(pl.Key)], "the egress names %s, which is not in the bucket", pl.Key)
	assert.Equal(t, playlist, filepath.Join(dir, path.Base(pl.Key)), "the closed playlist")
	assert.EqualValues(t, len(segments), pl.Segments)
	assert.Greater(t, pl.Duration, 2*time.Second)

	codec, channels := audioStream(t, playlist)
	assert.Equal(t, "aac", codec)
	assert.Equal(t, 2, channels)
	played := decodedDuration(t, playlist)
	assert.Greater(t, played, 2*time.Second, "the playlist plays back")
	assert.Greater(t, meanVolume(t, playlist), -40.0, "the HLS audio must not be silent")
	t.Logf("%d segments, %.1fs of audio; objects: %d", len(segments), played.Seconds(), len(list))
}

// rtmpReceiver stands in for a streaming platform's RTMP ingest: ffmpeg listens on
// loopback for one publisher and copies what it sends into an FLV file. It ends when
// the publisher disconnects.
type rtmpReceiver struct {
	Name, URL, File string
	key             string
	ffmpeg          string
	proc            *testenv.Process
}

const receiverExited = "rtmp receiver exited with status"

func receiveRTMP(t *testing.T, name string) *rtmpReceiver {
	t.Helper()
	port := testenv.FreePort(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	r := &rtmpReceiver{Name: name, key: "sk_" + hex.EncodeToString(b), File: filepath.Join(t.TempDir(), name+".flv")}
	r.URL = fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", port, r.key)
	r.ffmpeg = testenv.Binary(t, "ffmpeg", "ffmpeg")
	script := `"$0" "$@"; echo "` + receiverExited + ` $?"`
	// -flush_packets 1: write each packet through, or the file grows in 256 KiB
	// steps (~16 s of audio) and lags what the ingest has received.
	r.proc = testenv.StartProcess(t, name, "/bin/bash", []string{"-c", script, r.ffmpeg,
		"-hide_banner", "-loglevel", "info", "-listen", "1", "-i", r.URL,
		"-c", "copy", "-flush_packets", "1", "-f", "flv", "-y", r.File})
	// Wait for the listening socket without connecting: the ingest takes one
	// connection only, so a probe would use it up.
	require.Eventually(t, func() bool { return listening(port) }, 10*time.Second, 20*time.Millisecond,
		"%s never listened on port %d:\n%s", name, port, r.proc.Output())
	return r
}

// waitAudio waits until the receiver's file decodes to at least d of audio.
func (r *rtmpReceiver) waitAudio(t *testing.T, d time.Duration) {
	t.Helper()
	var got time.Duration
	began := time.Now()
	require.Eventually(t, func() bool {
		got, _ = audioLength(r.ffmpeg, r.File)
		return got >= d
	}, wait+d, 250*time.Millisecond, "%s received %s of audio, want %s:\n%s", r.Name, &got, d, r.proc.Output())
	t.Logf("%s holds %.1fs of audio (waited %.1fs for %s)", r.Name, got.Seconds(), time.Since(began).Seconds(), d)
}

// seconds is how much audio the receiver holds so far.
func (r *rtmpReceiver) seconds(t *testing.T) time.Duration {
	t.Helper()
	d, err := audioLength(r.ffmpeg, r.File)
	require.NoError(t, err)
	return d
}

// waitEnded waits until the publisher has left and the ingest has closed its file.
func (r *rtmpReceiver) waitEnded(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(r.proc.Output(), receiverExited) },
		wait, 100*time.Millisecond, "%s: the publisher never left:\n%s", r.Name, r.proc.Output())
	assert.Contains(t, r.proc.Output(), receiverExited+" 0", "%s did not end cleanly", r.Name)
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

// listening reports whether a TCP socket listens on 127.0.0.1:port (from /proc).
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// audioLength decodes a (possibly still growing) file and counts its samples.
func audioLength(ffmpeg, file string) (time.Duration, error) {
	out, err := exec.Command(ffmpeg, "-v", "error", "-i", file, "-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-").Output()
	if len(out) == 0 && err != nil {
		return 0, err
	}
	return time.Duration(len(out)/2) * time.Second / 48000, nil
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
