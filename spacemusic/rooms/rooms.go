// Package rooms manages stages (LiveKit rooms) and the people on them: create and
// close rooms, list who is there, mute, kick, move listeners on and off stage, and
// send data messages.
package rooms

import (
	"context"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/xtwirp"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Service talks to LiveKit's RoomService.
type Service struct {
	c   *lk.Client
	api livekit.RoomService
}

// New returns a Service for cfg; it fails only on invalid configuration.
func New(cfg Config) (*Service, error) {
	c, err := lk.NewClient("rooms.New", cfg)
	if err != nil {
		return nil, err
	}
	return &Service{c: c, api: livekit.NewRoomServiceProtobufClient(c.BaseURL, c.HTTP, xtwirp.DefaultClientOptions()...)}, nil
}

// CreateOptions tune a new room. Zero values leave LiveKit's defaults.
type CreateOptions struct {
	EmptyTimeout     time.Duration `json:"-"` // close the room this long after it was created empty
	DepartureTimeout time.Duration `json:"-"` // close it this long after the last one left
	MaxParticipants  int           `json:"maxParticipants,omitempty"`
	Metadata         string        `json:"metadata,omitempty"`
	// Playout delay trades latency for smoothness; music sets a floor so that
	// performers in different places stay in step.
	MinPlayoutDelay time.Duration `json:"-"`
	MaxPlayoutDelay time.Duration `json:"-"`
	SyncStreams     bool          `json:"syncStreams,omitempty"` // keep audio and video of a participant in sync
}

// MaxMetadata is LiveKit's default limit for room and participant metadata.
const MaxMetadata = 64 << 10

// Create opens a room. LiveKit treats creating an existing room as a no-op that
// returns it, so Create is idempotent.
func (s *Service) Create(ctx context.Context, name string, o CreateOptions) (Room, error) {
	const op = "rooms.Create"
	if err := lk.Name(op, "room name", name); err != nil {
		return Room{}, err
	}
	switch {
	case o.EmptyTimeout < 0 || o.DepartureTimeout < 0:
		return Room{}, errs.Invalid(op, "timeouts must not be negative")
	case o.MaxParticipants < 0:
		return Room{}, errs.Invalid(op, "max participants must not be negative")
	case o.MinPlayoutDelay < 0 || o.MaxPlayoutDelay < 0:
		return Room{}, errs.Invalid(op, "playout delays must not be negative")
	case o.MaxPlayoutDelay != 0 && o.MinPlayoutDelay > o.MaxPlayoutDelay:
		return Room{}, errs.Invalid(op, "min playout delay %s is above max playout delay %s", o.MinPlayoutDelay, o.MaxPlayoutDelay)
	case len(o.Metadata) > MaxMetadata:
		return Room{}, errs.Invalid(op, "metadata is %d bytes; at most %d allowed", len(o.Metadata), MaxMetadata)
	}
	r, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomCreate: true}, s.api.CreateRoom, &livekit.CreateRoomRequest{
		Name:             name,
		EmptyTimeout:     seconds(o.EmptyTimeout),
		DepartureTimeout: seconds(o.DepartureTimeout),
		MaxParticipants:  uint32(o.MaxParticipants),
		Metadata:         o.Metadata,
		MinPlayoutDelay:  uint32(o.MinPlayoutDelay.Milliseconds()),
		MaxPlayoutDelay:  uint32(o.MaxPlayoutDelay.Milliseconds()),
		SyncStreams:      o.SyncStreams,
	})
	if err != nil {
		return Room{}, err
	}
	return FromLiveKit(r), nil
}

func seconds(d time.Duration) uint32 { return uint32((d + time.Second - 1) / time.Second) }

// List returns the open rooms, all of them or those with the given names.
func (s *Service) List(ctx context.Context, names ...string) ([]Room, error) {
	const op = "rooms.List"
	for _, n := range names {
		if err := lk.Name(op, "room name", n); err != nil {
			return nil, err
		}
	}
	res, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomList: true}, s.api.ListRooms, &livekit.ListRoomsRequest{Names: names})
	if err != nil {
		return nil, err
	}
	out := make([]Room, 0, len(res.Rooms))
	for _, r := range res.Rooms {
		out = append(out, FromLiveKit(r))
	}
	return out, nil
}

// Get returns a room and everyone in it, or ErrNotFound.
func (s *Service) Get(ctx context.Context, name string) (Detail, error) {
	const op = "rooms.Get"
	if err := lk.Name(op, "room name", name); err != nil {
		return Detail{}, err
	}
	found, err := s.List(ctx, name)
	if err != nil {
		return Detail{}, errs.Relabel(op, err)
	}
	if len(found) == 0 {
		return Detail{}, errs.NotFound(op, "room %q does not exist", name)
	}
	ps, err := s.Participants(ctx, name)
	if err != nil {
		return Detail{}, errs.Relabel(op, err)
	}
	return Detail{Room: found[0], Participants: ps}, nil
}

// Delete closes a room, disconnecting everyone; ErrNotFound if there is none.
func (s *Service) Delete(ctx context.Context, name string) error {
	const op = "rooms.Delete"
	if err := lk.Name(op, "room name", name); err != nil {
		return err
	}
	_, err := lk.Do(ctx, s.c, op, tokens.Grant{RoomCreate: true}, s.api.DeleteRoom, &livekit.DeleteRoomRequest{Room: name})
	return err
}

// SetMetadata replaces the room's metadata (e.g. the set list as JSON).
func (s *Service) SetMetadata(ctx context.Context, name, metadata string) (Room, error) {
	const op = "rooms.SetMetadata"
	if err := lk.Name(op, "room name", name); err != nil {
		return Room{}, err
	}
	if len(metadata) > MaxMetadata {
		return Room{}, errs.Invalid(op, "metadata is %d bytes; at most %d allowed", len(metadata), MaxMetadata)
	}
	r, err := adminDo(ctx, s, op, name, s.api.UpdateRoomMetadata, &livekit.UpdateRoomMetadataRequest{Room: name, Metadata: metadata})
	if err != nil {
		return Room{}, err
	}
	return FromLiveKit(r), nil
}

// adminDo makes one request with room-admin rights, after checking the room name.
func adminDo[Req, Res any](ctx context.Context, s *Service, op, room string, call func(context.Context, Req) (Res, error), req Req) (Res, error) {
	if err := lk.Name(op, "room name", room); err != nil {
		var zero Res
		return zero, err
	}
	return lk.Do(ctx, s.c, op, tokens.Grant{RoomAdmin: true, Room: room}, call, req)
}
