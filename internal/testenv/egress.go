package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// MinIOEnv is a running MinIO: the recordings bucket of the seed's stack.
type MinIOEnv struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
}

// MinIO starts a private MinIO on loopback with random root credentials.
func MinIO(t TB) *MinIOEnv {
	t.Helper()
	bin := Binary(t, "minio", "minio")
	port, console := FreePort(t), FreePort(t)
	m := &MinIOEnv{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), AccessKey: "streamkit", SecretKey: Secret()}
	p := StartProcess(t, "minio", bin, []string{"server", t.TempDir(), "--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console), "--quiet"},
		"MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey, "MINIO_UPDATE=off", "MINIO_BROWSER=off")
	waitHTTP(t, "minio", m.Endpoint+"/minio/health/live", 30*time.Second, p)
	return m
}

// EgressEnv is a running LiveKit Egress service.
type EgressEnv struct{ Process *Process }

// Egress starts a real LiveKit Egress next to env, which must have Redis.
func Egress(t TB, env *Env) *EgressEnv {
	t.Helper()
	if env.RedisAddr == "" {
		t.Fatalf("testenv: egress needs a LiveKit started WithRedis()")
	}
	bin := Binary(t, "egress", "egress")
	holdMediaSlot(t)
	health, template := FreePort(t), FreePort(t)
	cfg := fmt.Sprintf(`api_key: %s
api_secret: %s
ws_url: %s
insecure: true
redis: {address: %s}
health_port: %d
template_port: %d
logging: {level: info}
# a 2-core test machine: lower costs, or egress refuses work
cpu_cost:
  max_cpu_utilization: 0.95
  track_cpu_cost: 0.2
  track_composite_cpu_cost: 0.2
  audio_room_composite_cpu_cost: 0.2
  participant_cpu_cost: 0.2
`, env.APIKey, env.APISecret, env.WSURL, env.RedisAddr, health, template)
	dir := t.TempDir()
	path := filepath.Join(dir, "egress.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatalf("testenv: write egress config: %v", err)
	}
	p := StartProcess(t, "egress", bin, nil, "EGRESS_CONFIG_FILE="+path, "TMPDIR="+dir)
	waitHTTP(t, "egress", fmt.Sprintf("http://127.0.0.1:%d/", health), 60*time.Second, p)
	return &EgressEnv{Process: p}
}
