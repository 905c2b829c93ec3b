package events_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// LiveKit's webhooks come late and out of order. These stories feed the model
// events in the orders seen in practice and check it ends where LiveKit is.

func joined(room, roomSID, identity, sid string) events.Event {
	return events.Event{Kind: events.ParticipantJoined, Room: room, RoomSID: roomSID, At: time.Unix(100, 0),
		Participant: &events.Participant{Participant: rooms.Participant{SID: sid, Identity: identity}, Role: events.Performer}}
}

func left(room, roomSID, identity, sid string) events.Event {
	e := joined(room, roomSID, identity, sid)
	e.Kind = events.ParticipantLeft
	return e
}

func published(room, identity, psid, tsid string) events.Event {
	e := joined(room, "RM_1", identity, psid)
	e.Kind, e.Track = events.TrackPublished, &events.Track{SID: tsid, Kind: "audio"}
	return e
}

func TestALateJoinAfterTheLeaveIsStale(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	_, ok, _ := w.Apply(t.Context(), left("stage", "RM_1", "ada", "PA_1"))
	assert.False(t, ok, "nobody to remove")
	_, ok, _ = w.Apply(t.Context(), joined("stage", "RM_1", "ada", "PA_1"))
	assert.False(t, ok, "that session has ended: a late join must not bring ada back")
	assert.Nil(t, w.Snapshot().Rooms["stage"])

	// Ada comes back: a new session, a new SID.
	e, ok, _ := w.Apply(t.Context(), joined("stage", "RM_1", "ada", "PA_2"))
	require.True(t, ok)
	assert.Equal(t, uint64(1), e.Revision)
	assert.Contains(t, w.Snapshot().Rooms["stage"].Participants, "ada")
}

func TestATrackBeforeItsJoinBringsThePerformer(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	_, ok, _ := w.Apply(t.Context(), published("stage", "ada", "PA_1", "TR_1"))
	require.True(t, ok)
	ada := w.Snapshot().Rooms["stage"].Participants["ada"]
	require.Len(t, ada.Tracks, 1)
	assert.Equal(t, "TR_1", ada.Tracks[0].SID)

	_, ok, _ = w.Apply(t.Context(), joined("stage", "RM_1", "ada", "PA_1"))
	assert.False(t, ok, "the late join of the same session changes nothing")
	assert.Len(t, w.Snapshot().Rooms["stage"].Participants["ada"].Tracks, 1, "and keeps the track")

	unpub := published("stage", "ada", "PA_1", "TR_1")
	unpub.Kind = events.TrackUnpublished
	_, ok, _ = w.Apply(t.Context(), unpub)
	require.True(t, ok)
	_, ok, _ = w.Apply(t.Context(), published("stage", "ada", "PA_1", "TR_1"))
	assert.False(t, ok, "a track SID never comes back")
	assert.Empty(t, w.Snapshot().Rooms["stage"].Participants["ada"].Tracks)
}

func TestAClosedRoomReopensAsANewSession(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	open := events.Event{Kind: events.RoomOpened, Room: "stage", RoomSID: "RM_1"}
	closed := events.Event{Kind: events.RoomClosed, Room: "stage", RoomSID: "RM_1"}
	_, ok, _ := w.Apply(t.Context(), open)
	require.True(t, ok)
	_, ok, _ = w.Apply(t.Context(), open)
	assert.False(t, ok, "a duplicate open")
	_, ok, _ = w.Apply(t.Context(), closed)
	require.True(t, ok)
	_, ok, _ = w.Apply(t.Context(), open)
	assert.False(t, ok, "a late open of the closed session")
	reopened := events.Event{Kind: events.RoomOpened, Room: "stage", RoomSID: "RM_2"}
	_, ok, _ = w.Apply(t.Context(), reopened)
	require.True(t, ok)
	_, ok, _ = w.Apply(t.Context(), closed)
	assert.False(t, ok, "a late close of the old session leaves the new one open")
	assert.Equal(t, "RM_2", w.Snapshot().Rooms["stage"].SID)
}

