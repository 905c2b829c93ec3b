package recordings_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// A recording's length is read from the file: two real Ogg Opus files (one
// smaller than the tail that is read, one larger), an MP4 with its moov box
// last (as egress writes it) and first, and an HLS playlist play as long as
// they were made; files that are not what their names say, broken ones,
// missing ones and hostile keys are refused with the one error scheme.
func TestARecordingSaysHowLongItPlays(t *testing.T) {
	b := newMinIO(t)
	ctx := t.Context()
	require.NoError(t, b.mc.MakeBucket(ctx, "recordings", minio.MakeBucketOptions{Region: "us-east-1"}))
	s := b.store(t, "recordings", nil)
	for _, d := range []time.Duration{3 * time.Second, 20 * time.Second} {
		data, err := os.ReadFile(testenv.Tone(t, 440, d))
		require.NoError(t, err)
		key := "jam/" + d.String() + ".ogg"
		b.put(t, "recordings", key, data)
		got, err := s.Duration(ctx, key)
		require.NoError(t, err, key)
		assert.InDelta(t, d.Seconds(), got.Seconds(), 0.03, "%s (%d bytes)", key, len(data))
	}

	// MP4 as egress writes it (moov after the media) and as a web upload would
	// (moov first): the movie header's duration, whatever the order.
	for _, faststart := range []bool{false, true} {
		key := fmt.Sprintf("jam/video-faststart-%v.mp4", faststart)
		b.put(t, "recordings", key, mp4(t, 4*time.Second, faststart))
		got, err := s.Duration(ctx, key)
		require.NoError(t, err, key)
		assert.InDelta(t, 4.0, got.Seconds(), 0.05, key)
	}
	// An HLS playlist plays for the sum of its segments.
	b.put(t, "recordings", "jam/hls/x/playlist.m3u8", []byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n"+
		"#EXTINF:4.000,\nsegment_00000.ts\n#EXTINF:4.000,\nsegment_00001.ts\n#EXTINF:0.167,\nsegment_00002.ts\n#EXT-X-ENDLIST\n"))
	got, err := s.Duration(ctx, "jam/hls/x/playlist.m3u8")
	require.NoError(t, err)
	assert.Equal(t, 8167*time.Millisecond, got)
	for key, junk := range map[string][]byte{
		"jam/fake.mp4":        randomBytes(t, 3000),
		"jam/cut.mp4":         mp4(t, 2*time.Second, false)[:2000], // a box runs past the end
		"jam/hls/y/list.m3u8": []byte("<html>not a playlist</html>"),
		"jam/hls/z/list.m3u8": []byte("#EXTM3U\n#EXTINF:NaN,\nx.ts\n"),
		"jam/hls/w/huge.m3u8": []byte("#EXTM3U\n#EXTINF:1e308,\nx.ts\n"),
	} {
		b.put(t, "recordings", key, junk)
		_, err := s.Duration(ctx, key)
		assert.ErrorIs(t, err, errs.ErrFailedPrecondition, key)
	}

	b.put(t, "recordings", "jam/noise.ogg", randomBytes(t, 5000))
	_, err = s.Duration(ctx, "jam/noise.ogg")
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition, "not an Ogg Opus file")
	_, err = s.Duration(ctx, "jam/never.ogg")
	assert.ErrorIs(t, err, errs.ErrNotFound)
	for _, bad := range []string{"jam/video.webm", "../etc/passwd.ogg", "/abs.ogg"} {
		_, err = s.Duration(ctx, bad)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, bad)
	}
}

// mp4 is d of a 440 Hz tone as AAC in MP4, with its moov box first or last.
func mp4(t *testing.T, d time.Duration, faststart bool) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "v.mp4")
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%.3f", d.Seconds()),
		"-c:a", "aac", "-b:a", "64k"}
	if faststart {
		args = append(args, "-movflags", "+faststart")
	}
	b, err := exec.Command(testenv.Binary(t, "ffmpeg", "ffmpeg"), append(args, out)...).CombinedOutput()
	require.NoError(t, err, "%s", b)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	return data
}
