package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Ingress is LiveKit Ingress: planned (ports chosen, so LiveKit can be told its
// URLs before it starts), then started.
type Ingress struct {
	RTMPBase  string // rtmp://127.0.0.1:port/x: the server URL OBS pushes to
	WHIPBase  string // http://127.0.0.1:port/w
	HealthURL string
	// MetricsURL is Ingress's Prometheus endpoint (prometheus_port). Ingress
	// listens on every interface, as it does for RTMP and health; reach it on
	// loopback.
	MetricsURL string
	Process    *Process

	rtmp, whip, health, relay, metrics int
}

// PlanIngress chooses the ingress's ports.
func PlanIngress() (*Ingress, error) {
	p, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	return &Ingress{RTMPBase: fmt.Sprintf("rtmp://127.0.0.1:%d/x", p[0]), WHIPBase: fmt.Sprintf("http://127.0.0.1:%d/w", p[1]),
		HealthURL: fmt.Sprintf("http://127.0.0.1:%d/", p[2]), MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", p[4]),
		rtmp: p[0], whip: p[1], health: p[2], relay: p[3], metrics: p[4]}, nil
}

// StartIngress starts the planned ingress beside lk, which must have Redis and
// have been started with the plan's URLs.
func (s *Stack) StartIngress(ing *Ingress, lk *LiveKit) error {
	if lk.RedisAddr == "" {
		return fmt.Errorf("stack: ingress needs a LiveKit with Redis")
	}
	bin, err := Binary("ingress", "ingress")
	if err != nil {
		return err
	}
	udp, err := FreeUDPPort()
	if err != nil {
		return err
	}
	dir, err := s.TempDir()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`api_key: %s
api_secret: %s
ws_url: %s
redis: {address: %s}
health_port: %d
rtmp_port: %d
whip_port: %d
http_relay_port: %d
prometheus_port: %d
logging: {level: info}
# Ingress accepts a stream only while idle CPUs - min_idle_ratio*CPUs > the input's
# cost (stats/monitor.go getAvailable). On a 2-core machine running the test suite's
# packages in parallel, idle often dips under 0.1 core, and ingress then answers
# "no response from servers"; these figures refuse only a saturated machine.
cpu_cost: {rtmp_cpu_cost: 0.02, whip_cpu_cost: 0.02, whip_bypass_transcoding_cpu_cost: 0.01, url_cpu_cost: 0.02, min_idle_ratio: 0.001}
rtc_config:
%s`, lk.APIKey, lk.APISecret, lk.WSURL, lk.RedisAddr, ing.health, ing.rtmp, ing.whip, ing.relay, ing.metrics, LoopbackRTC(udp))
	path := filepath.Join(dir, "ingress.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("stack: write ingress config: %w", err)
	}
	if ing.Process, err = s.Start("ingress", bin, []string{"--config", path}); err != nil {
		return err
	}
	return WaitHTTP("ingress", ing.HealthURL, 30*time.Second, ing.Process)
}

// Egress is a running LiveKit Egress service.
type Egress struct {
	HealthURL string
	// MetricsURL is Egress's Prometheus endpoint (prometheus_port; every
	// interface, like its health port: reach it on loopback).
	MetricsURL string
	Process    *Process
	// Pulse is the PulseAudio that egress's room composites play Chrome into.
	Pulse *Pulse
}

// Pulse is a private PulseAudio daemon.
type Pulse struct {
	Server  string // PULSE_SERVER for its clients: unix:<socket>
	Process *Process
}

