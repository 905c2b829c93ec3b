// Package nodes is the dashboard's view of LiveKit's nodes, read from its
// Redis: GET /api/nodes (each node's load and the shows on it), and which node
// hosts each show, from one shared reading.
package nodes

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// The Redis keys LiveKit's multi-node routing keeps (livekit-server v1.11.0,
// pkg/routing/redisrouter.go): each node's livekit.Node with the stats it
// writes every 2 s, and which node hosts each room. The dashboard only reads
// them.
const (
	liveKitNodesKey    = "nodes"
	liveKitRoomNodeKey = "room_node_map"
)

// nodeFresh is how recent a node's stats must be for the node to be alive:
// LiveKit's own rule (pkg/routing/selector AvailableSeconds), after which it
// places no room there and moves a room that is asked for elsewhere.
const nodeFresh = 5 * time.Second

// Bounds of one reading: a deployment has a handful of nodes; a show list
// asks for the rooms of its shows only.
const (
	maxNodes     = 64
	nodesTimeout = 2 * time.Second
)

// Reader reads LiveKit's nodes and rooms from its Redis: redisNodes.
type Reader interface {
	Read(ctx context.Context, rooms []string) (Reading, error)
}

// Reading is LiveKit's nodes as Redis held them at one moment, and the
// node of each room asked for that has one.
type Reading struct {
	nodes  []*livekit.Node
	roomOn map[string]string // room -> node ID
	at     time.Time
}

// alive reports whether the node id wrote its stats within nodeFresh.
func (r Reading) alive(id string) bool {
	for _, n := range r.nodes {
		if n.GetId() == id {
			return r.at.Sub(time.Unix(n.GetStats().GetUpdatedAt(), 0)) < nodeFresh
		}
	}
	return false // gone from Redis: it unregistered, or was removed as dead
}

// redisNodes reads LiveKit's Redis (REDIS_URL, when it is LiveKit's own).
type redisNodes struct{ rdb *redis.Client }

// Close closes the connections to Redis.
func (n redisNodes) Close() error { return n.rdb.Close() }

func (n redisNodes) Read(ctx context.Context, rooms []string) (Reading, error) {
	ctx, cancel := context.WithTimeout(ctx, nodesTimeout)
	defer cancel()
	r := Reading{roomOn: map[string]string{}, at: time.Now()}
	// One SCAN page bounds the read whatever the hash holds.
	kv, _, err := n.rdb.HScan(ctx, liveKitNodesKey, 0, "", maxNodes).Result()
	if err != nil {
		return r, err
	}
	for i := 1; i < len(kv) && len(r.nodes) < maxNodes; i += 2 {
		var node livekit.Node
		if proto.Unmarshal([]byte(kv[i]), &node) == nil {
			r.nodes = append(r.nodes, &node)
		}
	}
	slices.SortFunc(r.nodes, func(a, b *livekit.Node) int { return strings.Compare(a.GetId(), b.GetId()) })
	if len(rooms) == 0 {
		return r, nil
	}
	ids, err := n.rdb.HMGet(ctx, liveKitRoomNodeKey, rooms...).Result()
	if err != nil {
		return r, err
	}
	for i, id := range ids {
		if s, ok := id.(string); ok && s != "" {
			r.roomOn[rooms[i]] = s
		}
	}
	return r, nil
}

// View is one LiveKit node's load, as it last told Redis.
type View struct {
	ID string `json:"id"`
	// Alive: the node wrote its stats within the last 5 s (LiveKit's rule).
	Alive        bool      `json:"alive"`
	State        string    `json:"state" enum:"starting_up,serving,shutting_down"`
	Rooms        int       `json:"rooms"`
	Participants int       `json:"participants"`
	TracksIn     int       `json:"tracksIn"`
	TracksOut    int       `json:"tracksOut"`
	CPULoad      float64   `json:"cpuLoad"` // 0 to 1, over all its CPUs
	CPUs         int       `json:"cpus"`
	UpdatedAt    time.Time `json:"updatedAt"` // its last stats
	Shows        []string  `json:"shows"`     // the open shows whose room it hosts
}

