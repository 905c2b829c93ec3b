// Package egress takes live music out of a stage: recordings of the show and of
// each performer into MinIO/S3, HLS segments, and restreams to RTMP destinations.
//
// Everything here but RecordRoom runs on LiveKit Egress's SDK pipeline, without
// Chrome: track composite for a mix or a participant's video, track egress for
// stems. RecordRoom (room composite: the room as a web page composes it) needs
// Chrome, PulseAudio and egress's page templates in the egress service.
package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/xtwirp"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
	"github.com/spacemusic/streamkit/spacemusic/internal/redact"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Status is where an egress is in its life.
type Status string

const (
	Starting     Status = "starting"
	Active       Status = "active"
	Ending       Status = "ending"
	Complete     Status = "complete"
	Failed       Status = "failed"
	Aborted      Status = "aborted"
	LimitReached Status = "limit_reached"
)

// Done reports whether the egress has ended, for better or worse.
func (s Status) Done() bool { return s == Complete || s == Failed || s == Aborted || s == LimitReached }

// Egress is one recording or restream.
type Egress struct {
	ID        string     `json:"id"`
	Room      string     `json:"room"`
	Kind      string     `json:"kind"` // audio, video, stem, room, hls, restream
	Status    Status     `json:"status"`
	Error     string     `json:"error,omitempty"`
	StartedAt time.Time  `json:"startedAt,omitzero"`
	EndedAt   time.Time  `json:"endedAt,omitzero"`
	Files     []File     `json:"files,omitempty"`
	Playlists []Playlist `json:"playlists,omitempty"` // HLS
	Streams   []Stream   `json:"streams,omitempty"`
}

// File is a finished recording in the bucket.
type File struct {
	Bucket   string        `json:"bucket"`
	Key      string        `json:"key"`
	Size     int64         `json:"size"`
	Duration time.Duration `json:"duration"`
}

// Playlist is an HLS recording in the bucket: the playlist and, beside it, its
// segments.
type Playlist struct {
	Bucket   string        `json:"bucket"`
	Key      string        `json:"key"`               // the playlist (.m3u8), closed when the egress ends
	LiveKey  string        `json:"liveKey,omitempty"` // the rolling live playlist, when there is one
	Segments int64         `json:"segments"`
	Size     int64         `json:"size"`
	Duration time.Duration `json:"duration"`
}

// Stream is one RTMP destination; its URL has the stream key redacted.
type Stream struct {
	URL    string `json:"url"`
	Status string `json:"status"` // active, finished, failed
	Error  string `json:"error,omitempty"`
}

// Service starts and controls egresses.
type Service struct {
	c     *lk.Client
	api   livekit.Egress
	rooms livekit.RoomService
	store target
	keys  keys.Maker
	// startTrack starts one stem; a test seam so a start can be made to fail.
	startTrack func(ctx context.Context, req *livekit.TrackEgressRequest) (*livekit.EgressInfo, error)
}

// New returns a Service recording into store.
func New(cfg Config, store Storage) (*Service, error) {
	c, err := lk.NewClient("egress.New", cfg)
	if err != nil {
		return nil, err
	}
	if err := store.Validate(); err != nil {
		return nil, errs.Invalid("egress.New", "%v", err)
	}
	opts := xtwirp.DefaultClientOptions()
	s := &Service{c: c, store: target{store}, keys: keys.Default,
		api:   livekit.NewEgressProtobufClient(c.BaseURL, c.HTTP, opts...),
		rooms: livekit.NewRoomServiceProtobufClient(c.BaseURL, c.HTTP, opts...)}
	s.startTrack = s.api.StartTrackEgress
	return s, nil
}

// AudioOptions shape a show recording.
type AudioOptions struct {
	// Identity whose audio is the show: the mixing desk's ingress or the main
	// performer. Empty: the only participant publishing audio.
	Identity string
	// Filename is an optional suffix for the key the server chooses
	// (<room>/<UTC time>-<unique id>-<Filename>.ogg): at most 64 of A-Z, a-z,
	// 0-9, _ and -. Anything else is refused with ErrInvalidArgument.
	Filename string
	Bitrate  int // kbps of the Opus recording; 256 when 0
}

