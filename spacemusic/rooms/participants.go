package rooms

import (
	"context"

	"github.com/livekit/protocol/livekit"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
)

// Participants lists everyone in a room.
func (s *Service) Participants(ctx context.Context, room string) ([]Participant, error) {
	const op = "rooms.Participants"
	res, err := adminDo(ctx, s, op, room, s.api.ListParticipants, &livekit.ListParticipantsRequest{Room: room})
	if err != nil {
		return nil, err
	}
	if len(res.Participants) == 0 {
		// LiveKit answers an empty list for a room that does not exist; tell the two
		// apart only in this case, so a busy room costs one call.
		found, err := s.List(ctx, room)
		if err != nil {
			return nil, errs.Relabel(op, err)
		}
		if len(found) == 0 {
			return nil, errs.NotFound(op, "room %q does not exist", room)
		}
	}
	out := make([]Participant, 0, len(res.Participants))
	for _, p := range res.Participants {
		out = append(out, ParticipantFromLiveKit(p))
	}
	return out, nil
}

// Participant returns one participant, or ErrNotFound.
func (s *Service) Participant(ctx context.Context, room, identity string) (Participant, error) {
	p, err := s.participant(ctx, "rooms.Participant", room, identity)
	if err != nil {
		return Participant{}, err
	}
	return ParticipantFromLiveKit(p), nil
}

func (s *Service) participant(ctx context.Context, op, room, identity string) (*livekit.ParticipantInfo, error) {
	if err := lk.Name(op, "identity", identity); err != nil {
		return nil, err
	}
	return adminDo(ctx, s, op, room, s.api.GetParticipant, &livekit.RoomParticipantIdentity{Room: room, Identity: identity})
}

// Kick disconnects a participant. Their token still works until it expires: kick a
// listener for good by not handing out a new one.
func (s *Service) Kick(ctx context.Context, room, identity string) error {
	const op = "rooms.Kick"
	if err := lk.Name(op, "identity", identity); err != nil {
		return err
	}
	_, err := adminDo(ctx, s, op, room, s.api.RemoveParticipant, &livekit.RoomParticipantIdentity{Room: room, Identity: identity})
	return err
}

// Mute mutes the given tracks of a participant, or every audio track when none is
// named. It returns the tracks as LiveKit reports them afterwards.
func (s *Service) Mute(ctx context.Context, room, identity string, trackSIDs ...string) ([]Track, error) {
	return s.setMuted(ctx, "rooms.Mute", room, identity, true, trackSIDs)
}

// Unmute reverses Mute. LiveKit refuses it with ErrFailedPrecondition unless the
// server sets room.enable_remote_unmute: true.
func (s *Service) Unmute(ctx context.Context, room, identity string, trackSIDs ...string) ([]Track, error) {
	return s.setMuted(ctx, "rooms.Unmute", room, identity, false, trackSIDs)
}

func (s *Service) setMuted(ctx context.Context, op, room, identity string, muted bool, sids []string) ([]Track, error) {
	// Look the participant up first: LiveKit answers a mute for a room that does
	// not exist only when the request times out, and we want to name the track.
	p, err := s.participant(ctx, op, room, identity)
	if err != nil {
		return nil, err
	}
	published := map[string]bool{}
	for _, t := range p.Tracks {
		published[t.Sid] = true
	}
	if len(sids) == 0 {
		for _, t := range p.Tracks {
			if t.Type == livekit.TrackType_AUDIO {
				sids = append(sids, t.Sid)
			}
		}
		if len(sids) == 0 {
			return nil, errs.NotFound(op, "%s publishes no audio track in %s", identity, room)
		}
	}
	for _, sid := range sids {
		if !published[sid] {
			return nil, errs.NotFound(op, "%s publishes no track %q in %s", identity, sid, room)
		}
	}
	// One deadline for all the tracks, as before; each request is bounded by it.
	ctx, cancel := s.c.Bound(ctx)
	defer cancel()
	out := make([]Track, 0, len(sids))
	for _, sid := range sids {
		res, err := adminDo(ctx, s, op, room, s.api.MutePublishedTrack, &livekit.MuteRoomTrackRequest{Room: room, Identity: identity, TrackSid: sid, Muted: muted})
		if err != nil {
			if e, ok := err.(*errs.Error); ok && !muted && e.Kind == errs.ErrFailedPrecondition {
				e.Hint = "set room.enable_remote_unmute: true in the livekit-server config to allow unmuting remotely"
			}
			return out, err
		}
		out = append(out, TrackFromLiveKit(res.Track))
	}
	return out, nil
}

// Promote brings a listener on stage: they may publish audio, video and data from
// now on, without reconnecting.
func (s *Service) Promote(ctx context.Context, room, identity string) (Participant, error) {
	return s.setStage(ctx, "rooms.Promote", room, identity, true)
}

// Demote sends a performer back to the audience: their tracks are unpublished and
// they may only listen.
func (s *Service) Demote(ctx context.Context, room, identity string) (Participant, error) {
	return s.setStage(ctx, "rooms.Demote", room, identity, false)
}

func (s *Service) setStage(ctx context.Context, op, room, identity string, onStage bool) (Participant, error) {
	p, err := s.participant(ctx, op, room, identity)
	if err != nil {
		return Participant{}, err
	}
	// UpdateParticipant replaces the whole permission: start from the current one so
	// flags such as hidden or recorder survive.
	perm := &livekit.ParticipantPermission{CanSubscribe: true}
	if p.Permission != nil {
		perm = p.Permission
	}
	perm.CanPublish, perm.CanPublishData = onStage, onStage
	if onStage {
		perm.CanPublishSources = nil // every source
	}
	updated, err := adminDo(ctx, s, op, room, s.api.UpdateParticipant, &livekit.UpdateParticipantRequest{Room: room, Identity: identity, Permission: perm})
	if err != nil {
		return Participant{}, err
	}
	return ParticipantFromLiveKit(updated), nil
}

// SendOptions address a data message.
type SendOptions struct {
	Topic string   // lets clients route messages, e.g. "setlist" or "chat"
	To    []string // identities; empty sends to everyone in the room
	Lossy bool     // unreliable delivery, for frequent updates such as levels
}

// MaxData bounds one data message; LiveKit drops reliable packets above ~15 KiB.
const MaxData = 15 << 10

// Send delivers a data message to the room or to some identities in it.
func (s *Service) Send(ctx context.Context, room string, data []byte, o SendOptions) error {
	const op = "rooms.Send"
	if len(data) == 0 {
		return errs.Invalid(op, "data is empty")
	}
	if len(data) > MaxData {
		return errs.Invalid(op, "data is %d bytes; at most %d allowed", len(data), MaxData)
	}
	for _, id := range o.To {
		if err := lk.Name(op, "identity", id); err != nil {
			return err
		}
	}
	req := &livekit.SendDataRequest{Room: room, Data: data, DestinationIdentities: o.To, Kind: livekit.DataPacket_RELIABLE}
	if o.Lossy {
		req.Kind = livekit.DataPacket_LOSSY
	}
	if o.Topic != "" {
		req.Topic = &o.Topic
	}
	_, err := adminDo(ctx, s, op, room, s.api.SendData, req)
	return err
}
