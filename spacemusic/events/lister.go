package events

import (
	"context"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/xtwirp"

	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Config says how to reach LiveKit (see lk.Config): every list has its deadline.
type Config = lk.Config

// liveKit lists LiveKit's state through its server API, with the least grant each
// list needs.
type liveKit struct {
	c       *lk.Client
	rooms   livekit.RoomService
	ingress livekit.Ingress
	egress  livekit.Egress
}

// NewLister returns the Lister that asks LiveKit itself.
func NewLister(cfg Config) (Lister, error) {
	c, err := lk.NewClient("events.NewLister", cfg)
	if err != nil {
		return nil, err
	}
	o := xtwirp.DefaultClientOptions()
	return &liveKit{c: c,
		rooms:   livekit.NewRoomServiceProtobufClient(c.BaseURL, c.HTTP, o...),
		ingress: livekit.NewIngressProtobufClient(c.BaseURL, c.HTTP, o...),
		egress:  livekit.NewEgressProtobufClient(c.BaseURL, c.HTTP, o...)}, nil
}

func (l *liveKit) ListRooms(ctx context.Context) ([]*livekit.Room, error) {
	res, err := lk.Do(ctx, l.c, "events.ListRooms", tokens.Grant{RoomList: true}, l.rooms.ListRooms, &livekit.ListRoomsRequest{})
	return res.GetRooms(), err
}

func (l *liveKit) ListParticipants(ctx context.Context, room string) ([]*livekit.ParticipantInfo, error) {
	res, err := lk.Do(ctx, l.c, "events.ListParticipants", tokens.Grant{RoomAdmin: true, Room: room}, l.rooms.ListParticipants,
		&livekit.ListParticipantsRequest{Room: room})
	return res.GetParticipants(), err
}

func (l *liveKit) ListIngress(ctx context.Context) ([]*livekit.IngressInfo, error) {
	res, err := lk.Do(ctx, l.c, "events.ListIngress", tokens.Grant{IngressAdmin: true}, l.ingress.ListIngress, &livekit.ListIngressRequest{})
	return res.GetItems(), err
}

func (l *liveKit) ListActiveEgress(ctx context.Context) ([]*livekit.EgressInfo, error) {
	res, err := lk.Do(ctx, l.c, "events.ListEgress", tokens.Grant{RoomRecord: true}, l.egress.ListEgress, &livekit.ListEgressRequest{Active: true})
	return res.GetItems(), err
}

func (l *liveKit) GetEgress(ctx context.Context, id string) (*livekit.EgressInfo, error) {
	res, err := lk.Do(ctx, l.c, "events.GetEgress", tokens.Grant{RoomRecord: true}, l.egress.ListEgress, &livekit.ListEgressRequest{EgressId: id})
	if err != nil || len(res.GetItems()) == 0 {
		return nil, err
	}
	return res.GetItems()[0], nil
}