// The bounds of AudioOptions.Bitrate, in kbit/s: Opus' ceiling, and a floor
// below which music is not worth keeping.
const (
	MinBitrate = 32
	MaxBitrate = ogg.OpusMaxBitrate / 1000
)

// RecordAudio records the show's audio as Opus in Ogg, without Chrome.
func (s *Service) RecordAudio(ctx context.Context, room string, o AudioOptions) (Egress, error) {
	const op = "egress.RecordAudio"
	if o.Bitrate == 0 {
		o.Bitrate = 256
	}
	if o.Bitrate < MinBitrate || o.Bitrate > MaxBitrate {
		return Egress{}, errs.Invalid(op, "bitrate %d kbps is outside %d..%d", o.Bitrate, MinBitrate, MaxBitrate)
	}
	key, err := s.keys.File(op, room, o.Filename, ".ogg")
	if err != nil {
		return Egress{}, err
	}
	tracks, err := s.audioTracks(ctx, op, room)
	if err != nil {
		return Egress{}, err
	}
	var pick []audioTrack
	for _, t := range tracks {
		if o.Identity == "" || t.identity == o.Identity {
			pick = append(pick, t)
		}
	}
	switch {
	case len(pick) == 0 && o.Identity != "":
		return Egress{}, errs.NotFound(op, "%s publishes no audio in %s", o.Identity, room)
	case len(pick) == 0:
		return Egress{}, errs.NotFound(op, "nobody publishes audio in %s", room)
	case len(pick) > 1:
		return Egress{}, &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition,
			Message: fmt.Sprintf("%d audio tracks in %s", len(pick), room),
			Hint:    "name the Identity whose audio is the show, or record stems"}
	}
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.StartTrackCompositeEgress, &livekit.TrackCompositeEgressRequest{
		RoomName: room, AudioTrackId: pick[0].sid,
		Options: &livekit.TrackCompositeEgressRequest_Advanced{Advanced: &livekit.EncodingOptions{
			AudioCodec: livekit.AudioCodec_OPUS, AudioBitrate: int32(o.Bitrate), AudioFrequency: 48000}},
		FileOutputs: []*livekit.EncodedFileOutput{{FileType: livekit.EncodedFileType_OGG, Filepath: key,
			Output: &livekit.EncodedFileOutput_S3{S3: s.store.s3()}}},
	})
	if err != nil {
		return Egress{}, err
	}
	return s.from(info, "audio"), nil
}

// VideoOptions shape a video recording.
type VideoOptions struct {
	// Identity whose audio and video are recorded, typically the OBS ingest.
	// Empty: the only participant publishing audio.
	Identity string
	// Filename is an optional suffix for the key, as AudioOptions.Filename
	// (<room>/<UTC time>-<unique id>-<Filename>.mp4).
	Filename string
	// Width and Height of the recording; 0: the size the participant publishes
	// (1920x1080 when LiveKit does not know it). Both or neither.
	Width, Height int
	Framerate     int // frames per second; 30 when 0
	VideoBitrate  int // kbps of H.264; 3000 up to 720 lines, 4500 above (LiveKit's presets) when 0
	AudioBitrate  int // kbps of stereo AAC; 192 when 0, at least 160 for music
}

