package audit_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/spacemusic/streamkit/spacemusic/audit"
)

// musicPreset is a browser publishing as the docs ask: stereo Opus, DTX off,
// no voice processing, 128 kbps.
var musicPreset = audit.Track{SID: "TR_a", Kind: "audio", Codec: "opus", Publisher: audit.Browser, Stereo: true, Bitrate: 128_000}

func with(f func(*audit.Track)) audit.Track {
	t := musicPreset
	f(&t)
	return t
}

func codes(fs []audit.Finding) []audit.Code {
	out := []audit.Code{}
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

func TestEachPointOfTheMusicProfile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		track audit.Track
		want  []audit.Code
	}{
		{"the music preset passes", musicPreset, []audit.Code{}},
		{"bitrate not measured is not judged", with(func(t *audit.Track) { t.Bitrate = 0 }), []audit.Code{}},
		{"video is not audited", with(func(t *audit.Track) { t.Kind, t.Stereo = "video", false }), []audit.Code{}},
		{"mono", with(func(t *audit.Track) { t.Stereo = false }), []audit.Code{audit.Mono}},
		{"a mono input upmixed by Ingress", with(func(t *audit.Track) { t.Channels = 1 }), []audit.Code{audit.Mono}},
		{"DTX", with(func(t *audit.Track) { t.DTX = true }), []audit.Code{audit.DTX}},
		{"echo cancellation", with(func(t *audit.Track) { t.EchoCancellation = true }), []audit.Code{audit.EchoCancellation}},
		{"noise suppression", with(func(t *audit.Track) { t.NoiseSuppression = true }), []audit.Code{audit.NoiseSuppression}},
		{"auto gain control", with(func(t *audit.Track) { t.AutoGainControl = true }), []audit.Code{audit.AutoGainControl}},
		{"Krisp", with(func(t *audit.Track) { t.EnhancedNoiseCancellation = true }), []audit.Code{audit.EnhancedNoiseCancellation}},
		{"below the floor", with(func(t *audit.Track) { t.Bitrate = 48_000 }), []audit.Code{audit.LowBitrate}},
		{"at the floor", with(func(t *audit.Track) { t.Bitrate = audit.DefaultMinBitrate }), []audit.Code{}},
		{"44.1 kHz from the encoder", with(func(t *audit.Track) { t.SampleRate = 44_100 }), []audit.Code{audit.SampleRate}},
		{"48 kHz from the encoder", with(func(t *audit.Track) { t.SampleRate = 48_000 }), []audit.Code{}},
		{"RED carries Opus", with(func(t *audit.Track) { t.Codec = "red" }), []audit.Code{}},
		{"not Opus", with(func(t *audit.Track) { t.Codec = "pcmu" }), []audit.Code{audit.SampleRate}},
		{"a voice call's defaults fail on every point", with(func(t *audit.Track) {
			t.Stereo, t.DTX, t.EchoCancellation, t.NoiseSuppression, t.AutoGainControl, t.Bitrate = false, true, true, true, true, 32_000
		}), []audit.Code{audit.Mono, audit.DTX, audit.EchoCancellation, audit.NoiseSuppression, audit.AutoGainControl, audit.LowBitrate}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := audit.Audit(tc.track, audit.Options{})
			assert.Equal(t, tc.want, codes(got))
			for _, f := range got {
				assert.Equal(t, tc.track.SID, f.Track)
				assert.NotEmpty(t, f.Problem)
				assert.NotEmpty(t, f.Fix)
			}
		})
	}
}

func TestTheShowSetsTheFloor(t *testing.T) {
	tr := with(func(t *audit.Track) { t.Bitrate = 128_000 })
	assert.Empty(t, audit.Audit(tr, audit.Options{}), "128 kbps clears the default 96")
	got := audit.Audit(tr, audit.Options{MinBitrate: 192_000})
	assert.Equal(t, []audit.Code{audit.LowBitrate}, codes(got))
	assert.Equal(t, "128 kbps, below the show's 192 kbps", got[0].Problem)
}

// The fix is said in the words of whoever publishes: the browser's SDK
// options, OBS's settings.
func TestTheFixSpeaksThePublishersLanguage(t *testing.T) {
	fixOf := func(p audit.Publisher, f func(*audit.Track)) string {
		tr := with(f)
		tr.Publisher = p
		fs := audit.Audit(tr, audit.Options{})
		if !assert.Len(t, fs, 1) {
			return ""
		}
		return fs[0].Fix
	}
	low := func(t *audit.Track) { t.Bitrate = 64_000 }
	assert.Equal(t, "OBS: set audio bitrate to 160 kbps", fixOf(audit.OBS, low))
	assert.Equal(t, "OBS: set Settings → Audio → Sample Rate to 48 kHz", fixOf(audit.OBS, func(t *audit.Track) { t.SampleRate = 44_100 }))
	assert.Equal(t, "OBS: set Settings → Audio → Channels to Stereo", fixOf(audit.OBS, func(t *audit.Track) { t.Channels = 1 }))
	assert.True(t, strings.HasPrefix(fixOf(audit.WHIP, func(t *audit.Track) { t.DTX = true }), "encoder: turn Opus DTX off"))
	assert.Equal(t, "browser: publish with the music preset (stereo, dtx false, echoCancellation/noiseSuppression/autoGainControl false)",
		fixOf(audit.Browser, func(t *audit.Track) { t.EchoCancellation = true }))
	assert.True(t, strings.HasPrefix(fixOf(audit.Browser, low), "browser: publish with the music preset"))
}
