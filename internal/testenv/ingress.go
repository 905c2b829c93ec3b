package testenv

import "github.com/spacemusic/streamkit/internal/stack"

// IngressEnv is a running LiveKit Ingress service.
type IngressEnv struct {
	RTMPBase string // rtmp://127.0.0.1:port/x: the server URL OBS pushes to
	WHIPBase string // http://127.0.0.1:port/w
	// MetricsURL is Ingress's Prometheus endpoint (http://127.0.0.1:port/metrics).
	MetricsURL string
	HealthURL  string // its health_port: 200 while it runs
	Process    *Process
}

// Ingress starts livekit-server with Redis and a real LiveKit Ingress beside it.
// LiveKit must know the ingress URLs before it starts, so the ports are chosen first.
func Ingress(t TB, opts ...Option) (*Env, *IngressEnv) {
	t.Helper()
	_, err := stack.Binary("ingress", "ingress")
	must(t, err)
	holdMediaSlot(t) // before LiveKit: its cleanup must run after every process is gone
	plan, err := stack.PlanIngress()
	must(t, err)
	env := LiveKit(t, append(opts, WithRedis(), WithBackend("process"), func(o *options) { o.rtmpBase, o.whipBase = plan.RTMPBase, plan.WHIPBase })...)
	lk := &stack.LiveKit{URL: env.URL, WSURL: env.WSURL, APIKey: env.APIKey, APISecret: env.APISecret, RedisAddr: env.RedisAddr}
	must(t, stackFor(t).StartIngress(plan, lk))
	return env, &IngressEnv{RTMPBase: plan.RTMPBase, WHIPBase: plan.WHIPBase, MetricsURL: plan.MetricsURL, HealthURL: plan.HealthURL, Process: plan.Process}
}
