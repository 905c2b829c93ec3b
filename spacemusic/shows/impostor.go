package shows

import (
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
	s.tell(e, "an impostor event")
}
