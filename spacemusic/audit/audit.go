// Package audit checks a published audio track against the music profile:
// stereo, DTX off, no voice processing (echo cancellation, noise suppression,
// auto gain control, enhanced noise cancellation), at least the show's bitrate
// floor, 48 kHz. A voice call's defaults fail every point: they save
// bandwidth and clean up speech, and wreck music (DTX drops quiet passages,
// noise suppression eats sustained notes, AGC pumps the dynamics).
//
// Audit is a pure function of what LiveKit and Ingress say about a track; the
// events package runs it on every track of its live model.
package audit

import "fmt"

// Code names a finding; codes are stable (pages, alerts and docs key on them).
type Code string

// The findings, one per point of the music profile.
const (
	Mono                      Code = "mono"
	DTX                       Code = "dtx"
	EchoCancellation          Code = "echo_cancellation"
	NoiseSuppression          Code = "noise_suppression"
	AutoGainControl           Code = "auto_gain_control"
	EnhancedNoiseCancellation Code = "enhanced_noise_cancellation"
	LowBitrate                Code = "low_bitrate"
	SampleRate                Code = "sample_rate"
)

// Publisher is what sends the track: the fix is said in its words.
type Publisher string

// Publishers.
const (
	Browser Publisher = "browser" // LiveKit's client SDKs (WebRTC)
	OBS     Publisher = "obs"     // an RTMP encoder through Ingress
	WHIP    Publisher = "whip"    // a WHIP encoder through Ingress
	Pulled  Publisher = "url"     // a file or stream Ingress pulls
)

// Track is what is known of one published audio track.
type Track struct {
	SID       string
	Kind      string // audio, video, data: only audio is audited
	Codec     string // opus, ...; empty when LiveKit did not say
	Publisher Publisher
	Stereo    bool
	DTX       bool
	// The browser's voice processing, as its SDK reported it (LiveKit's
	// audio_features).
	EchoCancellation, NoiseSuppression, AutoGainControl, EnhancedNoiseCancellation bool
	// Channels and SampleRate are what the encoder sends, when known (an
	// ingress's input); 0 is unknown. Ingress upmixes a mono input to a
	// "stereo" track: Channels tells.
	Channels   int
	SampleRate int
	// Bitrate is the measured bits/s, when known; 0 is unknown and is not
	// judged.
	Bitrate int
}

// Finding is one point where a track fails the music profile, with its fix.
type Finding struct {
	Track   string `json:"track"` // the track's SID
	Code    Code   `json:"code"`
	Problem string `json:"problem"`
	Fix     string `json:"fix"`
}

// Options tune the audit. Zero values are the defaults.
type Options struct {
	MinBitrate int // the show's floor, bits/s: DefaultMinBitrate when 0
}

// DefaultMinBitrate is the floor below which Opus audibly thins music.
const DefaultMinBitrate = 96_000

// opusRate is Opus's clock on WebRTC (RFC 7587): every Opus track is 48 kHz.
const opusRate = 48_000

// Audit returns where t fails the music profile, in a stable order; none for
// a track that is not audio.
func Audit(t Track, o Options) []Finding {
	if t.Kind != "audio" {
		return nil
	}
	if o.MinBitrate <= 0 {
		o.MinBitrate = DefaultMinBitrate
	}
	var out []Finding
	add := func(c Code, problem string) {
		out = append(out, Finding{Track: t.SID, Code: c, Problem: problem, Fix: fix(t.Publisher, c, o.MinBitrate)})
	}
	if !t.Stereo || t.Channels == 1 {
		add(Mono, "mono: the music loses its stereo image")
	}
	if t.DTX {
		add(DTX, "DTX on: quiet passages are cut to silence")
	}
	for _, p := range []struct {
		on      bool
		c       Code
		problem string
	}{
		{t.EchoCancellation, EchoCancellation, "echo cancellation on: it hollows out sustained notes"},
		{t.NoiseSuppression, NoiseSuppression, "noise suppression on: it eats quiet and sustained sounds"},
		{t.AutoGainControl, AutoGainControl, "auto gain control on: it flattens the dynamics"},
		{t.EnhancedNoiseCancellation, EnhancedNoiseCancellation, "enhanced noise cancellation on: it removes what is not speech"},
	} {
		if p.on {
			add(p.c, p.problem)
		}
	}
	if t.Bitrate > 0 && t.Bitrate < o.MinBitrate {
		add(LowBitrate, fmt.Sprintf("%d kbps, below the show's %d kbps", t.Bitrate/1000, o.MinBitrate/1000))
	}
	switch {
	case t.Codec != "" && t.Codec != "opus" && t.Codec != "red": // RED carries Opus (the web SDK's default)
		add(SampleRate, fmt.Sprintf("%s, not 48 kHz Opus", t.Codec))
	case t.SampleRate > 0 && t.SampleRate != opusRate:
		add(SampleRate, fmt.Sprintf("the encoder sends %.1f kHz, not 48 kHz", float64(t.SampleRate)/1000))
	}
	return out
}

// browserFix is the one setting that fixes every point in a browser.
const browserFix = "browser: publish with the music preset (stereo, dtx false, echoCancellation/noiseSuppression/autoGainControl false)"

// fix says how to fix c on p, in the words of its settings.
func fix(p Publisher, c Code, floor int) string {
	kbps := max(160, floor/1000)
	var by map[Code]string
	switch p {
	case OBS:
		by = map[Code]string{
			Mono:       "OBS: set Settings → Audio → Channels to Stereo",
			DTX:        "recreate the ingress with streamkit (its RTMP preset transcodes with DTX off)",
			LowBitrate: fmt.Sprintf("OBS: set audio bitrate to %d kbps", kbps),
			SampleRate: "OBS: set Settings → Audio → Sample Rate to 48 kHz",
		}
	case WHIP, Pulled:
		by = map[Code]string{
			// Ingress v1.5.0 publishes a passthrough WHIP track as LiveKit
			// heard it: mono without stereo=1 in the offer, DTX on.
			Mono:       "encoder: offer stereo Opus (stereo=1), or recreate the ingress with transcoding (streamkit's preset is stereo, DTX off)",
			DTX:        "encoder: turn Opus DTX off, or recreate the ingress with transcoding (streamkit's preset is stereo, DTX off)",
			LowBitrate: fmt.Sprintf("encoder: set audio bitrate to %d kbps", kbps),
			SampleRate: "encoder: send Opus at 48 kHz",
		}
	}
	if by != nil {
		if f, ok := by[c]; ok {
			return f
		}
		return "encoder: turn its voice processing off"
	}
	switch c {
	case LowBitrate:
		return fmt.Sprintf("browser: publish with the music preset (AudioPresets.musicHighQualityStereo, at least %d kbps)", floor/1000)
	case EnhancedNoiseCancellation:
		return "browser: turn enhanced noise cancellation (Krisp) off for the music track"
	case SampleRate:
		return "browser: publish Opus (the SDK's default audio codec)"
	}
	return browserFix
}
