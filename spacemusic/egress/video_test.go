package egress_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// OBS sends 720p video and a 440 Hz tone over RTMP; from that one push the show
// is recorded as an MP4 and streamed as HLS with video, at once. The MP4 in the
// bucket holds H.264 at 1280x720 and AAC carrying the tone, as long as egress
// recorded; the HLS playlist is closed, browser-correct (no segment longer than
// its target duration), every segment it names is in the bucket, and they hold
// video and audio as long as egress recorded.
func TestRecordWhatOBSSends(t *testing.T) {
	testenv.RequireNetNS(t)
	testenv.HoldAllMediaLanes(t) // two video encodes at once: nothing else media beside them
	env, _ := testenv.Ingress(t)
	s := newStudioOn(t, env)
	ctx := context.Background()
	obs := s.obsLive720(t)
	t.Logf("obs-main publishes %+v", obs.Tracks)

	asked := time.Now()
	rec, err := s.egress.RecordVideo(ctx, "stage", egress.VideoOptions{Identity: "obs-main"})
	require.NoError(t, err)
	assert.Equal(t, "video", rec.Kind)
	hls, err := s.egress.HLS(ctx, "stage", "obs-main")
	require.NoError(t, err)
	assert.Equal(t, "hls", hls.Kind)
	for _, id := range []string{rec.ID, hls.ID} {
		e, err := s.egress.WaitFor(testenv.Within(t, wait), id, egress.Active)
		require.NoError(t, err)
		require.Equal(t, egress.Active, e.Status, e.Error)
	}
	// What each egress costs, from its handler process's CPU time while both run
	// (logged for the README; no assertion on it).
	cpu0 := map[string]time.Duration{}
	for _, id := range []string{rec.ID, hls.ID} {
		cpu0[id], _ = testenv.EgressCPU(id)
	}
	began := time.Now()
	time.Sleep(6 * time.Second) // music on tape (not a timing assertion)
	for name, id := range map[string]string{"mp4": rec.ID, "hls": hls.ID} {
		if cpu, ok := testenv.EgressCPU(id); ok {
			used, wall := cpu-cpu0[id], time.Since(began)
			t.Logf("%s egress: %.2f CPU s in %.2f s: %.1f CPU s per minute of recording", name, used.Seconds(), wall.Seconds(), used.Seconds()/wall.Minutes())
		}
	}
	stopped := time.Now()
	for _, id := range []string{rec.ID, hls.ID} {
		_, err = s.egress.Stop(ctx, id)
		require.NoError(t, err)
	}
	done := map[string]egress.Egress{}
	for _, id := range []string{rec.ID, hls.ID} {
		e, err := s.egress.WaitFor(testenv.Within(t, 2*wait), id, egress.Complete)
		require.NoError(t, err)
		require.Equal(t, egress.Complete, e.Status, e.Error)
		done[id] = e
		t.Logf("%s: asked at 0, started at %.2fs, stop asked at %.2fs, ended at %.2fs", id, e.StartedAt.Sub(asked).Seconds(),
			stopped.Sub(asked).Seconds(), e.EndedAt.Sub(asked).Seconds())
	}

	t.Run("mp4", func(t *testing.T) {
		e := done[rec.ID]
		assert.Equal(t, "video", e.Kind, "listed as a video recording")
		require.Len(t, e.Files, 1)
		f := e.Files[0]
		assert.Regexp(t, `^stage/\d{4}-\d\d-\d\dT\d{6}Z-[a-z2-7]{13}\.mp4$`, f.Key, "<room>/<UTC time>-<unique id>.mp4")
		local := filepath.Join(t.TempDir(), "rec.mp4")
		require.NoError(t, s.bucket(t).FGetObject(ctx, s.storage.Bucket, f.Key, local, minio.GetObjectOptions{}))
		p := probe(t, local)
		v, a := p.stream("video"), p.stream("audio")
		require.NotNil(t, v, "no video stream: %+v", p)
		require.NotNil(t, a, "no audio stream: %+v", p)
		assert.Equal(t, "h264", v.Codec)
		assert.Equal(t, 1280, v.Width, "recorded at the size OBS sends")
		assert.Equal(t, 720, v.Height)
		assert.Equal(t, "aac", a.Codec)
		assert.Equal(t, 2, a.Channels, "stereo")
		// What egress recorded, by its own clock: the file's duration as egress
		// reports it. The file cannot be measured against our request: egress
		// starts a second or two later, and its start (StartedAt) is reported up
		// to a second or so after the first frame it keeps, while the video runs
		// on a moment after our stop. So the video must be as long as egress
		// says (±1 s), hold at least what we let it record (from egress's
		// start to our stop), and nothing from beyond the egress's life. The
		// audio goes on past the video with the silence egress writes while the
		// stop drains its pipeline.
		span, ran := stopped.Sub(e.StartedAt), e.EndedAt.Sub(e.StartedAt)
		t.Logf("mp4: %s, %.2fs (video %.2fs, audio %.2fs at %s b/s); egress recorded %.2fs until our stop, ran %.2fs, reports %.2fs",
			f.Key, p.duration().Seconds(), v.duration().Seconds(), a.duration().Seconds(), a.BitRate, span.Seconds(), ran.Seconds(), f.Duration.Seconds())
		assert.InDelta(t, f.Duration.Seconds(), v.duration().Seconds(), 1.0, "the video is as long as egress recorded")
		listed, err := s.store.Duration(ctx, f.Key)
		require.NoError(t, err)
		assert.InDelta(t, p.duration().Seconds(), listed.Seconds(), 0.1, "the store reads the file's length from its movie header")
		assert.GreaterOrEqual(t, v.duration().Seconds(), span.Seconds()-1, "the video holds egress's start to our stop")
		assert.LessOrEqual(t, v.duration().Seconds(), ran.Seconds(), "no video from beyond the egress's life")
		assert.GreaterOrEqual(t, a.duration().Seconds(), span.Seconds()-1, "audio all along")
		assert.LessOrEqual(t, a.duration().Seconds(), ran.Seconds()+1, "no audio from beyond the egress's life")
		from, to, timeline := toneSpan(t, local, 440)
		t.Logf("mp4: the tone runs %.1fs-%.1fs: %s", from.Seconds(), to.Seconds(), timeline)
		// A music video with holes in its sound is no recording: egress drops
		// audio when its encoders fall behind (seen with two 1080p encodes on
		// our 2 cores).
		assert.Zero(t, from, "the tone from the first moment")
		assert.GreaterOrEqual(t, to.Seconds(), v.duration().Seconds()-1, "the tone as long as the video")
		assert.InDelta(t, 440, testenv.DominantFrequency(t, local), 10, "the recording carries OBS's tone")
	})

	t.Run("hls", func(t *testing.T) {
		e := done[hls.ID]
		require.Len(t, e.Playlists, 1, "%+v", e)
		pl := e.Playlists[0]
		require.True(t, strings.HasPrefix(pl.Key, "stage/hls/") && strings.HasSuffix(pl.Key, ".m3u8"), pl.Key)
		dir := t.TempDir()
		local := filepath.Join(dir, path.Base(pl.Key))
		require.NoError(t, s.bucket(t).FGetObject(ctx, s.storage.Bucket, pl.Key, local, minio.GetObjectOptions{}))
		m := readPlaylist(t, local)
		t.Logf("hls: target %ds, segments %v", m.target, m.durations)
		assert.True(t, m.closed, "a stopped show's playlist ends with #EXT-X-ENDLIST")
		require.NotEmpty(t, m.segments)
		require.Positive(t, m.target, "#EXT-X-TARGETDURATION")
		var total float64
		for i, d := range m.durations {
			// RFC 8216 4.3.3.1: each EXTINF, rounded, at most the target; hls.js
			// and Safari stall or refuse otherwise.
			assert.LessOrEqual(t, int(math.Round(d)), m.target, "segment %d is %.3fs, longer than the target", i, d)
			total += d
		}
		listed, err := s.store.Duration(ctx, pl.Key)
		require.NoError(t, err)
		assert.InDelta(t, total, listed.Seconds(), 0.01, "the store sums the playlist's segments")
		for _, seg := range m.segments {
			key := path.Join(path.Dir(pl.Key), seg)
			require.NoError(t, s.bucket(t).FGetObject(ctx, s.storage.Bucket, key, filepath.Join(dir, seg), minio.GetObjectOptions{}), "%s is not in the bucket", key)
		}
		assert.EqualValues(t, len(m.segments), pl.Segments, "egress counts the segments the playlist names")
		span := stopped.Sub(e.StartedAt) // as for the MP4
		t.Logf("hls: %d segments, %.2fs; egress recorded %.2fs until our stop and reports %.2fs", len(m.segments), total, span.Seconds(), pl.Duration.Seconds())
		assert.InDelta(t, pl.Duration.Seconds(), total, 1.0, "the segments are as long as egress recorded")
		assert.GreaterOrEqual(t, total, span.Seconds()-1, "the segments hold egress's start to our stop")
		assert.LessOrEqual(t, total, e.EndedAt.Sub(e.StartedAt).Seconds(), "nothing from beyond the egress's life")
		p := probe(t, local)
		v, a := p.stream("video"), p.stream("audio")
		require.NotNil(t, v, "the segments carry no video: %+v", p)
		require.NotNil(t, a, "the segments carry no audio: %+v", p)
		assert.Equal(t, "h264", v.Codec)
		assert.Equal(t, 1280, v.Width, "at the size OBS sends, not egress's default 1920x1080")
		assert.Equal(t, 720, v.Height)
		assert.Equal(t, "aac", a.Codec)
		assert.InDelta(t, 440, testenv.DominantFrequency(t, local), 10, "the segments play back OBS's tone")
	})

	// A performer without a camera has no video to record: refused, and
	// nothing more starts.
	s.perform(t, "stage", "ada", 440)
	_, err = s.egress.RecordVideo(ctx, "stage", egress.VideoOptions{Identity: "ada"})
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition)
	active, err := s.egress.List(ctx, egress.ListOptions{Room: "stage", Active: true})
	require.NoError(t, err)
	assert.Empty(t, active, "a refused video recording starts nothing")
}