func TestAnEndedRecordingStaysEnded(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	rec := func(kind events.Kind, status string) events.Event {
		return events.Event{Kind: kind, Room: "stage", Recording: &events.Recording{Egress: egress.Egress{ID: "EG_1", Room: "stage", Status: egress.Status(status)}}}
	}
	_, ok, _ := w.Apply(t.Context(), rec(events.RecordingStarted, "starting"))
	require.True(t, ok)
	_, ok, _ = w.Apply(t.Context(), rec(events.RecordingUpdated, "active"))
	require.True(t, ok)
	_, ok, _ = w.Apply(t.Context(), rec(events.RecordingEnded, "complete"))
	require.True(t, ok)
	_, ok, _ = w.Apply(t.Context(), rec(events.RecordingUpdated, "active"))
	assert.False(t, ok, "a late update after the end")
	assert.Empty(t, w.Snapshot().Recordings)
}

// An ingest described again the same way (every resync builds it anew) is no
// change; a new resolution is.
func TestTheSameIngestAgainIsNoChange(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	live := func(width int) events.Event {
		in := ingress.Ingress{ID: "IN_1", Room: "stage", Identity: "obs", State: ingress.Publishing,
			Input: &ingress.Input{Audio: &ingress.InputAudio{Codec: "audio/aac", Channels: 2, SampleRate: 48000},
				Video: &ingress.InputVideo{Codec: "video/H264", Width: width, Height: 1080, FPS: 30}}}
		return events.Event{Kind: events.IngestUpdated, Room: "stage", At: time.Unix(100, 0), Ingest: &events.IngestState{Ingress: in}}
	}
	_, ok, _ := w.Apply(t.Context(), live(1920))
	require.True(t, ok)
	_, ok, _ = w.Apply(t.Context(), live(1920))
	assert.False(t, ok, "the same description, another copy")
	_, ok, _ = w.Apply(t.Context(), live(1280))
	assert.True(t, ok, "OBS now sends 720p")
	assert.Equal(t, 1280, w.Snapshot().Ingresses["IN_1"].Input.Video.Width)
}

// A subscriber that fell further behind than the log keeps is told so (and
// takes a snapshot), rather than silently missing events.
func TestWaitAfterTheLogMovedOnIsGone(t *testing.T) {
	w := events.NewWatch(nil, events.Options{LogSize: 2})
	for i, sid := range []string{"PA_1", "PA_2", "PA_3"} {
		_, ok, _ := w.Apply(t.Context(), joined("stage", "RM_1", "p"+string(rune('a'+i)), sid))
		require.True(t, ok)
	}
	_, err := w.Wait(t.Context(), 0)
	assert.ErrorIs(t, err, events.ErrGone)
	evs, err := w.Wait(t.Context(), 1)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, []uint64{2, 3}, []uint64{evs[0].Revision, evs[1].Revision})
	assert.Equal(t, uint64(3), w.Snapshot().Revision)
}

