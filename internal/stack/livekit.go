package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// Redis starts a private redis-server on a free loopback port and returns its address.
func (s *Stack) Redis() (string, error) {
	bin, err := Binary("redis-server", "redis")
	if err != nil {
		return "", err
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	dir, err := s.TempDir()
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if _, err := s.Start("redis", bin, []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}); err != nil {
		return "", err
	}
	return addr, waitTCP("redis", addr, 10*time.Second)
}

// LiveKitOptions shape a livekit-server.
type LiveKitOptions struct {
	Redis        string // address of the Redis to use; empty: none (no ingress, egress or cluster)
	RemoteUnmute bool   // allow moderators to unmute remotely (the show's moderators need it)
	// Ingress URLs LiveKit hands out with new ingresses (see PlanIngress).
	RTMPBase, WHIPBase string
	// Webhooks are the URLs LiveKit posts its events to, signed with the API key.
	Webhooks []string
	// TURN runs LiveKit's embedded TURN server (see Stack.TURN); nil: none.
	TURN *TURN
	// ICETCP opens ICE over TCP (rtc.tcp_port) on a free port, as production
	// does on 7881. LiveKit listens on it on every interface whatever
	// bind_addresses says: only inside the private network namespace.
	ICETCP bool
	// Version picks a livekit-server release other than the pinned one (e.g. the
	// seed's v1.6.1), installed as livekit-server-<version>; empty: the pin.
	Version string
	// Secret is the API secret (key "streamkit"); empty: a fresh one. The
	// nodes of one cluster share it, as production's share their keys.
	Secret string
	// Spread places each new room on the node hosting the fewest (LiveKit's
	// node_selector sort_by: rooms) instead of a random one.
	Spread bool
	// CPUs pins the server to these cores (taskset's list: "0", "0,1", "0-3")
	// to measure how its capacity scales with cores; empty: not pinned.
	CPUs string
	// ICELite makes the SFU an ICE-lite agent (rtc.use_ice_lite), as many
	// production deployments run it: clients then control ICE.
	ICELite bool
}

// LiveKit is a running livekit-server.
type LiveKit struct {
	URL       string // http://127.0.0.1:port of the server API
	WSURL     string // ws://127.0.0.1:port for clients
	APIKey    string
	APISecret string
	RedisAddr string
	// MetricsURL is livekit-server's Prometheus endpoint (prometheus.port, on
	// the loopback bind address): http://127.0.0.1:port/metrics.
	MetricsURL string
	TURN       *TURN // the embedded TURN server; nil when off
	UDPPort    int   // the SFU's media port (rtc.udp_port)
	TCPPort    int   // its ICE/TCP port (rtc.tcp_port); 0 when off
	Process    *Process
}

// LiveKit starts a livekit-server on loopback with a fresh API key and secret.
// A port chosen free a moment ago can be taken before the server binds it (by
// another test binary's stack, or as an outgoing connection's ephemeral port;
// seen in CI: "bind: address already in use"): the server exits, and it is
// started again on other ports, at most three times.
func (s *Stack) LiveKit(o LiveKitOptions) (*LiveKit, error) {
	bin, err := LiveKitBinary(o.Version)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		lk, err := s.startLiveKit(bin, o)
		if err == nil || attempt == 3 || !errors.Is(err, errPortTaken) {
			return lk, err
		}
	}
}

// errPortTaken is a server that exited because a port it was given was taken.
var errPortTaken = errors.New("a port was taken before the server bound it")