// RecordVideo records one participant's audio and video as MP4 (H.264 and
// stereo AAC), without Chrome.
//
// It is a track composite of the participant's audio and video tracks, not a
// participant egress: the facade already picks tracks by SID (as RecordAudio and
// HLS do), the caller learns at once when the participant has no video, and the
// recording holds exactly the two tracks that were live when it started. Egress
// v1.8.6 cannot pass H.264 through into a muxed file: for any track composite or
// participant egress with a file output it decodes and re-encodes the video
// (pkg/config/output.go sets VideoEncoding for every encoded file output; only a
// track egress copies a track as it is, one track per file, without audio). So
// the video is encoded with x264 at the source's size and the audio as AAC at a
// bitrate fit for music; AAC rather than Opus because every browser and player
// plays AAC in MP4.
func (s *Service) RecordVideo(ctx context.Context, room string, o VideoOptions) (Egress, error) {
	const op = "egress.RecordVideo"
	if o.AudioBitrate == 0 {
		o.AudioBitrate = 192
	}
	if err := checkSize(op, o.Width, o.Height); err != nil {
		return Egress{}, err
	}
	switch {
	case o.AudioBitrate < 160 || o.AudioBitrate > 512:
		return Egress{}, errs.Invalid(op, "audio bitrate %d kbps is outside 160..512", o.AudioBitrate)
	case o.Framerate < 0 || o.Framerate > 60:
		return Egress{}, errs.Invalid(op, "framerate %d is outside 1..60", o.Framerate)
	case o.VideoBitrate < 0 || o.VideoBitrate > 50000:
		return Egress{}, errs.Invalid(op, "video bitrate %d kbps is outside 1..50000", o.VideoBitrate)
	}
	key, err := s.keys.File(op, room, o.Filename, ".mp4")
	if err != nil {
		return Egress{}, err
	}
	t, err := s.oneAudioTrack(ctx, op, room, o.Identity)
	if err != nil {
		return Egress{}, err
	}
	if t.videoSID == "" {
		return Egress{}, &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition,
			Message: fmt.Sprintf("%s publishes no video in %s", t.identity, room), Hint: "record the audio instead"}
	}
	enc := t.videoEncoding(o.Width, o.Height)
	if o.Framerate != 0 {
		enc.Framerate = int32(o.Framerate)
	}
	if o.VideoBitrate != 0 {
		enc.VideoBitrate = int32(o.VideoBitrate)
	}
	enc.AudioCodec, enc.AudioBitrate, enc.AudioFrequency = livekit.AudioCodec_AAC, int32(o.AudioBitrate), 48000
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.StartTrackCompositeEgress, &livekit.TrackCompositeEgressRequest{
		RoomName: room, AudioTrackId: t.sid, VideoTrackId: t.videoSID,
		Options: &livekit.TrackCompositeEgressRequest_Advanced{Advanced: enc},
		FileOutputs: []*livekit.EncodedFileOutput{{FileType: livekit.EncodedFileType_MP4, Filepath: key,
			Output: &livekit.EncodedFileOutput_S3{S3: s.store.s3()}}},
	})
	if err != nil {
		return Egress{}, err
	}
	return s.from(info, "video"), nil
}

// videoEncoding is H.264 at width x height, or at the size the track publishes
// when those are 0 (egress would otherwise scale everything to 1920x1080).
func (t audioTrack) videoEncoding(width, height int) *livekit.EncodingOptions {
	w, h := int32(width), int32(height)
	if w == 0 {
		// The top simulcast layer's size; egress wants even numbers.
		w, h = int32(t.width)&^1, int32(t.height)&^1
	}
	if w < 16 || h < 16 {
		w, h = 1920, 1080
	}
	return h264(w, h)
}

// h264 is H.264 at w x h with LiveKit's preset bitrate for that size at 30 fps.
func h264(w, h int32) *livekit.EncodingOptions {
	bitrate := int32(4500)
	if min(w, h) <= 720 {
		bitrate = 3000
	}
	return &livekit.EncodingOptions{VideoCodec: livekit.VideoCodec_H264_MAIN, Width: w, Height: h, Framerate: 30, VideoBitrate: bitrate}
}

