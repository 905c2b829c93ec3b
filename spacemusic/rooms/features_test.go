package rooms_test

import (
	"testing"

	"github.com/livekit/protocol/livekit"
	"github.com/stretchr/testify/assert"

	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// A browser reports its audio processing as audio_features; older clients
// said stereo and disable_dtx as booleans. Both read the same.
func TestAudioFeaturesOldAndNew(t *testing.T) {
	voice := rooms.TrackFromLiveKit(&livekit.TrackInfo{Type: livekit.TrackType_AUDIO, MimeType: "audio/opus", AudioFeatures: []livekit.AudioTrackFeature{
		livekit.AudioTrackFeature_TF_ECHO_CANCELLATION, livekit.AudioTrackFeature_TF_NOISE_SUPPRESSION,
		livekit.AudioTrackFeature_TF_AUTO_GAIN_CONTROL, livekit.AudioTrackFeature_TF_ENHANCED_NOISE_CANCELLATION}})
	assert.Equal(t, rooms.Track{Kind: "audio", Source: "unknown", MimeType: "audio/opus", Codec: "opus", DTX: true,
		EchoCancellation: true, NoiseSuppression: true, AutoGainControl: true, EnhancedNoiseCancellation: true}, voice)

	music := rooms.TrackFromLiveKit(&livekit.TrackInfo{Type: livekit.TrackType_AUDIO, AudioFeatures: []livekit.AudioTrackFeature{
		livekit.AudioTrackFeature_TF_STEREO, livekit.AudioTrackFeature_TF_NO_DTX}})
	old := rooms.TrackFromLiveKit(&livekit.TrackInfo{Type: livekit.TrackType_AUDIO, Stereo: true, DisableDtx: true})
	assert.Equal(t, music, old)
	assert.True(t, music.Stereo)
	assert.False(t, music.DTX)
}
