package main

// Identities are not for the taking: LiveKit disconnects the earlier holder of
// an identity when a second participant joins under it. A token for someone in
// the room now is therefore a removal, an admin's call, whatever its role; and
// the project's own identities (the recorder's, the monitors') are never
// handed out at all (tokens.Reserved).

import (
	"context"
	"errors"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/spacemusic"
)

// inRoomNow reports whether identity is in room now: from the watched model
// once it serves (no LiveKit call per mint), from LiveKit before. An error
// means nobody can tell; callers refuse rather than guess.
func (s *server) inRoomNow(ctx context.Context, room, identity string) (bool, error) {
	if snap, ok := s.model.Serving(); ok {
		r := snap.Rooms[room]
		if r == nil {
			return false, nil
		}
		_, here := r.Participants[identity]
		return here, nil
	}
	_, err := s.Rooms.Participant(ctx, room, identity)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, spacemusic.ErrNotFound):
		return false, nil
	}
	return false, err
}

// takenNote is why u gets no token for identity in room from a show's answer
// ("" when they may have it): someone under that identity is in the room now,
// and joining with the token would remove them, which is an admin's call.
func (s *server) takenNote(ctx context.Context, u api.User, room, identity string) string {
	if u.Role >= api.Admin {
		return ""
	}
	here, err := s.inRoomNow(ctx, room, identity)
	switch {
	case err != nil:
		return "no token: cannot tell whether " + identity + " is in " + room + " now; ask again"
	case here:
		return "no token: " + identity + " is in " + room + " now, and joining with a new token would disconnect them; an admin may mint one (POST /api/tokens)"
	}
	return ""
}
