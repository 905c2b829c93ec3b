package egress

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

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
