package main

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// roomCollector exports per-room figures, which LiveKit declined to export for
// cardinality reasons (livekit/livekit#1189). They are computed at scrape time
// from the live model's snapshot, so a scrape never calls LiveKit, and at most
// limit rooms get a label of their own: the busiest (most participants, then by
// name); the rest are summed into room="_other", so a public server with
// thousands of rooms cannot blow up Prometheus.
type roomCollector struct {
	events live.Events
	limit  int
}

// otherRooms labels the sum of the rooms past the limit.
const otherRooms = "_other"

var (
	roomParticipantsDesc = prometheus.NewDesc("dashboard_room_participants", `Participants in the room (live model; hidden ones, such as the page's monitor, not counted); rooms past DASHBOARD_METRICS_ROOMS are summed in room="_other".`, []string{"room"}, nil)
	roomPublishersDesc   = prometheus.NewDesc("dashboard_room_publishers", "Participants publishing in the room (on stage).", []string{"room"}, nil)
	roomRecordingDesc    = prometheus.NewDesc("dashboard_room_recording", `1 while the room is being recorded (for room="_other": how many of those rooms are).`, []string{"room"}, nil)
	roomIngestLiveDesc   = prometheus.NewDesc("dashboard_room_ingest_live", "Ingests (RTMP/WHIP/URL) of the room that are live (publishing or buffering); only rooms that have an ingress. 0 after 1 means the encoder stopped.", []string{"room"}, nil)
)

func (c roomCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{roomParticipantsDesc, roomPublishersDesc, roomRecordingDesc, roomIngestLiveDesc} {
		ch <- d
	}
}

// roomFigures is one label's worth of figures.
type roomFigures struct {
	participants, publishers, recording, ingests, live int
}

func (c roomCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.events.Snapshot()
	if !snap.Synced {
		return // an empty model before the first list of LiveKit is not "no rooms"
	}
	for name, f := range perRoom(snap, c.limit) {
		gauge := func(d *prometheus.Desc, v int) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), name)
		}
		gauge(roomParticipantsDesc, f.participants)
		gauge(roomPublishersDesc, f.publishers)
		gauge(roomRecordingDesc, f.recording)
		if f.ingests > 0 {
			gauge(roomIngestLiveDesc, f.live)
		}
	}
}

// perRoom sums the snapshot's figures by label: each of the limit busiest open
// rooms under its name, the others under otherRooms. Rooms are counted from the
// model as the room routes count them (RoomList): LiveKit's own counts in a
// room's last description lag behind joins and publications.
func perRoom(snap *events.Snapshot, limit int) map[string]roomFigures {
	list := snap.RoomList()
	slices.SortStableFunc(list, func(a, b rooms.Room) int {
		return cmp.Or(cmp.Compare(b.NumParticipants, a.NumParticipants), cmp.Compare(a.Name, b.Name))
	})
	label := make(map[string]string, len(list))
	out := make(map[string]roomFigures, min(len(list), limit+1))
	for i, r := range list {
		label[r.Name] = r.Name
		if i >= limit {
			label[r.Name] = otherRooms
		}
		f := out[label[r.Name]]
		f.participants += r.NumParticipants
		f.publishers += r.NumPublishers
		if r.ActiveRecording {
			f.recording++
		}
		out[label[r.Name]] = f
	}
	for _, in := range snap.Ingresses {
		l, open := label[in.Room]
		if !open {
			continue // the room is closed: no show to stall
		}
		f := out[l]
		f.ingests++
		if in.Live() {
			f.live++
		}
		out[l] = f
	}
	return out
}
