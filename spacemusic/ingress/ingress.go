// Package ingress brings live music into a stage from outside: OBS over RTMP or
// WHIP, or a media file or HLS stream pulled from a URL. Presets return
// ready-to-paste settings (server, stream key, encoder advice), not protobufs.
package ingress

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/xtwirp"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
	"github.com/spacemusic/streamkit/spacemusic/internal/redact"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Kind is how media arrives.
type Kind string

const (
	RTMP Kind = "rtmp"
	WHIP Kind = "whip"
	URL  Kind = "url"
)

// State is where an ingress is in its life.
type State string

const (
	Inactive   State = "inactive"   // waiting for the encoder
	Buffering  State = "buffering"  // media arriving, not yet published
	Publishing State = "publishing" // live in the room
	Failed     State = "error"      // see Ingress.Error
	Complete   State = "complete"   // a URL pull reached its end
)

// live reports whether an encoder session is running.
func (s State) live() bool { return s == Buffering || s == Publishing }

// Music audio defaults: stereo Opus at a bitrate that carries music, DTX off
// because DTX turns quiet passages into silence.
const (
	DefaultAudioBitrate = 128_000
	MaxAudioBitrate     = ogg.OpusMaxBitrate
	MinAudioBitrate     = 32_000
)

// Ingress is one way into a room, with what an encoder needs to use it.
type Ingress struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Kind            Kind   `json:"kind"`
	Room            string `json:"room"`
	Identity        string `json:"identity"`
	ParticipantName string `json:"participantName,omitempty"`
	// ServerURL and StreamKey go into OBS's "Server" and "Stream Key" fields;
	// PublishURL is both joined, for encoders that take one URL (ffmpeg, WHIP).
	// For URL pulls, ServerURL is the source.
	ServerURL  string `json:"serverUrl"`
	StreamKey  string `json:"streamKey,omitempty"`
	PublishURL string `json:"publishUrl,omitempty"`
	Transcoded bool   `json:"transcoded"`
	Enabled    bool   `json:"enabled"`
	State      State  `json:"state"`
	Error      string `json:"error,omitempty"`
	// Encoder is what to set in OBS for this ingress.
	Encoder *EncoderSettings `json:"encoder,omitempty"`
	// Input is what the encoder sends, as Ingress read it when the stream went
	// live; nil before.
	Input *Input `json:"input,omitempty"`
}

// Input is an encoder's stream as Ingress describes it. Ingress v1.5.0 sets it
// once, when publishing starts, and leaves the bitrates at 0 (measured: they
// stay 0, and nothing changes when the encoder stalls), so a stall shows in
// what listeners receive, not here.
type Input struct {
	Audio *InputAudio `json:"audio,omitempty"`
	Video *InputVideo `json:"video,omitempty"`
}

// InputAudio is the encoder's audio.
type InputAudio struct {
	Codec      string `json:"codec"` // MIME type, e.g. audio/aac
	Channels   int    `json:"channels"`
	SampleRate int    `json:"sampleRate"`
	Bitrate    int    `json:"bitrate,omitempty"` // bits/s, when Ingress reports it
}

// InputVideo is the encoder's video.
type InputVideo struct {
	Codec   string  `json:"codec"` // MIME type, e.g. video/H264
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	FPS     float64 `json:"fps"`
	Bitrate int     `json:"bitrate,omitempty"` // bits/s, when Ingress reports it
}

// String keeps the stream key, a credential, out of logs.
func (i Ingress) String() string {
	return fmt.Sprintf("{ID:%s Kind:%s Room:%s Identity:%s State:%s StreamKey:[redacted]}", i.ID, i.Kind, i.Room, i.Identity, i.State)
}

// Redacted is the ingress without its secrets, for lists and events (which go
// to every viewer and into the shared log): no stream key (whoever holds it can
// put anything on stage), and a pulled URL without its credentials (userinfo,
// query string: see package internal/redact), also where an error quotes it.
func (i Ingress) Redacted() Ingress {
	i = i.WithoutStreamKey()
	if i.Kind == URL && i.ServerURL != "" {
		i.Error = redact.In(i.Error, i.ServerURL)
		i.ServerURL = redact.URL(i.ServerURL)
	}
	return i
}