// Routes is GET /api/nodes and the placement of shows on nodes, from one
// shared reading of LiveKit's Redis.
type Routes struct {
	Reader Reader
	Shows  showroutes.Shows // nil: no shows
	Events live.Events      // nil: no live model
	place  *placement
}

// New reads n, sharing one reading (placement.go); nil without n.
func New(n Reader, sh showroutes.Shows, ev live.Events, log *slog.Logger) *Routes {
	if n == nil {
		return nil
	}
	return &Routes{Reader: n, Shows: sh, Events: ev, place: newPlacement(n, log)}
}

// Handler answers each node's load and the shows on it.
func (s *Routes) Handler() api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.openShows(r)
		if err != nil {
			return err
		}
		reading, err := s.readNodes(r.Context(), showRooms(list))
		if err != nil {
			return nodesUnavailable(err)
		}
		out := make([]View, 0, len(reading.nodes))
		for _, n := range reading.nodes {
			st := n.GetStats()
			v := View{ID: n.GetId(), Alive: reading.alive(n.GetId()), State: strings.ToLower(n.GetState().String()),
				Rooms: int(st.GetNumRooms()), Participants: int(st.GetNumClients()), TracksIn: int(st.GetNumTracksIn()),
				TracksOut: int(st.GetNumTracksOut()), CPULoad: float64(st.GetCpuLoad()), CPUs: int(st.GetNumCpus()),
				UpdatedAt: time.Unix(st.GetUpdatedAt(), 0).UTC(), Shows: []string{}}
			for _, sh := range list {
				if reading.roomOn[showRoom(sh)] == v.ID {
					v.Shows = append(v.Shows, sh.Name)
				}
			}
			out = append(out, v)
		}
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

// openShows is the open shows, from the live model once it has synced.
func (s *Routes) openShows(r *http.Request) ([]shows.Show, error) {
	if s.Shows == nil {
		return nil, nil
	}
	if s.Events != nil {
		if snap := s.Events.Snapshot(); snap.Synced {
			return s.Shows.ListIn(snap.RoomList()), nil
		}
	}
	return s.Shows.List(r.Context())
}

func nodesUnavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	// Never the Redis error itself: it may name the address and user.
	return api.NewError(http.StatusServiceUnavailable, "nodes_unavailable", "LiveKit's Redis did not answer with its nodes")
}

func showRoom(sh shows.Show) string {
	if sh.Room.Name != "" {
		return sh.Room.Name
	}
	return sh.Name
}

func showRooms(list []shows.Show) []string {
	rooms := make([]string, 0, len(list))
	for _, sh := range list {
		rooms = append(rooms, showRoom(sh))
	}
	return rooms
}

// Place says which node hosts each show's room and marks the show lost
// when that node stopped writing its stats: its room and audience went with
// it, while its recorded parts stay in the bucket. Without the node view, or
// when Redis does not answer, the views are left as they are.
func (s *Routes) Place(ctx context.Context, list []shows.Show, views []showroutes.View) {
	if s == nil || len(list) == 0 {
		return
	}
	reading, err := s.readNodes(ctx, showRooms(list))
	if err != nil { // logged once by the placement, when Redis stopped answering
		return
	}
	for i, sh := range list {
		id := reading.roomOn[showRoom(sh)]
		if id == "" {
			continue
		}
		views[i].Node = id
		if !reading.alive(id) {
			views[i].Lost = true
			views[i].Problems = append(slices.Clone(views[i].Problems),
				"its LiveKit node "+id+" stopped reporting: the show's room and audience are lost with it; its recorded parts are kept")
		}
	}
}

// readNodes is the shared placement's reading (placement.go): at most a second
// old, one reading at a time.
func (s *Routes) readNodes(ctx context.Context, rooms []string) (Reading, error) {
	return s.place.read(ctx, rooms)
}

// At reads the nodes from the Redis at url (checked by watchLiveKit);
// nil without one.
func At(url string) Reader {
	ro, err := redis.ParseURL(url)
	if url == "" || err != nil {
		return nil
	}
	ro.DialTimeout, ro.ReadTimeout, ro.MaxRetries = nodesTimeout, nodesTimeout, 1
	return redisNodes{redis.NewClient(ro)}
}
