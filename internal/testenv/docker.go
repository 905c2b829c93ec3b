package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ory/dockertest/v3"
	dc "github.com/ory/dockertest/v3/docker"

	"github.com/spacemusic/streamkit/internal/stack"
)

// Images of the docker backend; override them with STREAMKIT_LIVEKIT_IMAGE and
// STREAMKIT_REDIS_IMAGE (a mirror, or a newer tag). The LiveKit tag is the stack's
// version from scripts/versions, the one place it is written.
const defaultRedisImage = "redis:7-alpine"

func defaultLiveKitImage() (string, error) {
	v, err := StackVersion("LIVEKIT_VERSION")
	return "livekit/livekit-server:" + v, err
}

const dockerHowTo = "start Docker (DOCKER_HOST or /var/run/docker.sock); without Docker, as root: " +
	"`scripts/podman`, then `eval \"$(scripts/podman start)\"` inside the network namespace of the tests"

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

// dockerReachable reports whether a Docker API answers on DOCKER_HOST or the default
// socket. The docker client binary alone (as on our machines), or a stale socket
// file, does not count: the API must answer /_ping.
func dockerReachable() bool {
	_, err := dockerPool()
	return err == nil
}

// dockerPool connects to the Docker API the way the docker CLI would (DOCKER_HOST,
// DOCKER_CERT_PATH, else the default socket) and checks that it answers.
func dockerPool() (*dockertest.Pool, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := pool.Client.PingWithContext(ctx); err != nil {
		return nil, err
	}
	return pool, nil
}