// RecordStems records every audio track in the room to its own file: one stem per
// performer, for mixing after the show, at <room>/stems/<UTC time>-<unique
// id>-<identity> (egress adds the extension).
//
// It is safe to retry: a track that already has an active track egress gets no
// second one, and the answer holds the existing egress with the new ones. Each
// start has its own deadline (the client's Timeout), so many performers do not
// share one. When a start fails, the stems this call started are stopped again
// and the error is returned: nothing records that the caller was not told about.
func (s *Service) RecordStems(ctx context.Context, room string) ([]Egress, error) {
	const op = "egress.RecordStems"
	if err := keys.CheckFolder(op, room); err != nil {
		return nil, err
	}
	tracks, err := s.audioTracks(ctx, op, room)
	if err != nil {
		return nil, err
	}
	if len(tracks) == 0 {
		return nil, errs.NotFound(op, "nobody publishes audio in %s", room)
	}
	running, err := s.activeTrackEgress(ctx, op, room)
	if err != nil {
		return nil, err
	}
	var out, started []Egress
	for _, t := range tracks {
		if e, ok := running[t.sid]; ok {
			out = append(out, e)
			continue
		}
		run, err := s.keys.New(op, room, "stems")
		if err != nil {
			return nil, err
		}
		e, err := s.startStem(ctx, op, room, t, run.Stem(t.identity))
		if err != nil {
			return nil, s.undo(op, started, err)
		}
		started = append(started, e)
		out = append(out, e)
	}
	return out, nil
}

// startStem starts one track egress under its own deadline.
func (s *Service) startStem(ctx context.Context, op, room string, t audioTrack, key string) (Egress, error) {
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.startTrack, &livekit.TrackEgressRequest{RoomName: room, TrackId: t.sid,
		Output: &livekit.TrackEgressRequest_File{File: &livekit.DirectFileOutput{
			Filepath: key, Output: &livekit.DirectFileOutput_S3{S3: s.store.s3()}}}})
	if err != nil {
		return Egress{}, err
	}
	return s.from(info, "stem"), nil
}

// undo stops the stems a failed RecordStems started and returns cause, with the
// IDs it could not stop named in the hint. It runs on a fresh context (Stop
// bounds each call by the client's Timeout): the caller's may be the one that
// just ran out.
func (s *Service) undo(op string, started []Egress, cause error) error {
	var left []string
	for _, e := range started {
		_, err := s.Stop(context.Background(), e.ID)
		if err != nil && !errors.Is(err, errs.ErrFailedPrecondition) && !errors.Is(err, errs.ErrNotFound) {
			left = append(left, e.ID)
		}
	}
	if len(left) == 0 {
		return cause
	}
	e := &errs.Error{Op: op, Kind: errs.ErrUpstream, Message: cause.Error()}
	if le, ok := cause.(*errs.Error); ok {
		c := *le
		e = &c
	}
	e.Hint = "these stems started and could not be stopped: " + strings.Join(left, ", ")
	return e
}

// activeTrackEgress is the room's running track egresses by track SID.
func (s *Service) activeTrackEgress(ctx context.Context, op, room string) (map[string]Egress, error) {
	res, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.ListEgress, &livekit.ListEgressRequest{RoomName: room, Active: true})
	if err != nil {
		return nil, err
	}
	out := map[string]Egress{}
	for _, info := range res.Items {
		// An ending stem is on its way out: the track gets a new one.
		if st := statuses[info.Status]; info.GetTrack() != nil && (st == Starting || st == Active) {
			out[info.GetTrack().TrackId] = s.from(info, "stem")
		}
	}
	return out, nil
}

