package recordings_test

import (
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/internal/errs"
)

// A recording's length is read from the file: two real Ogg Opus files (one
// smaller than the tail that is read, one larger) play as long as they were
// encoded; other files, broken ones, missing ones and hostile keys are refused
// with the one error scheme.
func TestAnOggRecordingSaysHowLongItPlays(t *testing.T) {
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

	b.put(t, "recordings", "jam/noise.ogg", randomBytes(t, 5000))
	_, err := s.Duration(ctx, "jam/noise.ogg")
	assert.ErrorIs(t, err, errs.ErrFailedPrecondition, "not an Ogg Opus file")
	_, err = s.Duration(ctx, "jam/never.ogg")
	assert.ErrorIs(t, err, errs.ErrNotFound)
	for _, bad := range []string{"jam/video.mp4", "../etc/passwd.ogg", "/abs.ogg"} {
		_, err = s.Duration(ctx, bad)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, bad)
	}
}