// WithoutStreamKey is the ingress without its stream key but with a pulled URL
// whole: an admin's list (the stream key has its own, logged, reveal).
func (i Ingress) WithoutStreamKey() Ingress {
	if i.StreamKey != "" {
		i.PublishURL = strings.ReplaceAll(i.PublishURL, i.StreamKey, "{redacted}")
		i.ServerURL = strings.ReplaceAll(i.ServerURL, i.StreamKey, "{redacted}")
		i.StreamKey = ""
	}
	return i
}

// LogValue keeps the stream key out of slog output.
func (i Ingress) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", i.ID), slog.String("kind", string(i.Kind)), slog.String("room", i.Room), slog.String("state", string(i.State)))
}

// EncoderSettings are the recommended OBS output settings.
type EncoderSettings struct {
	AudioCodec        string `json:"audioCodec"`
	AudioBitrateKbps  int    `json:"audioBitrateKbps"`
	AudioSampleRate   int    `json:"audioSampleRate"`
	AudioChannels     string `json:"audioChannels"`
	VideoCodec        string `json:"videoCodec,omitempty"`
	VideoBitrateKbps  int    `json:"videoBitrateKbps,omitempty"`
	RateControl       string `json:"rateControl,omitempty"`
	KeyframeInterval  string `json:"keyframeInterval,omitempty"`
	Profile           string `json:"profile,omitempty"`
	Tune              string `json:"tune,omitempty"`
	BFrames           int    `json:"bFrames"`
	OBSServiceSetting string `json:"obsService"`
}

// Service manages ingresses through LiveKit's Ingress API.
type Service struct {
	c   *lk.Client
	api livekit.Ingress
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	c, err := lk.NewClient("ingress.New", cfg)
	if err != nil {
		return nil, err
	}
	return &Service{c: c, api: livekit.NewIngressProtobufClient(c.BaseURL, c.HTTP, xtwirp.DefaultClientOptions()...)}, nil
}

// ListOptions filter List; both empty lists every ingress.
type ListOptions struct {
	Room string
	ID   string
}

// List returns ingresses, optionally of one room.
func (s *Service) List(ctx context.Context, o ListOptions) ([]Ingress, error) {
	const op = "ingress.List"
	if o.Room != "" {
		if err := lk.Name(op, "room name", o.Room); err != nil {
			return nil, err
		}
	}
	res, err := lk.Do(ctx, s.c, op, tokens.Grant{IngressAdmin: true}, s.api.ListIngress, &livekit.ListIngressRequest{RoomName: o.Room, IngressId: o.ID})
	if err != nil {
		return nil, mapErr(op, err)
	}
	out := make([]Ingress, 0, len(res.Items))
	for _, info := range res.Items {
		out = append(out, FromLiveKit(info))
	}
	return out, nil
}

// Get returns one ingress, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Ingress, error) {
	const op = "ingress.Get"
	if err := checkID(op, id); err != nil {
		return Ingress{}, err
	}
	list, err := s.List(ctx, ListOptions{ID: id})
	if err != nil {
		return Ingress{}, errs.Relabel(op, err)
	}
	if len(list) == 0 {
		return Ingress{}, errs.NotFound(op, "no ingress %q", id)
	}
	return list[0], nil
}

// Delete removes an ingress; its stream key stops working.
//
// A live RTMP or WHIP ingress is stopped first and deleted once LiveKit reports
// it inactive. Deleted while live, it races the ingress service's last state
// report, and livekit-server (v1.11.0, and v1.13.6 by livekit/livekit#4806,
// still open) then dereferences a nil state in UpdateIngressState and crashes,
// taking every room with it. Stopping first costs about a second, within the
// call's deadline. URL pulls cannot be stopped that way (LiveKit refuses to
// update a non-reusable ingress), so a live one (buffering or publishing) is not
// deleted: Delete answers ErrLive. Wait until the pull ends (complete or error),
// or delete the room, which ends it.
func (s *Service) Delete(ctx context.Context, id string) error {
	const op = "ingress.Delete"
	if err := checkID(op, id); err != nil {
		return err
	}
	in, err := s.Get(ctx, id)
	if err != nil {
		return errs.Relabel(op, err)
	}
	switch {
	case in.State.live() && in.Kind == URL:
		return &errs.Error{Op: op, Kind: ErrLive, Message: fmt.Sprintf("URL pull %s is %s in %s", id, in.State, in.Room),
			Hint: "deleting a live pull can crash livekit-server (livekit/livekit#4806); wait until the pull ends or delete the room"}
	case in.State.live():
		if err := s.stop(ctx, op, id); err != nil {
			return err
		}
	}
	_, err = lk.Do(ctx, s.c, op, tokens.Grant{IngressAdmin: true}, s.api.DeleteIngress, &livekit.DeleteIngressRequest{IngressId: id})
	return mapErr(op, err)
}