// HLS records the show as HLS segments into the bucket, in a folder of its own
// (<room>/hls/<UTC time>-<unique id>/playlist.m3u8 and its segments), so a
// second HLS of the same room overwrites nothing. The segments carry the
// participant's video too when it publishes any (H.264 at the size it publishes),
// and only the audio otherwise; audio is AAC either way.
func (s *Service) HLS(ctx context.Context, room, identity string) (Egress, error) {
	const op = "egress.HLS"
	run, err := s.keys.New(op, room, "hls")
	if err != nil {
		return Egress{}, err
	}
	dir := run.String()
	t, err := s.oneAudioTrack(ctx, op, room, identity)
	if err != nil {
		return Egress{}, err
	}
	req := &livekit.TrackCompositeEgressRequest{
		RoomName: room, AudioTrackId: t.sid,
		SegmentOutputs: []*livekit.SegmentedFileOutput{{Protocol: livekit.SegmentedFileProtocol_HLS_PROTOCOL,
			FilenamePrefix: dir + "/segment", PlaylistName: dir + "/playlist.m3u8", SegmentDuration: 4,
			Output: &livekit.SegmentedFileOutput_S3{S3: s.store.s3()}}},
	}
	if t.videoSID != "" {
		// Only the size: audio stays at egress's AAC defaults, as without video.
		// Egress asks x264 for a key frame at each segment boundary
		// (splitmuxsink's keyframe requests), so segments stay within their 4 s.
		req.VideoTrackId = t.videoSID
		v := t.videoEncoding(0, 0)
		req.Options = &livekit.TrackCompositeEgressRequest_Advanced{Advanced: &livekit.EncodingOptions{
			Width: v.Width, Height: v.Height, Framerate: v.Framerate, VideoBitrate: v.VideoBitrate}}
	}
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.StartTrackCompositeEgress, req)
	if err != nil {
		return Egress{}, err
	}
	return s.from(info, "hls"), nil
}

// Restream sends a performer's (or the ingress mix's) audio and video to RTMP
// destinations such as a streaming platform.
func (s *Service) Restream(ctx context.Context, room, identity string, urls ...string) (Egress, error) {
	const op = "egress.Restream"
	if err := checkRTMP(op, urls, true); err != nil {
		return Egress{}, err
	}
	t, err := s.oneAudioTrack(ctx, op, room, identity)
	if err != nil {
		return Egress{}, err
	}
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.StartTrackCompositeEgress, &livekit.TrackCompositeEgressRequest{
		RoomName: room, AudioTrackId: t.sid, VideoTrackId: t.videoSID,
		StreamOutputs: []*livekit.StreamOutput{{Protocol: livekit.StreamProtocol_RTMP, Urls: urls}},
	})
	if err != nil {
		return Egress{}, err
	}
	return s.from(info, "restream"), nil
}

// AddDestinations adds RTMP destinations to a live restream.
func (s *Service) AddDestinations(ctx context.Context, id string, urls ...string) (Egress, error) {
	return s.updateStream(ctx, "egress.AddDestinations", id, urls, nil)
}

// RemoveDestinations stops sending to some destinations of a live restream.
func (s *Service) RemoveDestinations(ctx context.Context, id string, urls ...string) (Egress, error) {
	return s.updateStream(ctx, "egress.RemoveDestinations", id, nil, urls)
}

func (s *Service) updateStream(ctx context.Context, op, id string, add, remove []string) (Egress, error) {
	if err := lk.CheckID(op, "egress", "EG_", id); err != nil {
		return Egress{}, err
	}
	if err := checkRTMP(op, append(add, remove...), true); err != nil {
		return Egress{}, err
	}
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.UpdateStream, &livekit.UpdateStreamRequest{EgressId: id, AddOutputUrls: add, RemoveOutputUrls: remove})
	if err != nil {
		return Egress{}, err
	}
	return s.from(info, "restream"), nil
}

// RoomOptions shape a room composite recording.
type RoomOptions struct {
	// Layout is how egress's page composes the room's video: grid, speaker or
	// single-speaker, each dark by default or with -dark or -light; speaker when
	// empty. Anything else is refused with ErrInvalidArgument (egress would
	// otherwise quietly draw a grid).
	Layout string
	// Width and Height of the picture; 0: 1280x720, egress's default. Both or
	// neither, even numbers of pixels, 16..3840.
	Width, Height int
	// AudioOnly records the room's mixed sound alone, as Opus in Ogg: no
	// layout and no size.
	AudioOnly bool
	Filename  string // an optional key suffix, as AudioOptions.Filename
}

