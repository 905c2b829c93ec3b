package testenv

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// IngressEnv is a running LiveKit Ingress service.
type IngressEnv struct {
	RTMPBase string // rtmp://127.0.0.1:port/x: the server URL OBS pushes to
	WHIPBase string // http://127.0.0.1:port/w
	Process  *Process
}

// Ingress starts livekit-server with Redis and a real LiveKit Ingress beside it.
// LiveKit must know the ingress URLs before it starts, so the ports are chosen first.
func Ingress(t TB, opts ...Option) (*Env, *IngressEnv) {
	t.Helper()
	bin := Binary(t, "ingress", "ingress")
	holdMediaSlot(t) // before LiveKit: its cleanup must run after every process is gone
	rtmp, whip, health, relay := FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	ing := &IngressEnv{RTMPBase: fmt.Sprintf("rtmp://127.0.0.1:%d/x", rtmp), WHIPBase: fmt.Sprintf("http://127.0.0.1:%d/w", whip)}
	env := LiveKit(t, append(opts, WithRedis(), WithBackend("process"), func(o *options) { o.rtmpBase, o.whipBase = ing.RTMPBase, ing.WHIPBase })...)

	cfg := fmt.Sprintf(`api_key: %s
api_secret: %s
ws_url: %s
redis: {address: %s}
health_port: %d
rtmp_port: %d
whip_port: %d
http_relay_port: %d
prometheus_port: 0
logging: {level: info}
# Ingress accepts a stream only while idle CPUs - min_idle_ratio*CPUs > the input's
# cost (stats/monitor.go getAvailable). On a 2-core machine running the test suite's
# packages in parallel, idle often dips under 0.1 core, and ingress then answers
# "no response from servers"; these figures refuse only a saturated machine.
cpu_cost: {rtmp_cpu_cost: 0.02, whip_cpu_cost: 0.02, whip_bypass_transcoding_cpu_cost: 0.01, url_cpu_cost: 0.02, min_idle_ratio: 0.001}
rtc_config:
%s`, env.APIKey, env.APISecret, env.WSURL, env.RedisAddr, health, rtmp, whip, relay, loopbackRTC(FreeUDPPort(t)))
	path := filepath.Join(t.TempDir(), "ingress.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatalf("testenv: write ingress config: %v", err)
	}
	ing.Process = StartProcess(t, "ingress", bin, []string{"--config", path})
	waitHTTP(t, "ingress", fmt.Sprintf("http://127.0.0.1:%d/", health), 30*time.Second, ing.Process)
	return env, ing
}

// waitHTTP waits for a component's health endpoint to answer 200.
func waitHTTP(t TB, name, url string, limit time.Duration, p *Process) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("testenv: %s not healthy at %s within %s\n%s", name, url, limit, p.out.tail(4<<10))
}
