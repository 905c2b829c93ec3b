package egress

import (
	"context"
	"net/url"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

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