// Layouts are the layouts of egress's default page, as RoomOptions.Layout names
// them.
var Layouts = []string{"grid", "grid-dark", "grid-light", "speaker", "speaker-dark", "speaker-light",
	"single-speaker", "single-speaker-dark", "single-speaker-light"}

// RecordRoom records the room as egress's page composes it in Chrome: every
// performer's video in the layout and everyone's sound mixed, as MP4 (H.264 and
// stereo AAC at a bitrate fit for music), or only the sound as Opus in Ogg when
// AudioOnly. The egress service needs Chrome, PulseAudio and its page templates
// (scripts/stack builds them).
//
// The recording ends by Stop, or on its own when the room closes: egress's page
// sees the room go and ends the recording, audio-only too (the upstream report
// livekit/egress#815, of an audio-only composite recording on after its room
// ended, does not reproduce with v1.8.6 on our stack: see the tests).
func (s *Service) RecordRoom(ctx context.Context, room string, o RoomOptions) (Egress, error) {
	const op = "egress.RecordRoom"
	if err := lk.Name(op, "room name", room); err != nil {
		return Egress{}, err
	}
	switch {
	case o.AudioOnly && (o.Layout != "" || o.Width != 0 || o.Height != 0):
		return Egress{}, errs.Invalid(op, "an audio-only recording has no layout and no size")
	case o.Layout != "" && !slices.Contains(Layouts, o.Layout):
		return Egress{}, &errs.Error{Op: op, Kind: errs.ErrInvalidArgument, Message: fmt.Sprintf("no layout %q", o.Layout),
			Hint: "one of " + strings.Join(Layouts, ", ")}
	}
	if err := checkSize(op, o.Width, o.Height); err != nil {
		return Egress{}, err
	}
	if o.Layout == "" && !o.AudioOnly {
		o.Layout = "speaker"
	}
	req := &livekit.RoomCompositeEgressRequest{RoomName: room, Layout: o.Layout, AudioOnly: o.AudioOnly}
	ft, ext := livekit.EncodedFileType_MP4, ".mp4"
	if o.AudioOnly {
		ft, ext = livekit.EncodedFileType_OGG, ".ogg"
		req.Options = &livekit.RoomCompositeEgressRequest_Advanced{Advanced: &livekit.EncodingOptions{
			AudioCodec: livekit.AudioCodec_OPUS, AudioBitrate: 256, AudioFrequency: 48000}}
	} else {
		w, h := o.Width, o.Height
		if w == 0 {
			w, h = 1280, 720
		}
		enc := h264(int32(w), int32(h))
		enc.AudioCodec, enc.AudioBitrate, enc.AudioFrequency = livekit.AudioCodec_AAC, 192, 48000
		req.Options = &livekit.RoomCompositeEgressRequest_Advanced{Advanced: enc}
	}
	key, err := s.keys.File(op, room, o.Filename, ext)
	if err != nil {
		return Egress{}, err
	}
	req.FileOutputs = []*livekit.EncodedFileOutput{{FileType: ft, Filepath: key, Output: &livekit.EncodedFileOutput_S3{S3: s.store.s3()}}}
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.StartRoomCompositeEgress, req)
	if err != nil {
		return Egress{}, err
	}
	return s.from(info, "room"), nil
}

// checkSize checks a recording's picture size: both or neither given, even
// numbers of pixels (x264 wants them), 16..3840.
func checkSize(op string, w, h int) error {
	switch {
	case (w == 0) != (h == 0):
		return errs.Invalid(op, "give both width and height, or neither")
	case w < 0 || h < 0 || w%2 == 1 || h%2 == 1 || w > 3840 || h > 3840 || (w > 0 && (w < 16 || h < 16)):
		return errs.Invalid(op, "size %dx%d: even numbers of pixels, 16..3840", w, h)
	}
	return nil
}

