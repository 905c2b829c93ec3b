package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
)

// Dashboard starts the stack a dashboard in dev mode runs on (see devStack)
// and returns it as the environment a dashboard reads in production
// (LIVEKIT_*, REDIS_URL, MINIO_* when Egress and MinIO run), and how to stop
// every process it started. (Plain values: this package imports none of the
// library, whose tests run on it.)
func Dashboard(log *slog.Logger, webhook string) (map[string]string, func(), error) {
	st := New()
	env, err := devStack(st, log, webhook)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return env, st.Close, nil
}

// devStack starts the real stack on loopback: LiveKit and Redis, and LiveKit
// Ingress, Egress and MinIO when they are installed (scripts/dev installs them;
// scripts/dev --light does not). A component that is missing is left out with a
// warning naming what stops working; any other failure stops start-up.
func devStack(st *Stack, log *slog.Logger, webhook string) (map[string]string, error) {
	fail := func(what string, err error) (map[string]string, error) {
		return nil, fmt.Errorf("dev mode: starting %s: %w", what, err)
	}
	redis, err := st.Redis()
	if err != nil {
		return fail("Redis", err)
	}
	var missing *MissingError
	ing, err := PlanIngress()
	if err != nil {
		return fail("Ingress", err)
	}
	if _, err := Binary("ingress", "ingress"); errors.As(err, &missing) {
		log.Warn("dev mode: running without LiveKit Ingress; /api/ingress will answer errors", "why", err.Error())
		ing = nil
	}
	turn, err := st.TURN(seedPort("udp", 3478), seedPort("tcp", 5349))
	if err != nil {
		return fail("TURN", err)
	}
	o := LiveKitOptions{Redis: redis, RemoteUnmute: true, Webhooks: []string{webhook}, TURN: turn}
	if ing != nil {
		o.RTMPBase, o.WHIPBase = ing.RTMPBase, ing.WHIPBase
	}
	lk, err := st.LiveKit(o)
	if err != nil {
		return fail("LiveKit", err)
	}
	log.Info("dev mode: LiveKit is up", "url", lk.URL, "redis", redis, "apiKey", lk.APIKey)
	log.Info("dev mode: LiveKit's TURN is up", "udp", turn.UDPAddr(), "tls", turn.TLSAddr(), "ca", turn.CAFile,
		"clientsAreTold", "turns:"+turn.Domain+":443 (carry 443 to the TLS port to use TURN/TLS)")
	if ing != nil {
		if err := st.StartIngress(ing, lk); err != nil {
			return fail("Ingress", err)
		}
		log.Info("dev mode: LiveKit Ingress is up", "rtmp", ing.RTMPBase, "whip", ing.WHIPBase, "health", ing.HealthURL)
	}
	env := map[string]string{"LIVEKIT_URL": lk.URL, "LIVEKIT_WS_URL": lk.WSURL, "LIVEKIT_API_KEY": lk.APIKey, "LIVEKIT_API_SECRET": lk.APISecret,
		"REDIS_URL":      "redis://" + redis, // the event log shares LiveKit's Redis
		"DASHBOARD_TURN": turn.URIs()}
	m, err := st.MinIO()
	if errors.As(err, &missing) {
		log.Warn("dev mode: running without Egress and MinIO; /api/egress and /api/recordings answer not_configured", "why", err.Error())
		return env, nil
	} else if err != nil {
		return fail("MinIO", err)
	}
	eg, err := st.Egress(lk)
	if errors.As(err, &missing) {
		log.Warn("dev mode: running without Egress and MinIO; /api/egress and /api/recordings answer not_configured", "why", err.Error())
		return env, nil
	} else if err != nil {
		return fail("Egress", err)
	}
	env["MINIO_ENDPOINT"], env["MINIO_BUCKET"], env["MINIO_ACCESS_KEY"], env["MINIO_SECRET_KEY"] = m.Endpoint, "recordings", m.AccessKey, m.SecretKey
	log.Info("dev mode: Egress and MinIO are up", slog.Group("storage", "endpoint", m.Endpoint, "bucket", "recordings"), "egressHealth", eg.HealthURL)
	return env, nil
}

// seedPort is port when it is free on loopback (the seed's TURN ports: 3478
// UDP, 5349 TLS), else 0 (a free one), so a second dev stack still starts.
func seedPort(network string, port int) int {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0
		}
		c.Close()
		return port
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0
	}
	l.Close()
	return port
}
