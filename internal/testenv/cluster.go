package testenv

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// Redis keys livekit-server (pkg/routing/redisrouter.go, v1.11.0) keeps its
// routing in: every node's livekit.Node (with its stats), and which node
// hosts each room.
const (
	NodesKey    = "nodes"
	RoomNodeKey = "room_node_map"
)

// WithSecret gives the node this API secret (key "streamkit") instead of a
// fresh one: the nodes of a cluster share their keys.
func WithSecret(secret string) Option { return func(o *options) { o.secret = secret } }

// withSpread places each new room on the node hosting the fewest rooms.
func withSpread() Option { return func(o *options) { o.spread = true } }

// Cluster starts n livekit-server nodes sharing one Redis and one API key, as
// LiveKit's own multi-node routing runs: a client or API call reaching any
// node is routed through Redis to the node hosting the room. Each node has
// its own ports. A new room goes to the node hosting the fewest rooms, as
// the nodes last told Redis (see WaitNodeRooms).
func Cluster(t TB, n int, opts ...Option) []*Env {
	t.Helper()
	first := LiveKit(t, append(opts, WithRedis(), withSpread())...)
	if first.Backend == "external" {
		missing(t, "a second livekit-server node", "unset LIVEKIT_URL to let testenv start its own cluster")
	}
	nodes := []*Env{first}
	for len(nodes) < n {
		nodes = append(nodes, LiveKit(t, append(opts, WithSharedRedis(first.RedisAddr), WithBackend(first.Backend),
			WithSecret(first.APISecret), withSpread())...))
	}
	return nodes
}

var nodeIDLabel = regexp.MustCompile(`node_id="([^"]+)"`)

// NodeID is the node's LiveKit ID (ND_...), read from the node_id label of
// its Prometheus metrics. Process backend only (MetricsURL).
func (e *Env) NodeID(t TB) string {
	t.Helper()
	if e.MetricsURL == "" {
		t.Fatalf("testenv: the node's ID is read from its metrics, which the %s backend does not expose", e.Backend)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(e.MetricsURL)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	must(t, err)
	m := nodeIDLabel.FindSubmatch(body)
	if m == nil {
		t.Fatalf("testenv: no node_id label in %s", e.MetricsURL)
	}
	return string(m[1])
}

// RoomNode is the ID of the node LiveKit placed room on, from its Redis
// (room_node_map); empty when the room was never placed.
func (e *Env) RoomNode(t TB, room string) string {
	t.Helper()
	id, err := e.redis(t).HGet(context.Background(), RoomNodeKey, room).Result()
	if err == redis.Nil {
		return ""
	}
	must(t, err)
	return id
}

// WaitNodeRooms waits until the node nodeID has told Redis it hosts at least
// n rooms. LiveKit places a new room by the stats the nodes last wrote (every
// 2 s): waiting for them places the next room by what is really there.
func (e *Env) WaitNodeRooms(t TB, nodeID string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if rooms, ok := e.nodeRooms(t, nodeID); ok && rooms >= n {
			return
		}
	}
	t.Fatalf("testenv: node %s did not report %d rooms within 10 s", nodeID, n)
}

func (e *Env) nodeRooms(t TB, nodeID string) (int, bool) {
	t.Helper()
	raw, err := e.redis(t).HGet(context.Background(), NodesKey, nodeID).Bytes()
	if err == redis.Nil {
		return 0, false
	}
	must(t, err)
	n, err := decodeNode(raw)
	must(t, err)
	return int(n.GetStats().GetNumRooms()), true
}

func (e *Env) redis(t TB) *redis.Client {
	t.Helper()
	if e.RedisAddr == "" {
		t.Fatalf("testenv: the node has no Redis (use Cluster or WithRedis)")
	}
	c := redis.NewClient(&redis.Options{Addr: e.RedisAddr, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func decodeNode(raw []byte) (*livekit.Node, error) {
	var n livekit.Node
	return &n, proto.Unmarshal(raw, &n)
}