// Stop ends an egress; files are uploaded as it ends.
func (s *Service) Stop(ctx context.Context, id string) (Egress, error) {
	const op = "egress.Stop"
	if err := lk.CheckID(op, "egress", "EG_", id); err != nil {
		return Egress{}, err
	}
	info, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.StopEgress, &livekit.StopEgressRequest{EgressId: id})
	if err != nil {
		return Egress{}, err
	}
	return s.from(info, ""), nil
}

// ListOptions filter List.
type ListOptions struct {
	Room   string
	Active bool // only those still running
}

// List returns egresses, newest first as LiveKit orders them.
func (s *Service) List(ctx context.Context, o ListOptions) ([]Egress, error) {
	const op = "egress.List"
	if o.Room != "" {
		if err := lk.Name(op, "room name", o.Room); err != nil {
			return nil, err
		}
	}
	return s.list(ctx, op, &livekit.ListEgressRequest{RoomName: o.Room, Active: o.Active})
}

// Get returns one egress, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Egress, error) {
	const op = "egress.Get"
	if err := lk.CheckID(op, "egress", "EG_", id); err != nil {
		return Egress{}, err
	}
	list, err := s.list(ctx, op, &livekit.ListEgressRequest{EgressId: id})
	if err != nil {
		return Egress{}, err
	}
	if len(list) == 0 {
		return Egress{}, errs.NotFound(op, "no egress %q", id)
	}
	return list[0], nil
}

func (s *Service) list(ctx context.Context, op string, req *livekit.ListEgressRequest) ([]Egress, error) {
	res, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomRecord: true}, s.api.ListEgress, req)
	if err != nil {
		return nil, err
	}
	out := make([]Egress, 0, len(res.Items))
	for _, info := range res.Items {
		out = append(out, s.from(info, ""))
	}
	return out, nil
}

// WaitFor polls until the egress reaches one of the statuses, or has ended.
func (s *Service) WaitFor(ctx context.Context, id string, want ...Status) (Egress, error) {
	return lk.Poll(ctx, "egress.WaitFor", func() (Egress, bool, error) {
		e, err := s.Get(ctx, id)
		return e, err == nil && (slices.Contains(want, e.Status) || e.Status.Done()), err
	})
}

// audioTrack is one audio track and its publisher's first video track, if any,
// with that video's size.
type audioTrack struct {
	sid, identity, videoSID string
	width, height           uint32
}

// audioTracks lists who publishes audio, so presets can pick tracks by performer.
func (s *Service) audioTracks(ctx context.Context, op, room string) ([]audioTrack, error) {
	if err := lk.Name(op, "room name", room); err != nil {
		return nil, err
	}
	res, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomAdmin: true, Room: room}, s.rooms.ListParticipants, &livekit.ListParticipantsRequest{Room: room})
	if err != nil {
		return nil, err
	}
	var out []audioTrack
	for _, p := range res.Participants {
		var video *livekit.TrackInfo
		for _, t := range p.Tracks {
			if t.Type == livekit.TrackType_VIDEO && video == nil {
				video = t
			}
		}
		for _, t := range p.Tracks {
			if t.Type == livekit.TrackType_AUDIO {
				out = append(out, audioTrack{sid: t.Sid, identity: p.Identity, videoSID: video.GetSid(),
					width: video.GetWidth(), height: video.GetHeight()})
			}
		}
	}
	return out, nil
}

func (s *Service) oneAudioTrack(ctx context.Context, op, room, identity string) (audioTrack, error) {
	tracks, err := s.audioTracks(ctx, op, room)
	if err != nil {
		return audioTrack{}, err
	}
	var pick []audioTrack
	for _, t := range tracks {
		if identity == "" || t.identity == identity {
			pick = append(pick, t)
		}
	}
	switch {
	case len(pick) == 0:
		return audioTrack{}, errs.NotFound(op, "no audio to send from %s", room)
	case len(pick) > 1:
		return audioTrack{}, &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition, Message: fmt.Sprintf("%d audio tracks in %s", len(pick), room), Hint: "name the identity to send"}
	}
	return pick[0], nil
}