// dockerLiveKit runs livekit-server in a container with host networking and the same
// loopback-only configuration as the process backend. Host networking means "the
// network namespace of the Docker daemon": the tests must run in that namespace
// (true for a local Docker engine used outside scripts/netns, and for scripts/podman
// started inside it; not for Docker Desktop's VM).
func dockerLiveKit(t TB, o options) *Env {
	t.Helper()
	pool, err := dockerPool()
	if err != nil {
		missing(t, "a Docker API", dockerHowTo+" ("+err.Error()+")")
	}
	e := &Env{APIKey: "streamkit", APISecret: o.secret, Backend: "docker"}
	if e.APISecret == "" {
		e.APISecret = Secret()
	}
	switch o.redis {
	case "":
	case "new":
		e.RedisAddr = dockerRedis(t, pool)
	default:
		e.RedisAddr = o.redis
	}
	image := os.Getenv("STREAMKIT_LIVEKIT_IMAGE")
	if image == "" {
		var err error
		if image, err = defaultLiveKitImage(); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	if err := ensureImage(pool, image); err != nil {
		missing(t, "the image "+image, "pull it, or build it from the stack's binary with `scripts/podman` ("+err.Error()+")")
	}
	port := FreePort(t)
	e.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	e.WSURL = fmt.Sprintf("ws://127.0.0.1:%d", port)
	// The configuration goes in LIVEKIT_CONFIG rather than a mounted file, so it also
	// works with a daemon that cannot see the test's temp dir.
	cfg := ServerYAML(port, FreeUDPPort(t), e.APIKey, e.APISecret, e.RedisAddr, !o.noRemoteUnmute)
	cfg += stack.WebhookYAML(e.APIKey, o.webhooks)
	c := runContainer(t, pool, "livekit", image, &dockertest.RunOptions{Env: []string{"LIVEKIT_CONFIG=" + cfg}})
	ready := func(what string) {
		t.Helper()
		if err := waitReady(e.URL, 30*time.Second); err != nil {
			t.Fatalf("testenv: livekit-server container %s not ready%s at %s: %v (with host networking the container "+
				"lives in the Docker daemon's network namespace; the test must run in the same one)",
				c.name, what, e.URL, err)
		}
	}
	ready("")
	// Stop and Start keep the container, so the node comes back on the same ports.
	e.Stop = func() {
		_ = pool.Client.KillContainer(dc.KillContainerOptions{ID: c.id, Signal: dc.SIGKILL})
		for i := 0; i < 100; i++ {
			if ct, err := pool.Client.InspectContainer(c.id); err != nil || !ct.State.Running {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	e.Start = func() {
		t.Helper()
		if err := pool.Client.StartContainer(c.id, nil); err != nil {
			t.Fatalf("testenv: restart container %s: %v", c.name, err)
		}
		ready(" after restart")
	}
	return e
}

// dockerRedis runs Redis in a container on a free loopback port. When its image is
// neither present nor pullable (no registry reachable, as on our CI), it falls back
// to a redis-server process: the node under test is still the container, and Redis
// is only its backing store, so the test loses nothing it is about.
func dockerRedis(t TB, pool *dockertest.Pool) string {
	t.Helper()
	image := envOr("STREAMKIT_REDIS_IMAGE", defaultRedisImage)
	if err := ensureImage(pool, image); err != nil {
		t.Logf("testenv: image %s unavailable, using a redis-server process instead: %v", image, err)
		return Redis(t)
	}
	port := FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	runContainer(t, pool, "redis", image, &dockertest.RunOptions{Cmd: []string{"redis-server",
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}})
	waitTCP(t, "redis", addr, 30*time.Second)
	return addr
}

// pullFailed remembers images that could not be pulled, so that a missing registry
// costs one attempt per test binary rather than one per test.
var pullFailed sync.Map // image -> error

// ensureImage makes sure image is present, pulling it if needed. Pulling is
// refused when STREAMKIT_DOCKER_PULL=0 (scripts/test sets it): our tests may only
// talk to loopback, and a pull talks to a registry.
func ensureImage(pool *dockertest.Pool, image string) error {
	if _, err := pool.Client.InspectImage(image); err == nil {
		return nil
	}
	if os.Getenv("STREAMKIT_DOCKER_PULL") == "0" {
		return fmt.Errorf("not present, and pulling is off (STREAMKIT_DOCKER_PULL=0)")
	}
	if err, ok := pullFailed.Load(image); ok {
		return err.(error)
	}
	repo, tag := splitImage(image)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var progress Buffer
	err := pool.Client.PullImage(dc.PullImageOptions{Repository: repo, Tag: tag, Context: ctx,
		InactivityTimeout: time.Minute, OutputStream: &progress}, dc.AuthConfiguration{})
	// Podman's pull answers 200 and reports failures inside the progress stream, which
	// the client does not decode: only the image being there proves the pull worked.
	if err == nil {
		if _, err = pool.Client.InspectImage(image); err != nil {
			err = fmt.Errorf("%w (%s)", err, pullError(progress.String()))
		}
	}
	if err != nil {
		err = fmt.Errorf("not present, and pulling failed: %w", err)
		pullFailed.Store(image, err)
	}
	return err
}

// pullError picks the error out of a pull's JSON progress stream.
func pullError(progress string) string {
	for _, line := range strings.Split(progress, "\n") {
		var m struct{ Error string }
		if json.Unmarshal([]byte(line), &m) == nil && m.Error != "" {
			return m.Error
		}
	}
	if len(progress) > 300 {
		progress = progress[len(progress)-300:]
	}
	return strings.TrimSpace(progress)
}

// splitImage splits "repo[:tag]" (the repo may hold a registry host:port).
func splitImage(image string) (repo, tag string) {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i], image[i+1:]
	}
	return image, "latest"
}

type container struct {
	pool     *dockertest.Pool
	id, name string
}

// runContainer starts image with host networking; it is removed when the test ends,
// after its logs are printed if the test failed.
func runContainer(t TB, pool *dockertest.Pool, name, image string, opts *dockertest.RunOptions) *container {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	opts.Name = "streamkit-" + name + "-" + hex.EncodeToString(b)
	opts.Repository, opts.Tag = splitImage(image)
	opts.Labels = map[string]string{"streamkit.testenv": name}
	res, err := pool.RunWithOptions(opts, func(h *dc.HostConfig) {
		h.NetworkMode = "host"
		h.PublishAllPorts = false
		h.RestartPolicy = dc.NeverRestart()
	})
	if err != nil {
		// A container that was created but failed to start is left behind otherwise.
		_ = pool.RemoveContainerByName(opts.Name)
		t.Fatalf("testenv: run %s (%s): %v", name, image, err)
	}
	c := &container{pool: pool, id: res.Container.ID, name: opts.Name}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("STREAMKIT_TEST_LOGS") == "1" {
			t.Logf("---- %s container %s output (last 8 KiB) ----\n%s", name, c.name, c.logs(8<<10))
		}
		if err := pool.Purge(res); err != nil {
			t.Logf("testenv: remove container %s: %v", c.name, err)
		}
	})
	return c
}

// logs returns the last n bytes the container printed.
func (c *container) logs(n int) string {
	var out Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.pool.Client.Logs(dc.LogsOptions{Context: ctx, Container: c.id, OutputStream: &out,
		ErrorStream: &out, Stdout: true, Stderr: true})
	if err != nil {
		fmt.Fprintf(&out, "\n(testenv: reading logs: %v)", err)
	}
	return out.Tail(n)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