// pulseAudio starts a PulseAudio of the egress's own in dir. Egress (as in its
// upstream image) needs one for room composites: for each it loads a null sink
// with pactl, Chrome plays into it (PULSE_SINK), and GStreamer records its
// monitor. Ours runs as root without --system, with no X11, D-Bus or ALSA
// modules (-n), anonymous access on a socket in dir, and never exits while idle,
// so egresses of parallel tests never share one and nothing is left in /run.
func (s *Stack) pulseAudio(dir string) (*Pulse, error) {
	bin, err := Binary("pulseaudio", "egress")
	if err != nil {
		return nil, err
	}
	if _, err := Binary("pactl", "egress"); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "pulse.sock")
	p := &Pulse{Server: "unix:" + sock}
	state := filepath.Join(dir, "pulse")
	p.Process, err = s.Start("pulseaudio", bin, []string{"-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
		"--use-pid-file=no", "--disable-shm", "-L", "module-native-protocol-unix auth-anonymous=1 socket=" + sock},
		"HOME="+state, "PULSE_RUNTIME_PATH="+state, "PULSE_STATE_PATH="+state, "XDG_RUNTIME_DIR="+state, "DISPLAY=")
	if err != nil {
		return nil, err
	}
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("stack: pulseaudio made no socket at %s within 5s\n%s", sock, p.Process.Tail(4<<10))
}

// Egress starts LiveKit Egress beside lk, which must have Redis.
func (s *Stack) Egress(lk *LiveKit) (*Egress, error) {
	if lk.RedisAddr == "" {
		return nil, fmt.Errorf("stack: egress needs a LiveKit with Redis")
	}
	bin, p, dir, err := s.prepare("egress", 3)
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`api_key: %s
api_secret: %s
ws_url: %s
insecure: true
redis: {address: %s}
health_port: %d
template_port: %d
prometheus_port: %d
logging: {level: info}
# a 2-core test machine: lower costs, or egress refuses work (a room composite
# costs 4 CPUs by default: more than the machine has)
cpu_cost:
  max_cpu_utilization: 0.95
  room_composite_cpu_cost: 0.5
  track_cpu_cost: 0.2
  track_composite_cpu_cost: 0.2
  audio_room_composite_cpu_cost: 0.2
  participant_cpu_cost: 0.2
`, lk.APIKey, lk.APISecret, lk.WSURL, lk.RedisAddr, p[0], p[1], p[2])
	path := filepath.Join(dir, "egress.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("stack: write egress config: %w", err)
	}
	e := &Egress{HealthURL: fmt.Sprintf("http://127.0.0.1:%d/", p[0]), MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", p[2])}
	if e.Pulse, err = s.pulseAudio(dir); err != nil {
		return nil, err
	}
	if e.Process, err = s.Start("egress", bin, nil, "EGRESS_CONFIG_FILE="+path, "TMPDIR="+dir, "PULSE_SERVER="+e.Pulse.Server); err != nil {
		return nil, err
	}
	return e, WaitHTTP("egress", e.HealthURL, 60*time.Second, e.Process)
}

// MinIO is a running MinIO: the recordings bucket of a show's stack.
type MinIO struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
	Process   *Process
}

// MinIO starts a private MinIO on loopback with random root credentials.
func (s *Stack) MinIO() (*MinIO, error) {
	bin, p, dir, err := s.prepare("minio", 2)
	if err != nil {
		return nil, err
	}
	// The access key is random too: tests keep it out of every log line, and
	// a fixed "streamkit" matched every reserved identity (streamkit-recorder,
	// streamkit-rehearsal-…) that logs rightly name.
	m := &MinIO{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", p[0]), AccessKey: "minio-" + Secret()[:12], SecretKey: Secret()}
	m.Process, err = s.Start("minio", bin, []string{"server", dir, "--address", fmt.Sprintf("127.0.0.1:%d", p[0]),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", p[1]), "--quiet"},
		"MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey, "MINIO_UPDATE=off", "MINIO_BROWSER=off")
	if err != nil {
		return nil, err
	}
	return m, WaitHTTP("minio", m.Endpoint+"/minio/health/live", 30*time.Second, m.Process)
}

// prepare finds a component's binary (named like the component) and gives it n
// free ports and a directory of its own.
func (s *Stack) prepare(name string, n int) (bin string, ports []int, dir string, err error) {
	if bin, err = Binary(name, name); err != nil {
		return "", nil, "", err
	}
	if ports, err = freePorts(n); err != nil {
		return "", nil, "", err
	}
	dir, err = s.TempDir()
	return bin, ports, dir, err
}
