package testenv

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// A producer whose CI has Docker gets the same LiveKit in a container: the show's
// room is created and listed through the server API, and the node survives a restart.
func TestDockerBackendRunsLiveKit(t *testing.T) {
	env := LiveKit(t, WithBackend("docker"))
	require.Equal(t, "docker", env.Backend)
	api := lksdk.NewRoomServiceClient(env.URL, env.APIKey, env.APISecret)

	_, err := api.CreateRoom(Within(t, 10*time.Second), &livekit.CreateRoomRequest{Name: "friday-show"})
	require.NoError(t, err)
	require.Contains(t, roomNames(t, api), "friday-show")

	env.Stop()
	_, err = api.ListRooms(Within(t, 10*time.Second), &livekit.ListRoomsRequest{})
	require.Error(t, err, "the container was killed, its API must be gone")

	env.Start()
	_, err = api.CreateRoom(Within(t, 10*time.Second), &livekit.CreateRoomRequest{Name: "encore"})
	require.NoError(t, err)
	require.Contains(t, roomNames(t, api), "encore")
}

// With Redis (ingress, egress and clusters need it) the containerised node keeps its
// rooms there. Without a redis image (no registry), Redis is a process instead.
func TestDockerBackendWithRedis(t *testing.T) {
	env := LiveKit(t, WithBackend("docker"), WithRedis())
	require.NotEmpty(t, env.RedisAddr)
	api := lksdk.NewRoomServiceClient(env.URL, env.APIKey, env.APISecret)

	created, err := api.CreateRoom(Within(t, 10*time.Second), &livekit.CreateRoomRequest{Name: "late-set"})
	require.NoError(t, err)
	require.Contains(t, roomNames(t, api), "late-set")

	// The room is in that Redis, in the hash where livekit-server keeps rooms.
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	b, err := rdb.HGet(Within(t, 10*time.Second), "rooms", "late-set").Bytes()
	require.NoError(t, err, "livekit-server did not keep the room in Redis at %s", env.RedisAddr)
	var stored livekit.Room
	require.NoError(t, proto.Unmarshal(b, &stored))
	require.Equal(t, created.Sid, stored.Sid, "the stored room is the one created")
}

// Only a socket that answers the Docker API selects the docker backend: a stale socket
// file, or some other server, must leave the tests on the process backend.
func TestDockerReachableNeedsTheAPI(t *testing.T) {
	dir := t.TempDir()

	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "absent.sock"))
	require.False(t, dockerReachable(), "no socket at all")

	closing := listenUnix(t, filepath.Join(dir, "closing.sock"))
	go func() {
		for {
			c, err := closing.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Setenv("DOCKER_HOST", "unix://"+closing.Addr().String())
	require.False(t, dockerReachable(), "a socket that hangs up")

	notDocker := listenUnix(t, filepath.Join(dir, "web.sock"))
	go func() { _ = http.Serve(notDocker, http.NotFoundHandler()) }()
	t.Setenv("DOCKER_HOST", "unix://"+notDocker.Addr().String())
	require.False(t, dockerReachable(), "an HTTP server that is not Docker")

	docker := listenUnix(t, filepath.Join(dir, "docker.sock"))
	go func() {
		_ = http.Serve(docker, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/_ping" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprint(w, "OK")
		}))
	}()
	t.Setenv("DOCKER_HOST", "unix://"+docker.Addr().String())
	require.True(t, dockerReachable(), "a socket answering /_ping")
}

func TestSplitImage(t *testing.T) {
	for image, want := range map[string][2]string{
		"livekit/livekit-server:v1.11.0":     {"livekit/livekit-server", "v1.11.0"},
		"redis":                              {"redis", "latest"},
		"registry.local:5000/redis":          {"registry.local:5000/redis", "latest"},
		"registry.local:5000/redis:7-alpine": {"registry.local:5000/redis", "7-alpine"},
	} {
		repo, tag := splitImage(image)
		require.Equal(t, want, [2]string{repo, tag}, image)
	}
}

func listenUnix(t *testing.T, path string) net.Listener {
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func roomNames(t *testing.T, api *lksdk.RoomServiceClient) []string {
	res, err := api.ListRooms(Within(t, 10*time.Second), &livekit.ListRoomsRequest{})
	require.NoError(t, err)
	var names []string
	for _, r := range res.Rooms {
		names = append(names, r.Name)
	}
	return names
}