var statuses = map[livekit.EgressStatus]Status{
	livekit.EgressStatus_EGRESS_STARTING: Starting, livekit.EgressStatus_EGRESS_ACTIVE: Active,
	livekit.EgressStatus_EGRESS_ENDING: Ending, livekit.EgressStatus_EGRESS_COMPLETE: Complete,
	livekit.EgressStatus_EGRESS_FAILED: Failed, livekit.EgressStatus_EGRESS_ABORTED: Aborted,
	livekit.EgressStatus_EGRESS_LIMIT_REACHED: LimitReached,
}

func (s *Service) from(info *livekit.EgressInfo, kind string) Egress {
	e := FromLiveKit(info, s.store.Bucket)
	if kind != "" {
		e.Kind = kind
	}
	return e
}

// FromLiveKit is LiveKit's egress as the show sees it; bucket is where its files
// went (LiveKit's info does not say it reliably), and restream URLs have their
// stream keys redacted.
func FromLiveKit(info *livekit.EgressInfo, bucket string) Egress {
	e := Egress{ID: info.EgressId, Room: info.RoomName, Kind: kindOf(info), Status: statuses[info.Status], Error: info.Error}
	if info.StartedAt > 0 {
		e.StartedAt = time.Unix(0, info.StartedAt).UTC()
	}
	if info.EndedAt > 0 {
		e.EndedAt = time.Unix(0, info.EndedAt).UTC()
	}
	for _, f := range info.FileResults {
		// Egress v1.8.6 reports Location wrongly for custom endpoints
		// ("https://<bucket>.http://host:9000/..."); the object key is right, so
		// downloads are built from bucket + key.
		e.Files = append(e.Files, File{Bucket: bucket, Key: strings.TrimPrefix(f.Filename, "/"), Size: f.Size, Duration: time.Duration(f.Duration)})
	}
	for _, sg := range info.SegmentResults {
		e.Playlists = append(e.Playlists, Playlist{Bucket: bucket, Key: strings.TrimPrefix(sg.PlaylistName, "/"),
			LiveKey: strings.TrimPrefix(sg.LivePlaylistName, "/"), Segments: sg.SegmentCount, Size: sg.Size, Duration: time.Duration(sg.Duration)})
	}
	for _, st := range info.StreamResults {
		e.Streams = append(e.Streams, Stream{URL: RedactURL(st.Url), Status: strings.ToLower(st.Status.String()), Error: st.Error})
	}
	// An error may quote a destination whole, stream key included.
	for _, st := range info.StreamResults {
		e.Error = redact.In(e.Error, st.Url)
		for i := range e.Streams {
			e.Streams[i].Error = redact.In(e.Streams[i].Error, st.Url)
		}
	}
	return e
}

func kindOf(info *livekit.EgressInfo) string {
	switch {
	case info.GetRoomComposite() != nil:
		return "room"
	case info.GetTrack() != nil:
		return "stem"
	case len(info.StreamResults) > 0:
		return "restream"
	case len(info.SegmentResults) > 0:
		return "hls"
	case info.GetTrackComposite().GetVideoTrackId() != "":
		return "video"
	default:
		return "audio"
	}
}

// RedactURL hides the stream key (the last path element) of an RTMP URL, and
// any URL's userinfo and query string (see package internal/redact: the one
// rule for every URL the project shows).
func RedactURL(raw string) string { return redact.URL(raw) }

// String keeps stream keys out of logs (Streams already hold redacted URLs).
func (e Egress) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", e.ID), slog.String("room", e.Room), slog.String("kind", e.Kind), slog.String("status", string(e.Status)))
}

func checkRTMP(op string, urls []string, required bool) error {
	if required && len(urls) == 0 {
		return errs.Invalid(op, "at least one rtmp:// or rtmps:// destination is required")
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Host == "" || len(u.Path) < 2 {
			return errs.Invalid(op, "destination %s is not an rtmp(s)://host/app/stream-key URL", RedactURL(raw))
		}
	}
	return nil
}