func (s *Stack) startLiveKit(bin string, o LiveKitOptions) (*LiveKit, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	port, metrics := ports[0], ports[1]
	udp, err := FreeUDPPort()
	if err != nil {
		return nil, err
	}
	dir, err := s.TempDir()
	if err != nil {
		return nil, err
	}
	lk := &LiveKit{URL: fmt.Sprintf("http://127.0.0.1:%d", port), WSURL: fmt.Sprintf("ws://127.0.0.1:%d", port),
		APIKey: "streamkit", APISecret: o.Secret, RedisAddr: o.Redis, MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)}
	if lk.APISecret == "" {
		lk.APISecret = Secret()
	}
	cfg := ServerYAML(port, udp, lk.APIKey, lk.APISecret, o.Redis, o.RemoteUnmute)
	if o.Spread {
		// LiveKit reads each node's room count from the stats it writes to
		// Redis every 2 s (stats_update_interval): rooms created within that
		// time may still land on one node (see testenv.SpreadRooms).
		cfg += "node_selector:\n  kind: any\n  sort_by: rooms\n  algorithm: lowest\n"
	}
	if o.ICELite {
		cfg = strings.Replace(cfg, "rtc:\n", "rtc:\n  use_ice_lite: true\n", 1)
	}
	if o.ICETCP {
		lk.TCPPort = ports[2]
		cfg = strings.Replace(cfg, "  tcp_port: 0\n", fmt.Sprintf("  tcp_port: %d\n", lk.TCPPort), 1)
	}
	// Operators watch LiveKit through Prometheus (deploy/): the
	// metrics port listens on bind_addresses, so on loopback here.
	cfg += PrometheusYAML(o.Version, metrics)
	if o.RTMPBase != "" {
		cfg += fmt.Sprintf("ingress:\n  rtmp_base_url: %s\n  whip_base_url: %s\n", o.RTMPBase, o.WHIPBase)
	}
	cfg += WebhookYAML(lk.APIKey, o.Webhooks)
	cfg += TURNYAML(o.Version, o.TURN) // older releases refuse some keys (see TURNYAML)
	lk.TURN, lk.UDPPort = o.TURN, udp
	path := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("stack: write livekit config: %w", err)
	}
	name, args := bin, []string{"--config", path}
	if o.CPUs != "" {
		// taskset execs the server: its pid is the server's, and every thread
		// the server starts inherits the mask.
		name, args = "taskset", append([]string{"--cpu-list", o.CPUs, bin}, args...)
	}
	if lk.Process, err = s.Start("livekit-server", name, args); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	go func() { ready <- WaitReady(lk.URL, 20*time.Second) }()
	for tick := time.NewTicker(100 * time.Millisecond); ; {
		select {
		case err := <-ready:
			tick.Stop()
			if err != nil {
				return nil, fmt.Errorf("stack: livekit-server: %w\n%s", err, lk.Process.Tail(4<<10))
			}
			return lk, nil
		case <-tick.C:
			if strings.Contains(lk.Process.Output(), "address already in use") {
				tick.Stop()
				lk.Process.Stop() // its readiness poll ends by itself (buffered channel)
				return nil, fmt.Errorf("stack: livekit-server: %w\n%s", errPortTaken, lk.Process.Tail(1<<10))
			}
		}
	}
}

// LiveKitBinary finds livekit-server at version (as scripts/stack links it:
// livekit-server-v1.6.1), or the pinned one when version is empty.
func LiveKitBinary(version string) (string, error) {
	if version == "" {
		return Binary("livekit-server", "livekit")
	}
	if !semver.IsValid(version) {
		return "", fmt.Errorf("stack: livekit-server version %q is not a semantic version (v1.6.1)", version)
	}
	return Binary("livekit-server-"+version, "livekit livekit-seed")
}

// PrometheusYAML is the config's metrics port in the form version accepts.
// Releases before v1.11.0 know only prometheus_port (v1.6.1 refuses the newer
// form at start: "field prometheus not found in type config.Config"); v1.11.0
// takes both but logs prometheus_port as deprecated. Empty version: the pin.
func PrometheusYAML(version string, port int) string {
	if version != "" && semver.Compare(version, "v1.11.0") < 0 {
		return fmt.Sprintf("prometheus_port: %d\n", port)
	}
	return fmt.Sprintf("prometheus:\n  port: %d\n", port)
}

// Restart brings a stopped livekit-server back on the same ports.
func (lk *LiveKit) Restart() error {
	if err := lk.Process.Start(); err != nil {
		return err
	}
	return WaitReady(lk.URL, 20*time.Second)
}

// ServerYAML is the loopback-only livekit-server configuration: without these
// settings the server listens on every interface and tells clients to use a public
// STUN server.
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
`, port, key, secret, LoopbackRTC(udpPort), remoteUnmute)
	if redisAddr != "" {
		fmt.Fprintf(&b, "redis:\n  address: %s\n", redisAddr)
	}
	return b.String()
}

// WebhookYAML is the part of a livekit-server config that sends webhooks to urls,
// signed with apiKey; empty without urls.
func WebhookYAML(apiKey string, urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "webhook:\n  api_key: %s\n  urls:\n", apiKey)
	for _, u := range urls {
		fmt.Fprintf(&b, "    - %s\n", u)
	}
	return b.String()
}

// LoopbackRTC is the WebRTC part of a component's config that keeps media on
// loopback: one UDP port, no TCP listener on every interface, no public STUN.
func LoopbackRTC(udpPort int) string {
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
