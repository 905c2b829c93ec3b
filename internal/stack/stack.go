// Package stack starts the real LiveKit stack (livekit-server, Redis, LiveKit
// Ingress and Egress, MinIO) as local processes on loopback ports. The tests (through
// internal/testenv) and the dashboard's -dev mode share it. It returns errors, never
// panics, and everything a Stack starts stops with Close.
package stack

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Stack owns the processes and temporary directories it made.
type Stack struct {
	mu      sync.Mutex
	closers []func()
	procs   []*Process
}

// New returns an empty Stack.
func New() *Stack { return &Stack{} }

// Close stops every process and removes every temporary directory, newest first
// (so Ingress and Egress go before the LiveKit they talk to). Safe to call twice.
func (s *Stack) Close() {
	s.mu.Lock()
	c := s.closers
	s.closers = nil
	s.mu.Unlock()
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// Processes lists what the Stack started, in order.
func (s *Stack) Processes() []*Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Process(nil), s.procs...)
}

func (s *Stack) onClose(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, f)
}

// TempDir makes a directory that Close removes.
func (s *Stack) TempDir() (string, error) {
	dir, err := os.MkdirTemp("", "streamkit-")
	if err != nil {
		return "", fmt.Errorf("stack: temp dir: %w", err)
	}
	s.onClose(func() { os.RemoveAll(dir) })
	return dir, nil
}

// MissingError says that a component is not installed, and how to install it.
type MissingError struct{ What, How string }

func (e *MissingError) Error() string { return e.What + " is missing: " + e.How }

// Binary finds a stack binary on PATH or in the stack cache.
func Binary(name, component string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(Bin(), name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", &MissingError{What: name, How: "run `scripts/stack install " + component + "` (binaries are cached in " + Bin() + ")"}
}

// Bin is where scripts/stack links the binaries it installs.
func Bin() string {
	if d := os.Getenv("STREAMKIT_CACHE"); d != "" {
		return filepath.Join(d, "bin")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "streamkit", "bin")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "streamkit", "bin")
}

// handed holds the ports this process handed out. The kernel may give a port
// it just gave again once its probe socket closed: once in CI, LiveKit's TURN
// TLS port and Ingress's RTMP port were the same one, and Ingress died with
// "bind: address already in use". A port is handed out once per process.
var handed = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

// FreePort returns a loopback TCP port that was free a moment ago and that
// this process has not handed out before.
func FreePort() (int, error) {
	return freeOnce("tcp", func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("stack: free port: %w", err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	})
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago and that
// this process has not handed out before.
func FreeUDPPort() (int, error) {
	return freeOnce("udp", func() (int, error) {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("stack: free udp port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	})
}

func freeOnce(proto string, probe func() (int, error)) (int, error) {
	for range 100 {
		p, err := probe()
		if err != nil {
			return 0, err
		}
		key := fmt.Sprint(proto, p)
		handed.Lock()
		seen := handed.ports[key]
		handed.ports[key] = true
		handed.Unlock()
		if !seen {
			return p, nil
		}
	}
	return 0, fmt.Errorf("stack: no %s port free that was not handed out already", proto)
}

// freePorts returns n distinct free TCP ports.
func freePorts(n int) ([]int, error) {
	out := make([]int, 0, n)
	for range n {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Secret returns a random API secret long enough for LiveKit (>= 32 characters).
func Secret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// WaitHTTP waits for a health endpoint to answer 200; the error carries the end of
// the process's output.
func WaitHTTP(name, url string, limit time.Duration, p *Process) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("stack: %s not healthy at %s within %s\n%s", name, url, limit, p.Tail(4<<10))
}

// WaitReady waits for livekit-server's readiness endpoint (GET / answers 200).
func WaitReady(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET / answered %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", limit, last)
}

func waitTCP(name, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("stack: %s did not listen on %s within %s", name, addr, limit)
}
