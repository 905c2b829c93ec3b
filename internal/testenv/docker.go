package testenv

import (
	"net"
	"os"
	"strings"
	"time"
)

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

// dockerReachable reports whether a Docker API answers on DOCKER_HOST or the default
// socket. The docker client binary alone (as on our machines) does not count.
func dockerReachable() bool {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return false
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func dockerLiveKit(t TB, o options) *Env {
	t.Helper()
	missing(t, "the docker backend", "not implemented yet; use STREAMKIT_TEST_BACKEND=process")
	return nil
}
