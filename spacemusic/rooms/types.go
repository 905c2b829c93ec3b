package rooms

import (
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/audit"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Room is a stage: a LiveKit room as the show sees it.
type Room struct {
	SID             string `json:"sid"`
	Name            string `json:"name"`
	Metadata        string `json:"metadata,omitempty"`
	NumParticipants int    `json:"numParticipants"`
	NumPublishers   int    `json:"numPublishers"`
	MaxParticipants int    `json:"maxParticipants,omitempty"`
	// Seconds, as LiveKit and the Node SDK count them.
	EmptyTimeoutSec     int       `json:"emptyTimeout"`
	DepartureTimeoutSec int       `json:"departureTimeout"`
	ActiveRecording     bool      `json:"activeRecording"`
	CreatedAt           time.Time `json:"createdAt"`
}

// Detail is a room with everyone in it.
type Detail struct {
	Room
	Participants []Participant `json:"participants"`
}

// Participant is someone (or something: an ingress, a recorder) in a room.
type Participant struct {
	SID         string            `json:"sid"`
	Identity    string            `json:"identity"`
	Name        string            `json:"name,omitempty"`
	Metadata    string            `json:"metadata,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	State       string            `json:"state"` // joining, joined, active, disconnected
	Kind        string            `json:"kind"`  // standard, ingress, egress, sip, agent
	JoinedAt    time.Time         `json:"joinedAt"`
	IsPublisher bool              `json:"isPublisher"`
	Permission  Permission        `json:"permission"`
	Tracks      []Track           `json:"tracks"`
	// Warnings are where the participant's audio fails the music profile
	// (package audit), as the live model judges it; empty from LiveKit's
	// own lists.
	Warnings []audit.Finding `json:"warnings,omitempty"`
}

// OnStage reports whether the participant may publish: a performer, not a listener.
func (p Participant) OnStage() bool { return p.Permission.CanPublish }

// Permission is what a participant may do right now.
type Permission struct {
	CanPublish     bool     `json:"canPublish"`
	CanSubscribe   bool     `json:"canSubscribe"`
	CanPublishData bool     `json:"canPublishData"`
	Sources        []string `json:"canPublishSources,omitempty"` // empty: every source
	Hidden         bool     `json:"hidden,omitempty"`
	Recorder       bool     `json:"recorder,omitempty"`
}

// Track is one published track.
type Track struct {
	SID      string `json:"sid"`
	Name     string `json:"name,omitempty"`
	Kind     string `json:"kind"`   // audio, video, data
	Source   string `json:"source"` // microphone, camera, screen_share, screen_share_audio, unknown
	Muted    bool   `json:"muted"`
	MimeType string `json:"mimeType,omitempty"`
	Codec    string `json:"codec,omitempty"` // opus, h264, vp8, ...
	Stereo   bool   `json:"stereo,omitempty"`
	DTX      bool   `json:"dtx"`
	// The browser's voice processing, as its SDK reported it (LiveKit's
	// audio_features; absent from older clients).
	EchoCancellation          bool `json:"echoCancellation,omitempty"`
	NoiseSuppression          bool `json:"noiseSuppression,omitempty"`
	AutoGainControl           bool `json:"autoGainControl,omitempty"`
	EnhancedNoiseCancellation bool `json:"enhancedNoiseCancellation,omitempty"`
	Width                     int  `json:"width,omitempty"`
	Height                    int  `json:"height,omitempty"`
}

// FromLiveKit is LiveKit's room as the show sees it.
func FromLiveKit(r *livekit.Room) Room {
	created := time.Unix(r.CreationTime, 0)
	if r.CreationTimeMs != 0 {
		created = time.UnixMilli(r.CreationTimeMs)
	}
	return Room{
		SID:                 r.Sid,
		Name:                r.Name,
		Metadata:            r.Metadata,
		NumParticipants:     int(r.NumParticipants),
		NumPublishers:       int(r.NumPublishers),
		MaxParticipants:     int(r.MaxParticipants),
		EmptyTimeoutSec:     int(r.EmptyTimeout),
		DepartureTimeoutSec: int(r.DepartureTimeout),
		ActiveRecording:     r.ActiveRecording,
		CreatedAt:           created.UTC(),
	}
}

// ParticipantFromLiveKit is LiveKit's participant as the show sees it.
func ParticipantFromLiveKit(p *livekit.ParticipantInfo) Participant {
	joined := time.Unix(p.JoinedAt, 0)
	if p.JoinedAtMs != 0 {
		joined = time.UnixMilli(p.JoinedAtMs)
	}
	out := Participant{
		SID:         p.Sid,
		Identity:    p.Identity,
		Name:        p.Name,
		Metadata:    p.Metadata,
		Attributes:  withoutProof(p.Attributes),
		State:       strings.ToLower(p.State.String()),
		Kind:        strings.ToLower(p.Kind.String()),
		JoinedAt:    joined.UTC(),
		IsPublisher: p.IsPublisher,
		Tracks:      make([]Track, 0, len(p.Tracks)),
	}
	if perm := p.Permission; perm != nil {
		out.Permission = Permission{
			CanPublish:     perm.CanPublish,
			CanSubscribe:   perm.CanSubscribe,
			CanPublishData: perm.CanPublishData,
			Hidden:         perm.Hidden,
			Recorder:       perm.Recorder,
		}
		for _, s := range perm.CanPublishSources {
			out.Permission.Sources = append(out.Permission.Sources, sourceName(s))
		}
	}
	for _, t := range p.Tracks {
		out.Tracks = append(out.Tracks, TrackFromLiveKit(t))
	}
	return out
}

// TrackFromLiveKit is LiveKit's track as the show sees it.
func TrackFromLiveKit(t *livekit.TrackInfo) Track {
	tr := Track{
		SID:      t.Sid,
		Name:     t.Name,
		Kind:     strings.ToLower(t.Type.String()),
		Source:   sourceName(t.Source),
		Muted:    t.Muted,
		MimeType: t.MimeType,
		Stereo:   t.Stereo,
		DTX:      !t.DisableDtx,
		Width:    int(t.Width),
		Height:   int(t.Height),
	}
	// What each feature turns on; TF_NO_DTX is the one that turns DTX off.
	on := map[livekit.AudioTrackFeature]*bool{
		livekit.AudioTrackFeature_TF_STEREO:                      &tr.Stereo,
		livekit.AudioTrackFeature_TF_ECHO_CANCELLATION:           &tr.EchoCancellation,
		livekit.AudioTrackFeature_TF_NOISE_SUPPRESSION:           &tr.NoiseSuppression,
		livekit.AudioTrackFeature_TF_AUTO_GAIN_CONTROL:           &tr.AutoGainControl,
		livekit.AudioTrackFeature_TF_ENHANCED_NOISE_CANCELLATION: &tr.EnhancedNoiseCancellation,
	}
	for _, f := range t.AudioFeatures {
		if f == livekit.AudioTrackFeature_TF_NO_DTX {
			tr.DTX = false
		} else if b := on[f]; b != nil {
			*b = true
		}
	}
	if tr.Kind != "audio" {
		tr.DTX = false
	}
	if tr.MimeType == "" && len(t.Codecs) > 0 {
		tr.MimeType = t.Codecs[0].MimeType
	}
	if _, codec, ok := strings.Cut(tr.MimeType, "/"); ok {
		tr.Codec = strings.ToLower(codec)
	}
	return tr
}

func sourceName(s livekit.TrackSource) string { return strings.ToLower(s.String()) }

// CheckName refuses what LiveKit would not take as a room name, before any
// request goes out.
func CheckName(name string) error { return lk.Name("rooms.CheckName", "room name", name) }

// withoutProof is attributes without the project's proof of its own
// participants (tokens.OwnAttribute): whoever sees it could join with it.
func withoutProof(a map[string]string) map[string]string {
	if _, ok := a[tokens.OwnAttribute]; !ok {
		return a
	}
	out := make(map[string]string, len(a))
	for k, v := range a {
		if k != tokens.OwnAttribute {
			out[k] = v
		}
	}
	return out
}
