package main

// Deps and the interfaces behind it: every call the handlers make on the stack,
// in one place.

import (
	"github.com/spacemusic/streamkit/examples/dashboard/internal/doctor"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/nodes"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"

	"context"
	"log/slog"
	"net/netip"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/rehearsals"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Deps is what the server needs. Each service is an interface of exactly the calls
// the handlers make, so the server depends on behaviour, not on the facade, and
// tests could substitute any part. A nil Ingress, Egress or Recordings makes
// its routes answer 501 not_configured.
type Deps struct {
	Log        *slog.Logger
	Settings   config.Settings
	WSURL      string // LIVEKIT_WS_URL: the public WebSocket URL handed out with tokens
	Health     HealthChecker
	Rooms      Rooms
	Tokens     Tokens
	Ingress    media.Ingresses
	Egress     media.Egresses
	Recordings archive.Recordings
	Resolver   Resolver              // looks up pull and restream hosts; nil: net.DefaultResolver
	Events     live.Events           // the watched model of LiveKit; nil: the live routes answer 501
	Webhooks   live.Webhooks         // LiveKit's webhooks in; nil with Events
	Shows      showroutes.Shows      // opens and closes shows; nil: the shows routes answer 501
	Doctor     *doctor.Doctor        // checks the deployment (/api/doctor); nil: 501
	Rehearsals rehearsals.Rehearsals // rehearses a show's audience; nil: 501
	Nodes      nodes.Reader          // LiveKit's nodes from its Redis (REDIS_URL); nil: 501
	// Closing, when closed, ends the open event streams: the server is
	// shutting down.
	Closing <-chan struct{}
}

// HealthChecker is LiveKit's reachability: *spacemusic.Client.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Rooms is what the room and participant routes need: *rooms.Service.
type Rooms interface {
	List(ctx context.Context, names ...string) ([]rooms.Room, error)
	Create(ctx context.Context, name string, o rooms.CreateOptions) (rooms.Room, error)
	Get(ctx context.Context, name string) (rooms.Detail, error)
	Delete(ctx context.Context, name string) error
	Participants(ctx context.Context, room string) ([]rooms.Participant, error)
	Participant(ctx context.Context, room, identity string) (rooms.Participant, error)
	Kick(ctx context.Context, room, identity string) error
	Mute(ctx context.Context, room, identity string, trackSIDs ...string) ([]rooms.Track, error)
	Unmute(ctx context.Context, room, identity string, trackSIDs ...string) ([]rooms.Track, error)
	Promote(ctx context.Context, room, identity string) (rooms.Participant, error)
	Demote(ctx context.Context, room, identity string) (rooms.Participant, error)
}

// Tokens mints access tokens: *tokens.Issuer.
type Tokens interface {
	Performer(room, identity string, opts ...tokens.Option) (tokens.Token, error)
	Listener(room, identity string, opts ...tokens.Option) (tokens.Token, error)
	Moderator(room, identity string, opts ...tokens.Option) (tokens.Token, error)
	Monitor(room, identity string, opts ...tokens.Option) (tokens.Token, error)
	// WithOwnProof marks the project's own participants (identities.go).
	WithOwnProof(room, identity string) tokens.Option
	// CheckOwnProof says whether the server carries that proof (not v1.6.1).
	CheckOwnProof() error
}

// Resolver looks host names up: net.DefaultResolver in production, a fake in
// tests (which never use real DNS).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}
