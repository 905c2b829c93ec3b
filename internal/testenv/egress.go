package testenv

import "github.com/spacemusic/streamkit/internal/stack"

// MinIOEnv is a running MinIO: the recordings bucket of a show's stack.
type MinIOEnv struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
}

// MinIO starts a private MinIO on loopback with random root credentials.
func MinIO(t TB) *MinIOEnv {
	t.Helper()
	m, err := stackFor(t).MinIO()
	must(t, err)
	return &MinIOEnv{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey}
}

// EgressEnv is a running LiveKit Egress service.
type EgressEnv struct {
	MetricsURL string // Egress's Prometheus endpoint (http://127.0.0.1:port/metrics)
	HealthURL  string // its health_port: 200 while it runs
	Process    *Process
}

// Egress starts a real LiveKit Egress next to env, which must have Redis.
func Egress(t TB, env *Env) *EgressEnv {
	t.Helper()
	if env.RedisAddr == "" {
		t.Fatalf("testenv: egress needs a LiveKit started WithRedis()")
	}
	_, err := stack.Binary("egress", "egress")
	must(t, err)
	holdMediaSlot(t)
	lk := &stack.LiveKit{URL: env.URL, WSURL: env.WSURL, APIKey: env.APIKey, APISecret: env.APISecret, RedisAddr: env.RedisAddr}
	e, err := stackFor(t).Egress(lk)
	must(t, err)
	return &EgressEnv{MetricsURL: e.MetricsURL, HealthURL: e.HealthURL, Process: e.Process}
}
