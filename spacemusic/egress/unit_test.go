package egress

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/livekit/protocol/livekit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/errs"
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

// A video recording is as large as what the participant sends, at LiveKit's
// preset bitrate for that size; egress's own default (1920x1080) only when
// LiveKit does not know the size.
func TestVideoIsRecordedAtTheSizeItIsSent(t *testing.T) {
	for _, c := range []struct {
		track         audioTrack
		w, h, bitrate int32
	}{
		{audioTrack{width: 1280, height: 720}, 1280, 720, 3000},
		{audioTrack{width: 1920, height: 1080}, 1920, 1080, 4500},
		{audioTrack{width: 853, height: 480}, 852, 480, 3000},   // egress wants even sizes
		{audioTrack{width: 720, height: 1280}, 720, 1280, 3000}, // portrait
		{audioTrack{}, 1920, 1080, 4500},
	} {
		enc := c.track.videoEncoding(0, 0)
		assert.Equal(t, [3]int32{c.w, c.h, c.bitrate}, [3]int32{enc.Width, enc.Height, enc.VideoBitrate}, "%+v", c.track)
		assert.Equal(t, livekit.VideoCodec_H264_MAIN, enc.VideoCodec)
	}
	enc := audioTrack{width: 1920, height: 1080}.videoEncoding(1280, 720)
	assert.Equal(t, [2]int32{1280, 720}, [2]int32{enc.Width, enc.Height}, "the caller's size wins")
}

// refusingLiveKit is a Service whose LiveKit refuses every call and counts
// them: a check that lets bad options through shows up as a call.
func refusingLiveKit(t *testing.T) (*Service, *atomic.Int32) {
	t.Helper()
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "nobody should ask", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{URL: srv.URL, APIKey: "k", APISecret: "secret-0123456789abcdefghijklmnopqrstuv"},
		Storage{Endpoint: "http://127.0.0.1:9", Bucket: "b", AccessKey: "a", SecretKey: "s"})
	require.NoError(t, err)
	return s, &asked
}

// Options no recording can have are refused before LiveKit is asked.
func TestVideoOptionsAreCheckedFirst(t *testing.T) {
	s, asked := refusingLiveKit(t)
	for _, o := range []VideoOptions{
		{AudioBitrate: 128}, {AudioBitrate: 1000}, {Width: 1280}, {Width: 1281, Height: 720}, {Width: 8, Height: 8},
		{Width: 7680, Height: 4320}, {Framerate: 120}, {Framerate: -1}, {VideoBitrate: -5}, {Filename: "take.mp4"}, {Filename: "../x"},
	} {
		_, err := s.RecordVideo(context.Background(), "stage", o)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%+v", o)
	}
	_, err := s.RecordVideo(context.Background(), "a/b", VideoOptions{})
	assert.ErrorIs(t, err, errs.ErrInvalidArgument, "a room that is no folder")
	assert.Zero(t, asked.Load(), "a refused option reached LiveKit")
}

// A room composite with a layout egress's page does not draw, or a picture
// x264 cannot encode, is refused before LiveKit is asked; every layout the page
// knows is let through.
func TestRoomOptionsAreCheckedFirst(t *testing.T) {
	s, asked := refusingLiveKit(t)
	for _, o := range []RoomOptions{
		{Layout: "mosaic"}, {Layout: "Grid"}, {Layout: "grid-blue"}, {Layout: "speaker-light;x"}, {Layout: "../grid"},
		{Width: 1280}, {Width: 1281, Height: 720}, {Width: 8, Height: 8}, {Width: 7680, Height: 4320}, {Width: -2, Height: -2},
		{AudioOnly: true, Layout: "grid"}, {AudioOnly: true, Width: 1280, Height: 720}, {Filename: "take.mp4"},
	} {
		_, err := s.RecordRoom(context.Background(), "stage", o)
		assert.ErrorIs(t, err, errs.ErrInvalidArgument, "%+v", o)
	}
	assert.Zero(t, asked.Load(), "a refused option reached LiveKit")
	for _, layout := range append([]string{""}, Layouts...) {
		_, err := s.RecordRoom(context.Background(), "stage", RoomOptions{Layout: layout, Width: 640, Height: 360})
		assert.NotErrorIs(t, err, errs.ErrInvalidArgument, "layout %q", layout)
	}
	assert.EqualValues(t, len(Layouts)+1, asked.Load(), "every layout the page draws is asked for")
}

// A restream's failure may quote its destination whole: the stream key in
// its path and any credentials are hidden there too, for every reader.
func TestErrorsQuotingADestinationAreRedacted(t *testing.T) {
	dest := "rtmps://user:pw@a.rtmp.youtube.com/live2/the-stream-key?token=t0k3n"
	e := FromLiveKit(&livekit.EgressInfo{EgressId: "EG_1", Status: livekit.EgressStatus_EGRESS_FAILED, Error: "cannot publish to " + dest,
		StreamResults: []*livekit.StreamInfo{{Url: dest, Error: "connection to " + dest + " refused"}}}, "")
	for _, s := range []string{e.Error, e.Streams[0].Error, e.Streams[0].URL} {
		assert.NotContains(t, s, "the-stream-key")
		assert.NotContains(t, s, "t0k3n")
		assert.NotContains(t, s, "pw@")
		assert.Contains(t, s, "rtmps://a.rtmp.youtube.com/live2/{redacted}")
	}
}
