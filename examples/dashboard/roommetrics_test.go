package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// snapshotOnly is a live model that can only be read: any other call (a call
// that could reach LiveKit) panics on the nil interface.
type snapshotOnly struct {
	live.Events
	snap *events.Snapshot
}

func (s snapshotOnly) Snapshot() *events.Snapshot { return s.snap }

// room is an open room with n participants, the first publishers of them
// publishing a track, and a hidden monitor who is not counted.
func room(name string, n, publishers int) *events.Room {
	r := &events.Room{Room: rooms.Room{Name: name}, Participants: map[string]events.Participant{}}
	for i := range n {
		p := events.Participant{Participant: rooms.Participant{Identity: fmt.Sprintf("p%d", i)}}
		if i < publishers {
			p.Tracks = []rooms.Track{{SID: fmt.Sprintf("TR_%d", i)}}
		}
		r.Participants[p.Identity] = p
	}
	monitor := events.Participant{Participant: rooms.Participant{Identity: "monitor", Permission: rooms.Permission{Hidden: true}}}
	r.Participants[monitor.Identity] = monitor
	return r
}

func ingest(id, room string, st ingress.State) events.IngestState {
	return events.IngestState{Ingress: ingress.Ingress{ID: id, Room: room, State: st}}
}

// Friday's show has the most people, so it keeps its name; with a limit of two
// rooms, the two quiet rehearsal rooms share room="_other". Figures come from the
// model alone, counted as the room routes count them (hidden monitors are not
// participants; a room is recorded while the model has a running egress for it),
// an ingress of a closed room is no one's, and only rooms with an ingress say
// whether their ingest is live.
func TestRoomMetricsComeFromTheModelWithACapOnRooms(t *testing.T) {
	snap := &events.Snapshot{Synced: true,
		Rooms: map[string]*events.Room{
			"friday-jam":  room("friday-jam", 40, 3),
			"soundcheck":  room("soundcheck", 5, 2),
			"rehearsal-a": room("rehearsal-a", 2, 1),
			"rehearsal-b": room("rehearsal-b", 1, 1),
		},
		Ingresses: map[string]events.IngestState{
			"IN_obs":   ingest("IN_obs", "friday-jam", ingress.Publishing),
			"IN_check": ingest("IN_check", "soundcheck", ingress.Inactive),
			"IN_a":     ingest("IN_a", "rehearsal-a", ingress.Buffering),
			"IN_gone":  ingest("IN_gone", "last-week", ingress.Publishing),
		},
		Recordings: map[string]events.Recording{ // the model keeps the running ones
			"EG_f": {Egress: egress.Egress{ID: "EG_f", Room: "friday-jam", Status: egress.Active}},
			"EG_b": {Egress: egress.Egress{ID: "EG_b", Room: "rehearsal-b", Status: egress.Active}},
		},
	}
	got := scrapeSeries(t, roomCollector{events: snapshotOnly{snap: snap}, limit: 2})
	assert.Equal(t, map[string]float64{
		"dashboard_room_participants{friday-jam}": 40, "dashboard_room_publishers{friday-jam}": 3,
		"dashboard_room_recording{friday-jam}": 1, "dashboard_room_ingest_live{friday-jam}": 1,
		"dashboard_room_participants{soundcheck}": 5, "dashboard_room_publishers{soundcheck}": 2,
		"dashboard_room_recording{soundcheck}": 0, "dashboard_room_ingest_live{soundcheck}": 0,
		"dashboard_room_participants{_other}": 3, "dashboard_room_publishers{_other}": 2,
		"dashboard_room_recording{_other}": 1, "dashboard_room_ingest_live{_other}": 1,
	}, got)

	snap.Synced = false
	assert.Empty(t, scrapeSeries(t, roomCollector{events: snapshotOnly{snap: snap}, limit: 2}),
		"before the model has listed LiveKit once, it knows of no rooms: say nothing rather than zero")
}

// The limit comes from DASHBOARD_METRICS_ROOMS, 50 unless set.
func TestMetricsRoomsSetting(t *testing.T) {
	s, err := config.Load(nil, func(k string) string {
		return map[string]string{"DASHBOARD_ALLOW_ALL_ADMIN": "true"}[k]
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 50, s.MetricsRooms)
	s, err = config.Load([]string{"-metrics-rooms", "3"}, func(k string) string {
		return map[string]string{"DASHBOARD_ALLOW_ALL_ADMIN": "true"}[k]
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, s.MetricsRooms)
	_, err = config.Load([]string{"-metrics-rooms", "-1"}, func(k string) string {
		return map[string]string{"DASHBOARD_ALLOW_ALL_ADMIN": "true"}[k]
	}, nil)
	assert.ErrorContains(t, err, "DASHBOARD_METRICS_ROOMS")
}
