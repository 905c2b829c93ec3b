package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a stack component running as a child of the test: its output is kept
// and printed when the test fails, and it is killed when the test ends.
type Process struct {
	Name string
	args []string
	env  []string
	t    TB

	mu  sync.Mutex
	cmd *exec.Cmd
	out *lockedBuffer
}

// StartProcess runs bin with args; env entries are added to the test's environment
// with the stack cache on PATH (ingress and egress re-execute themselves by name).
func StartProcess(t TB, name, bin string, args []string, env ...string) *Process {
	t.Helper()
	p := &Process{Name: name, args: append([]string{bin}, args...), t: t, out: &lockedBuffer{}}
	p.env = append(os.Environ(), "PATH="+StackBin()+string(os.PathListSeparator)+os.Getenv("PATH"))
	p.env = append(p.env, env...)
	p.Start()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() || os.Getenv("STREAMKIT_TEST_LOGS") == "1" {
			t.Logf("---- %s output (last 32 KiB) ----\n%s", p.Name, p.out.tail(32<<10))
		}
	})
	return p
}

// Start (re)starts the process with the same arguments.
func (p *Process) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Own process group, so children (ingress/egress handlers) die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testenv: start %s: %v", p.Name, err)
	}
	p.cmd = cmd
	go func() { _ = cmd.Wait() }()
}

// Stop kills the process group and waits briefly for it to go.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	for i := 0; i < 100 && syscall.Kill(p.cmd.Process.Pid, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd = nil
}

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) tail(n int) string {
	s := l.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// Redis starts a private redis-server on a free loopback port and returns its address.
func Redis(t TB) string {
	t.Helper()
	bin := Binary(t, "redis-server", "redis")
	port := FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	StartProcess(t, "redis", bin, []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir()})
	waitTCP(t, "redis", addr, 10*time.Second)
	return addr
}

func processLiveKit(t TB, o options) *Env {
	t.Helper()
	bin := Binary(t, "livekit-server", "livekit")
	e := &Env{APIKey: "streamkit", APISecret: Secret(), Backend: "process"}
	switch o.redis {
	case "":
	case "new":
		e.RedisAddr = Redis(t)
	default:
		e.RedisAddr = o.redis
	}
	port := FreePort(t)
	e.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	e.WSURL = fmt.Sprintf("ws://127.0.0.1:%d", port)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(cfg, []byte(ServerYAML(port, FreeUDPPort(t), e.APIKey, e.APISecret, e.RedisAddr, !o.noRemoteUnmute)+o.ingressYAML()), 0o600); err != nil {
		t.Fatalf("testenv: write config: %v", err)
	}
	p := StartProcess(t, "livekit-server", bin, []string{"--config", cfg})
	if err := waitReady(e.URL, 20*time.Second); err != nil {
		t.Fatalf("testenv: livekit-server not ready: %v\n%s", err, p.out.tail(4<<10))
	}
	e.Stop = p.Stop
	e.Start = func() {
		p.Start()
		if err := waitReady(e.URL, 20*time.Second); err != nil {
			t.Fatalf("testenv: livekit-server not ready after restart: %v", err)
		}
	}
	return e
}

// ServerYAML is the loopback-only livekit-server configuration: without these
// settings the server listens on every interface and tells clients to use a public
// STUN server. Remote unmute is enabled because the show's moderators need it.
func ServerYAML(port, udpPort int, key, secret, redisAddr string, remoteUnmute bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `port: %d
bind_addresses: [127.0.0.1]
keys:
  %s: %s
rtc:
%sroom:
  enable_remote_unmute: %t
logging:
  level: info
`, port, key, secret, loopbackRTC(udpPort), remoteUnmute)
	if redisAddr != "" {
		fmt.Fprintf(&b, "redis:\n  address: %s\n", redisAddr)
	}
	return b.String()
}

func waitTCP(t TB, name, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := netDial(addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("testenv: %s did not listen on %s within %s", name, addr, limit)
}

func (o options) ingressYAML() string {
	if o.rtmpBase == "" {
		return ""
	}
	return fmt.Sprintf("ingress:\n  rtmp_base_url: %s\n  whip_base_url: %s\n", o.rtmpBase, o.whipBase)
}

// loopbackRTC is the WebRTC part of a component's config that keeps media on
// loopback: one UDP port, no TCP listener on every interface, no public STUN.
func loopbackRTC(udpPort int) string {
	return fmt.Sprintf(`  udp_port: %d
  tcp_port: 0
  use_external_ip: false
  node_ip: 127.0.0.1
  stun_servers: [127.0.0.1:3478]
  enable_loopback_candidate: true
  interfaces: {includes: [lo]}
  ips: {includes: [127.0.0.1/32]}
`, udpPort)
}
