package stack

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// Dashboard starts the stack a dashboard in dev mode runs on (see devStack) and
// returns its config, the Redis URL for the shared event log, and how to stop
// every process it started.
func Dashboard(log *slog.Logger, webhook string) (cfg spacemusic.Config, redisURL string, stop func(), err error) {
	st := New()
	cfg, redisURL, err = devStack(st, log, webhook)
	if err != nil {
		st.Close()
		return spacemusic.Config{}, "", nil, err
	}
	return cfg, redisURL, st.Close, nil
}

// devStack starts the real stack on loopback: LiveKit and Redis, and LiveKit
// Ingress, Egress and MinIO when they are installed (scripts/dev installs them;
// scripts/dev --light does not). A component that is missing is left out with a
// warning naming what stops working; any other failure stops start-up.
func devStack(st *Stack, log *slog.Logger, webhook string) (spacemusic.Config, string, error) {
	fail := func(what string, err error) (spacemusic.Config, string, error) {
		return spacemusic.Config{}, "", fmt.Errorf("dev mode: starting %s: %w", what, err)
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
	o := LiveKitOptions{Redis: redis, RemoteUnmute: true, Webhooks: []string{webhook}}
	redisURL := "redis://" + redis // the event log shares LiveKit's Redis
	if ing != nil {
		o.RTMPBase, o.WHIPBase = ing.RTMPBase, ing.WHIPBase
	}
	lk, err := st.LiveKit(o)
	if err != nil {
		return fail("LiveKit", err)
	}
	log.Info("dev mode: LiveKit is up", "url", lk.URL, "redis", redis, "apiKey", lk.APIKey)
	if ing != nil {
		if err := st.StartIngress(ing, lk); err != nil {
			return fail("Ingress", err)
		}
		log.Info("dev mode: LiveKit Ingress is up", "rtmp", ing.RTMPBase, "whip", ing.WHIPBase, "health", ing.HealthURL)
	}
	cfg := spacemusic.Config{URL: lk.URL, PublicURL: lk.WSURL, APIKey: lk.APIKey, APISecret: lk.APISecret}
	m, err := st.MinIO()
	if errors.As(err, &missing) {
		log.Warn("dev mode: running without Egress and MinIO; /api/egress and /api/recordings answer not_configured", "why", err.Error())
		return cfg, redisURL, nil
	} else if err != nil {
		return fail("MinIO", err)
	}
	eg, err := st.Egress(lk)
	if errors.As(err, &missing) {
		log.Warn("dev mode: running without Egress and MinIO; /api/egress and /api/recordings answer not_configured", "why", err.Error())
		return cfg, redisURL, nil
	} else if err != nil {
		return fail("Egress", err)
	}
	cfg.Storage = egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	log.Info("dev mode: Egress and MinIO are up", "storage", cfg.Storage, "egressHealth", eg.HealthURL)
	return cfg, redisURL, nil
}
