package shows

import (
	"context"
	"strconv"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// intruded reports an Impostor event: someone joined the show under the
// recorder's identity and LiveKit dropped the recorder for them (the recorder
// joins again by itself). The impostor's own join often never reaches the
// model: the recorder coming back drops them before LiveKit counts them.
func (s *Service) intruded(room string) {
	if s.cfg.Watch == nil {
		return
	}
	now := time.Now().UTC()
	e := events.Event{Kind: events.Impostor, ID: "sk-impostor-" + strconv.FormatInt(now.UnixNano(), 36), At: now, Room: room,
		Participant: &events.Participant{Participant: rooms.Participant{Identity: capture.Identity}}}
	if r := s.cfg.Watch.Snapshot().Rooms[room]; r != nil {
		e.RoomSID = r.SID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := s.cfg.Watch.Apply(ctx, e); err != nil {
		s.cfg.Logger.Warn("shows: the model did not take an impostor event", "show", room, "error", err.Error())
	}
}
