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
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/xtwirp"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
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
