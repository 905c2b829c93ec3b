package ingress

import (
	"context"
	"net/url"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Participant says who the ingress appears as in the room.
type Participant struct {
	Room     string // required
	Identity string // required: how the room sees the stream, e.g. "obs-main"
	Name     string // display name; defaults to the identity
	Metadata string
}

// RTMPOptions configure an ingress for OBS (or any RTMP encoder). LiveKit
// transcodes RTMP, so the room gets Opus stereo and simulcast video.
type RTMPOptions struct {
	Participant
	Name         string // ingress name; defaults to the identity
	AudioBitrate int    // bits/s; DefaultAudioBitrate when 0, at most MaxAudioBitrate
	AudioOnly    bool   // a radio-style show: no video track expected
	// VideoPreset is a LiveKit H.264 preset, e.g. "H264_720P_30FPS_3_LAYERS";
	// default H264_1080P_30FPS_3_LAYERS.
	VideoPreset string
	Disabled    bool // create it refusing connections until enabled
}

// RTMP creates an RTMP ingress with music audio settings.
func (s *Service) RTMP(ctx context.Context, o RTMPOptions) (Ingress, error) {
	const op = "ingress.RTMP"
	if err := o.check(op); err != nil {
		return Ingress{}, err
	}
	bitrate := o.AudioBitrate
	switch {
	case bitrate == 0:
		bitrate = DefaultAudioBitrate
	case bitrate < MinAudioBitrate || bitrate > MaxAudioBitrate:
		return Ingress{}, errs.Invalid(op, "audio bitrate %d is outside %d..%d bits/s", bitrate, MinAudioBitrate, MaxAudioBitrate)
	}
	req := o.request(livekit.IngressInput_RTMP_INPUT, o.Name)
	req.EnableTranscoding = tokens.Bool(true)
	req.Enabled = tokens.Bool(!o.Disabled)
	req.Audio = musicAudio(bitrate)
	if !o.AudioOnly {
		preset := livekit.IngressVideoEncodingPreset_H264_1080P_30FPS_3_LAYERS
		if o.VideoPreset != "" {
			v, ok := livekit.IngressVideoEncodingPreset_value[o.VideoPreset]
			if !ok {
				return Ingress{}, errs.Invalid(op, "unknown video preset %q", o.VideoPreset)
			}
			preset = livekit.IngressVideoEncodingPreset(v)
		}
		req.Video = &livekit.IngressVideoOptions{Source: livekit.TrackSource_CAMERA,
			EncodingOptions: &livekit.IngressVideoOptions_Preset{Preset: preset}}
	}
	in, err := s.create(ctx, op, req)
	if err != nil {
		return Ingress{}, err
	}
	in.Encoder = OBSSettings(bitrate, o.AudioOnly)
	return in, nil
}

func musicAudio(bitrate int) *livekit.IngressAudioOptions {
	return &livekit.IngressAudioOptions{Source: livekit.TrackSource_MICROPHONE,
		EncodingOptions: &livekit.IngressAudioOptions_Options{Options: &livekit.IngressAudioEncodingOptions{
			AudioCodec: livekit.AudioCodec_OPUS, Channels: 2, Bitrate: uint32(bitrate), DisableDtx: true}}}
}

// OBSSettings are the encoder settings RTMP gives for an ingress made with that
// bitrate (0: the default) and AudioOnly, also for callers that find an ingress
// again with List or Get (LiveKit does not keep them).
func OBSSettings(bitrate int, audioOnly bool) *EncoderSettings {
	if bitrate == 0 {
		bitrate = DefaultAudioBitrate
	}
	e := &EncoderSettings{AudioCodec: "AAC", AudioBitrateKbps: max(160, bitrate/1000), AudioSampleRate: 48000, AudioChannels: "Stereo",
		OBSServiceSetting: "Custom..."}
	if !audioOnly {
		// LiveKit re-encodes to simulcast layers: a steady CBR stream with a 2 s GOP
		// and no B-frames is what its transcoder starts fastest from.
		e.VideoCodec, e.VideoBitrateKbps, e.RateControl, e.KeyframeInterval = "H.264 (x264)", 4500, "CBR", "2 s"
		e.Profile, e.Tune = "main", "zerolatency"
	}
	return e
}

// WHIPOptions configure a WHIP ingress (OBS 30+, GStreamer, browsers).
type WHIPOptions struct {
	Participant
	Name string
	// Transcode re-encodes like RTMP does (simulcast for viewers on weak links).
	// Off by default: passthrough keeps the publisher's Opus untouched and adds no
	// latency, and LiveKit refuses encoding options when transcoding is off.
	Transcode    bool
	AudioBitrate int // only with Transcode
	Disabled     bool
}

// WHIP creates a WHIP ingress.
func (s *Service) WHIP(ctx context.Context, o WHIPOptions) (Ingress, error) {
	const op = "ingress.WHIP"
	if err := o.check(op); err != nil {
		return Ingress{}, err
	}
	if !o.Transcode && o.AudioBitrate != 0 {
		return Ingress{}, errs.Invalid(op, "audio bitrate needs Transcode: passthrough keeps the publisher's encoding")
	}
	req := o.request(livekit.IngressInput_WHIP_INPUT, o.Name)
	req.EnableTranscoding = tokens.Bool(o.Transcode)
	req.Enabled = tokens.Bool(!o.Disabled)
	if o.Transcode {
		bitrate := o.AudioBitrate
		if bitrate == 0 {
			bitrate = DefaultAudioBitrate
		}
		if bitrate < MinAudioBitrate || bitrate > MaxAudioBitrate {
			return Ingress{}, errs.Invalid(op, "audio bitrate %d is outside %d..%d bits/s", bitrate, MinAudioBitrate, MaxAudioBitrate)
		}
		req.Audio = musicAudio(bitrate)
	}
	in, err := s.create(ctx, op, req)
	if err != nil {
		return Ingress{}, err
	}
	in.Encoder = &EncoderSettings{AudioCodec: "Opus", AudioBitrateKbps: 160, AudioSampleRate: 48000, AudioChannels: "Stereo",
		VideoCodec: "H.264", RateControl: "CBR", KeyframeInterval: "2 s", OBSServiceSetting: "WHIP"}
	return in, nil
}

// URLOptions configure a pull of a media file or HLS stream.
type URLOptions struct {
	Participant
	Name string
	URL  string // http or https: LiveKit pulls nothing else
}

// PullURL creates an ingress that pulls media from an HTTP(S) URL into the room.
func (s *Service) PullURL(ctx context.Context, o URLOptions) (Ingress, error) {
	const op = "ingress.PullURL"
	if err := o.check(op); err != nil {
		return Ingress{}, err
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Ingress{}, errs.Invalid(op, "source URL must be an absolute http or https URL")
	}
	req := o.request(livekit.IngressInput_URL_INPUT, o.Name)
	req.Url = o.URL
	req.Audio = musicAudio(DefaultAudioBitrate)
	return s.create(ctx, op, req)
}

func (p Participant) check(op string) error {
	if err := lk.Name(op, "room name", p.Room); err != nil {
		return err
	}
	if err := lk.Name(op, "identity", p.Identity); err != nil {
		return err
	}
	if len(p.Metadata) > 64<<10 {
		return errs.Invalid(op, "metadata is %d bytes; at most 65536 allowed", len(p.Metadata))
	}
	return nil
}

func (p Participant) request(kind livekit.IngressInput, name string) *livekit.CreateIngressRequest {
	if name == "" {
		name = p.Identity
	}
	pname := p.Name
	if pname == "" {
		pname = p.Identity
	}
	return &livekit.CreateIngressRequest{InputType: kind, Name: name, RoomName: p.Room,
		ParticipantIdentity: p.Identity, ParticipantName: pname, ParticipantMetadata: p.Metadata}
}

func (s *Service) create(ctx context.Context, op string, req *livekit.CreateIngressRequest) (Ingress, error) {
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{IngressAdmin: true}, s.api.CreateIngress, req)
	if err != nil {
		return Ingress{}, mapErr(op, err)
	}
	return FromLiveKit(info), nil
}