// stop ends an ingress's live session: LiveKit hands any update of a live
// ingress to the ingress service, which ends the session and reports the
// ingress inactive while it still exists.
func (s *Service) stop(ctx context.Context, op, id string) error {
	// The update and the wait for its effect share one deadline, as one call.
	ctx, cancel := s.c.Bound(ctx)
	defer cancel()
	if _, err := lk.Do(ctx, s.c, op, tokens.Grant{IngressAdmin: true}, s.api.UpdateIngress, &livekit.UpdateIngressRequest{IngressId: id}); err != nil {
		return mapErr(op, err)
	}
	_, err := lk.Poll(ctx, op, func() (Ingress, bool, error) {
		in, err := s.Get(ctx, id)
		return in, err == nil && !in.State.live(), err
	})
	return err
}

func checkID(op, id string) error { return lk.CheckID(op, "ingress", "IN_", id) }

// mapErr is lk.Map plus the one LiveKit answer that needs explaining: a server
// without Redis or without an Ingress service answers "internal".
func mapErr(op string, err error) error {
	err = lk.Map(op, err)
	if e, ok := err.(*errs.Error); ok && e.Kind == errs.ErrUpstream && strings.Contains(e.Message, "ingress not connected") {
		e.Kind = errs.ErrUnavailable
		e.Hint = "LiveKit needs Redis and a running LiveKit Ingress service for ingress"
	}
	return err
}

var states = map[livekit.IngressState_Status]State{
	livekit.IngressState_ENDPOINT_INACTIVE:   Inactive,
	livekit.IngressState_ENDPOINT_BUFFERING:  Buffering,
	livekit.IngressState_ENDPOINT_PUBLISHING: Publishing,
	livekit.IngressState_ENDPOINT_ERROR:      Failed,
	livekit.IngressState_ENDPOINT_COMPLETE:   Complete,
}

// FromLiveKit is LiveKit's ingress as the show sees it, stream key included.
func FromLiveKit(info *livekit.IngressInfo) Ingress {
	in := Ingress{
		ID: info.IngressId, Name: info.Name, Room: info.RoomName, Identity: info.ParticipantIdentity,
		ParticipantName: info.ParticipantName, ServerURL: info.Url, StreamKey: info.StreamKey,
		Transcoded: info.EnableTranscoding == nil || *info.EnableTranscoding,
		Enabled:    info.Enabled == nil || *info.Enabled, State: Inactive,
	}
	switch info.InputType {
	case livekit.IngressInput_RTMP_INPUT:
		in.Kind = RTMP
		in.PublishURL = strings.TrimSuffix(info.Url, "/") + "/" + info.StreamKey
	case livekit.IngressInput_WHIP_INPUT:
		in.Kind = WHIP
		in.PublishURL = strings.TrimSuffix(info.Url, "/") + "/" + info.StreamKey
		in.Transcoded = info.EnableTranscoding != nil && *info.EnableTranscoding
	case livekit.IngressInput_URL_INPUT:
		in.Kind = URL
		in.StreamKey = ""
	}
	if st := info.State; st != nil {
		in.State = states[st.Status]
		in.Error = st.Error
		in.Input = input(st)
	}
	return in
}

// input is the encoder's stream from an ingress's state; nil when Ingress has
// not described it.
func input(st *livekit.IngressState) *Input {
	a, v := st.GetAudio(), st.GetVideo()
	if a == nil && v == nil {
		return nil
	}
	in := &Input{}
	if a != nil {
		in.Audio = &InputAudio{Codec: a.MimeType, Channels: int(a.Channels), SampleRate: int(a.SampleRate), Bitrate: int(a.AverageBitrate)}
	}
	if v != nil {
		in.Video = &InputVideo{Codec: v.MimeType, Width: int(v.Width), Height: int(v.Height), FPS: v.Framerate, Bitrate: int(v.AverageBitrate)}
	}
	return in
}

// WaitFor polls until the ingress reaches one of the states or ctx ends; handy for
// "tell me when OBS is live" in tools and tests.
func (s *Service) WaitFor(ctx context.Context, id string, want ...State) (Ingress, error) {
	return lk.Poll(ctx, "ingress.WaitFor", func() (Ingress, bool, error) {
		in, err := s.Get(ctx, id)
		return in, err == nil && slices.Contains(want, in.State), err
	})
}