// LiveKit sends no webhook when a performer is demoted, muted or the room's
// metadata changes: those arrive as updates (from the dashboard's own writes or
// a resync), and the model's views count what the model holds.
func TestUpdatesChangeWhatTheyNameAndTheViewsCountTheModel(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	ctx := t.Context()
	apply := func(e events.Event) bool {
		t.Helper()
		_, ok, err := w.Apply(ctx, e)
		require.NoError(t, err)
		return ok
	}
	require.True(t, apply(events.Event{Kind: events.RoomOpened, Room: "stage", RoomSID: "RM_1",
		Stage: &rooms.Room{Name: "stage", Metadata: "friday", EmptyTimeoutSec: 300}}))
	require.True(t, apply(joined("stage", "RM_1", "ada", "PA_1")))
	require.True(t, apply(published("stage", "ada", "PA_1", "TR_1")))
	monitor := joined("stage", "RM_1", "mon", "PA_2")
	monitor.Participant.Permission.Hidden = true
	require.True(t, apply(monitor))

	d, ok := w.Snapshot().RoomDetail("stage")
	require.True(t, ok)
	assert.Equal(t, "friday", d.Metadata)
	assert.Equal(t, 300, d.EmptyTimeoutSec)
	assert.Equal(t, 1, d.NumParticipants, "the hidden monitor is not counted")
	assert.Equal(t, 1, d.NumPublishers)
	require.Len(t, d.Participants, 2)
	assert.True(t, d.Participants[0].IsPublisher, "ada publishes")
	require.Len(t, d.Participants[0].Tracks, 1)

	// Ada is muted: only the track changes.
	mute := published("stage", "ada", "PA_1", "TR_1")
	mute.Kind, mute.Track.Muted = events.TrackUpdated, true
	require.True(t, apply(mute))
	assert.False(t, apply(mute), "the same update twice changes nothing")
	assert.True(t, w.Snapshot().Rooms["stage"].Participants["ada"].Tracks[0].Muted)

	// Ada is demoted: her permission changes, her tracks stay until LiveKit unpublishes them.
	demote := joined("stage", "RM_1", "ada", "PA_1")
	demote.Kind, demote.Participant.Role = events.ParticipantUpdated, events.Listener
	require.True(t, apply(demote))
	ada := w.Snapshot().Rooms["stage"].Participants["ada"]
	assert.Equal(t, events.Listener, ada.Role)
	assert.Len(t, ada.Tracks, 1)
	stale := joined("stage", "RM_1", "ada", "PA_0")
	stale.Kind = events.ParticipantUpdated
	assert.False(t, apply(stale), "an update for an older session of ada is stale")

	require.True(t, apply(events.Event{Kind: events.RoomUpdated, Room: "stage", RoomSID: "RM_1",
		Stage: &rooms.Room{Name: "stage", Metadata: "saturday", EmptyTimeoutSec: 300}}))
	assert.False(t, apply(events.Event{Kind: events.RoomUpdated, Room: "stage", RoomSID: "RM_0",
		Stage: &rooms.Room{Name: "stage", Metadata: "old"}}), "another session of the room")
	list := w.Snapshot().RoomList()
	require.Len(t, list, 1)
	assert.Equal(t, "saturday", list[0].Metadata)
	assert.Equal(t, "RM_1", list[0].SID)
}

// LiveKit's track webhooks name the participant by SID and identity only. The
// event carries the participant the model knows; a track seen before its join
// leaves the role unknown until the join says it.
func TestATrackEventSaysWhoPlays(t *testing.T) {
	w := events.NewWatch(nil, events.Options{})
	_, ok, _ := w.Apply(t.Context(), joined("stage", "RM_1", "ada", "PA_1"))
	require.True(t, ok)
	bare := published("stage", "ada", "PA_1", "TR_1")
	bare.Participant.Role, bare.Participant.Name = "", ""
	e, ok, _ := w.Apply(t.Context(), bare)
	require.True(t, ok)
	assert.Equal(t, events.Performer, e.Participant.Role, "the event says ada performs")
	assert.Empty(t, e.Participant.Tracks, "the track is the event's own")
	assert.Equal(t, events.Performer, w.Snapshot().Rooms["stage"].Participants["ada"].Role)

	// Bob's track comes before his join: unknown, then the join tells.
	early := published("stage", "bob", "PA_2", "TR_2")
	early.Participant.Role = ""
	e, ok, _ = w.Apply(t.Context(), early)
	require.True(t, ok)
	assert.Empty(t, e.Participant.Role, "nobody knows bob yet: no guess")
	e, ok, _ = w.Apply(t.Context(), joined("stage", "RM_1", "bob", "PA_2"))
	require.True(t, ok, "the late join tells who bob is")
	bob := w.Snapshot().Rooms["stage"].Participants["bob"]
	assert.Equal(t, events.Performer, bob.Role)
	assert.Len(t, bob.Tracks, 1, "his track stays")
	_, ok, _ = w.Apply(t.Context(), joined("stage", "RM_1", "bob", "PA_2"))
	assert.False(t, ok, "told once")
}
