package events_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// obsStage is a Watch whose rooms stage0…stage(n-1) each hold an OBS ingest
// publishing a track its input fails (44.1 kHz), plus n ingresses elsewhere.
func obsStage(t testing.TB, n int) *events.Watch {
	w := events.NewWatch(nil, events.Options{})
	ctx := t.Context()
	for i := range n {
		room, sfx := "stage"+strconv.Itoa(i), strconv.Itoa(i)
		obs := published(room, "obs", "PA_"+sfx, "TR_"+sfx)
		obs.Participant.Kind, obs.Participant.Role = "ingress", events.Ingest
		obs.RoomSID = "RM_" + sfx
		obs.Track = &events.Track{SID: "TR_" + sfx, Kind: "audio", Codec: "opus", Stereo: true}
		_, ok, _ := w.Apply(ctx, obs)
		require.True(t, ok)
		in := events.IngestState{Ingress: ingress.Ingress{ID: "IN_" + sfx, Kind: ingress.RTMP, Room: room, Identity: "obs", State: ingress.Publishing,
			Input: &ingress.Input{Audio: &ingress.InputAudio{Codec: "audio/aac", Channels: 2, SampleRate: 44_100}}}}
		_, ok, _ = w.Apply(ctx, events.Event{Kind: events.IngestLive, Room: room, At: time.Unix(200, 0), Ingest: &in})
		require.True(t, ok)
	}
	return w
}

// The page reads a room on every event: its warnings are judged once per
// revision, not once per read, and answer as judging them each time would.
func TestWarningsAreJudgedOncePerRevision(t *testing.T) {
	w := obsStage(t, 3)
	snap := w.Snapshot()
	want, ok := events.Unmemoized(snap).RoomDetail("stage1")
	require.True(t, ok)
	require.Len(t, want.Participants, 1)
	require.Len(t, want.Participants[0].Warnings, 1)

	before := events.JudgedRooms()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, ok := snap.RoomDetail("stage1")
			assert.True(t, ok)
			assert.Equal(t, want, d)
		}()
	}
	wg.Wait()
	ws := snap.Warnings("stage1", snap.Rooms["stage1"].Participants["obs"])
	assert.Equal(t, want.Participants[0].Warnings, ws)
	assert.Equal(t, int64(1), events.JudgedRooms()-before, "100 reads of one revision judge the room once")

	// A participant the snapshot does not hold is judged as it is.
	other := snap.Rooms["stage1"].Participants["obs"]
	other.Tracks = []events.Track{{SID: "TR_x", Kind: "audio", Codec: "opus", Stereo: true}}
	assert.Equal(t, want.Participants[0].Warnings[0].Code, snap.Warnings("stage1", other)[0].Code)
	assert.Equal(t, "TR_x", snap.Warnings("stage1", other)[0].Track)
	assert.Equal(t, int64(1), events.JudgedRooms()-before)

	// The next revision judges again.
	_, ok, _ = w.Apply(t.Context(), joined("stage1", "RM_1", "ada", "PA_a"))
	require.True(t, ok)
	d, _ := w.Snapshot().RoomDetail("stage1")
	assert.Len(t, d.Participants, 2)
	assert.Equal(t, int64(2), events.JudgedRooms()-before)
}

// BenchmarkRoomReads: RoomDetail of every room of 1,000, each with an OBS
// ingest (1,000 ingresses), judged per read (before) and stored per revision.
//
//	go test -run '^$' -bench RoomReads ./spacemusic/events/
func BenchmarkRoomReads(b *testing.B) {
	w := obsStage(b, 1000)
	names := w.Snapshot().RoomNames()
	for _, c := range []struct {
		name string
		snap *events.Snapshot
	}{{"per-read", events.Unmemoized(w.Snapshot())}, {"per-revision", w.Snapshot()}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, ok := c.snap.RoomDetail(names[i%len(names)]); !ok {
					b.Fatal("no room")
				}
			}
		})
	}
}