// probed is what ffprobe says of a file's container and streams.
type probed struct {
	Streams []probedStream `json:"streams"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

type probedStream struct {
	Type     string `json:"codec_type"`
	Codec    string `json:"codec_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Channels int    `json:"channels"`
	Duration string `json:"duration"`
	BitRate  string `json:"bit_rate"`
}

func probe(t *testing.T, file string) probed {
	t.Helper()
	out, err := exec.Command(testenv.Binary(t, "ffprobe", "ffmpeg"), "-v", "error", "-show_streams", "-show_format", "-of", "json", file).Output()
	require.NoError(t, err, "ffprobe %s", file)
	var p probed
	require.NoError(t, json.Unmarshal(out, &p), "%s", out)
	return p
}

func (p probed) stream(kind string) *probedStream {
	for i := range p.Streams {
		if p.Streams[i].Type == kind {
			return &p.Streams[i]
		}
	}
	return nil
}

func (p probed) duration() time.Duration { return seconds(p.Format.Duration) }

func (s probedStream) duration() time.Duration { return seconds(s.Duration) }

func seconds(v string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	return time.Duration(f * float64(time.Second))
}

// playlist is an HLS media playlist as a player reads it.
type playlist struct {
	target    int       // #EXT-X-TARGETDURATION
	durations []float64 // each #EXTINF
	segments  []string
	closed    bool // #EXT-X-ENDLIST
}

