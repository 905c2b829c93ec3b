package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestURLHidesCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://live.twitch.tv/app/live_1234_secret":                        "rtmp://live.twitch.tv/app/{redacted}",
		"rtmps://user:pw@a.rtmp.youtube.com/live2/key":                      "rtmps://a.rtmp.youtube.com/live2/{redacted}",
		"rtmp://127.0.0.1:1935/x/key?token=abc":                             "rtmp://127.0.0.1:1935/x/{redacted}",
		"https://dj:s3cr3t@cdn.example.test/live/set.m3u8?token=s3cr3t#t=1": "https://cdn.example.test/live/{redacted}",
		"https://cdn.example.test?token=s3cr3t":                             "[redacted]",
		"mailto:s3cr3t@example.test":                                        "[redacted]",
		"::not a url":                                                       "[redacted]",
	} {
		assert.Equal(t, want, URL(in), in)
		assert.NotContains(t, URL(in), "s3cr3t")
	}
}

func TestInQuotedErrors(t *testing.T) {
	raw := "https://dj:s3cr3t@cdn.example.test/live/set.m3u8?token=s3cr3t"
	assert.Equal(t, "cannot fetch https://cdn.example.test/live/{redacted}: 403", In("cannot fetch "+raw+": 403", raw))
	assert.Equal(t, "as it is", In("as it is", raw))
	assert.Equal(t, "as it is", In("as it is", ""))
}
