package egress

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/spacemusic/streamkit/spacemusic/internal/errs"
)

func TestRedactURLHidesTheStreamKey(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://live.twitch.tv/app/live_1234_secret":   "rtmp://live.twitch.tv/app/{redacted}",
		"rtmps://user:pw@a.rtmp.youtube.com/live2/key": "rtmps://a.rtmp.youtube.com/live2/{redacted}",
		"rtmp://127.0.0.1:1935/x/key?token=abc":        "rtmp://127.0.0.1:1935/x/{redacted}",
		"::not a url":                                  "[redacted]",
	} {
		assert.Equal(t, want, RedactURL(in))
	}
}

func TestDestinationsMustBeRTMP(t *testing.T) {
	assert.NoError(t, checkRTMP("op", []string{"rtmp://h/app/key", "rtmps://h:443/app/key"}, true))
	for _, bad := range [][]string{nil, {"http://h/app/key"}, {"rtmp:///app/key"}, {"rtmp://h"}, {"rtmp://h/app/key", "nope"}} {
		err := checkRTMP("op", bad, true)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, fmt.Sprint(bad))
		if len(bad) > 0 {
			assert.NotContains(t, err.Error(), "/key", "the key never reaches the error")
		}
	}
}

func TestStorageNeverPrintsTheSecret(t *testing.T) {
	s := Storage{Endpoint: "http://127.0.0.1:9000", Bucket: "recordings", AccessKey: "ak", SecretKey: "very-secret"}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), s.LogValue().String()} {
		assert.NotContains(t, out, "very-secret")
	}
	assert.Equal(t, "us-east-1", target{s}.s3().Region, "never an empty region (livekit/egress#828)")
	assert.True(t, target{s}.s3().ForcePathStyle, "path style for MinIO (livekit/protocol#223)")
	assert.Error(t, Storage{}.Validate())
	assert.Error(t, Storage{Bucket: "b", AccessKey: "a", SecretKey: "s", Endpoint: "ftp://x"}.Validate())
}