func readPlaylist(t *testing.T, file string) playlist {
	t.Helper()
	text, err := os.ReadFile(file)
	require.NoError(t, err)
	var m playlist
	sc := bufio.NewScanner(strings.NewReader(string(text)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			m.target, err = strconv.Atoi(strings.TrimPrefix(line, "#EXT-X-TARGETDURATION:"))
			require.NoError(t, err, line)
		case strings.HasPrefix(line, "#EXTINF:"):
			d, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			f, err := strconv.ParseFloat(d, 64)
			require.NoError(t, err, line)
			m.durations = append(m.durations, f)
		case line == "#EXT-X-ENDLIST":
			m.closed = true
		case line != "" && !strings.HasPrefix(line, "#"):
			m.segments = append(m.segments, line)
		}
	}
	require.Equal(t, len(m.segments), len(m.durations), "one #EXTINF per segment:\n%s", text)
	return m
}

// obsLive720 puts OBS on the stage: an RTMP ingress with one 720p layer (it
// encodes what the tests need and no more), fed 720p video and a 440 Hz tone
// by ffmpeg, until both its tracks are in the room.
func (s *studio) obsLive720(t *testing.T) rooms.Participant {
	t.Helper()
	ctx := context.Background()
	is, err := ingress.New(ingress.Config{URL: s.env.URL, APIKey: s.env.APIKey, APISecret: s.env.APISecret})
	require.NoError(t, err)
	in, err := is.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "stage", Identity: "obs-main"},
		VideoPreset: "H264_720P_30FPS_1_LAYER"})
	require.NoError(t, err)
	testenv.PushRTMP720(t, in.PublishURL, 60*time.Second) // ended by the test's end, long before
	_, err = is.WaitFor(testenv.Within(t, wait), in.ID, ingress.Publishing)
	require.NoError(t, err)
	rs := s.rooms(t)
	var obs rooms.Participant
	require.Eventually(t, func() bool {
		obs, err = rs.Participant(ctx, "stage", "obs-main")
		return err == nil && len(obs.Tracks) == 2
	}, wait, 100*time.Millisecond, "the ingress's audio and video never appeared in the room: %+v", &obs)
	return obs
}
