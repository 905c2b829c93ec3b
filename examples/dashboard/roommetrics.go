package main

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacemusic/streamkit/spacemusic/events"
)

// roomCollector exports per-room figures, which LiveKit declined to export for
// cardinality reasons (livekit/livekit#1189). They are computed at scrape time
// from the live model's snapshot, so a scrape never calls LiveKit, and at most
// limit rooms get a label of their own: the busiest (most participants, then by
// name); the rest are summed into room="_other", so a public server with
// thousands of rooms cannot blow up Prometheus.
type roomCollector struct {
	events Events
	limit  int
}

// otherRooms labels the sum of the rooms past the limit.
const otherRooms = "_other"

var (
	roomParticipantsDesc = prometheus.NewDesc("dashboard_room_participants", `Participants in the room, as LiveKit last counted them (live model); rooms past DASHBOARD_METRICS_ROOMS are summed in room="_other".`, []string{"room"}, nil)
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
// rooms under its name, the others under otherRooms.
func perRoom(snap *events.Snapshot, limit int) map[string]roomFigures {
	names := snap.RoomNames()
	slices.SortStableFunc(names, func(a, b string) int {
		return cmp.Compare(snap.Rooms[b].NumParticipants, snap.Rooms[a].NumParticipants)
	})
	label := make(map[string]string, len(names))
	for i, n := range names {
		label[n] = n
		if i >= limit {
			label[n] = otherRooms
		}
	}
	recording := map[string]bool{}
	for _, r := range snap.Recordings {
		if r.Active() {
			recording[r.Room] = true
		}
	}
	out := make(map[string]roomFigures, min(len(names), limit+1))
	for _, n := range names {
		r := snap.Rooms[n]
		f := out[label[n]]
		f.participants += r.NumParticipants
		f.publishers += r.NumPublishers
		if r.ActiveRecording || recording[n] {
			f.recording++
		}
		out[label[n]] = f
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
