package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
)

// healthcheckBound is how long `dashboard healthcheck` may take in all: above
// /api/health's own probe (DASHBOARD_HEALTH_TIMEOUT, 2 s by default), below the
// container engine's timeout for it (5 s in deploy/Containerfile and compose.yaml).
const healthcheckBound = 4 * time.Second

// healthcheck is `dashboard healthcheck`: the container image has no curl, so
// the binary asks its own /api/health, on DASHBOARD_ADDR as the server reads it,
// and returns nil only for a 200. It talks to that address only: no redirect is
// followed and the answer read is bounded.
func healthcheck(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	addr := getenv("DASHBOARD_ADDR")
	if addr == "" {
		addr = knobDefault("DASHBOARD_ADDR")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: invalid DASHBOARD_ADDR %q: not host:port", addr)
	}
	// A server on every address (0.0.0.0:8090) is reached through it too: Linux
	// connects an unspecified address to the local host.
	url := "http://" + net.JoinHostPort(host, port) + "/api/health"
	ctx, cancel := context.WithTimeout(ctx, healthcheckBound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("healthcheck: %s did not answer within %s", url, healthcheckBound)
	}
	if err != nil {
		return fmt.Errorf("healthcheck: %s: %w", url, err)
	}
	defer resp.Body.Close()
	var h healthResponse
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d (status %q, livekit %q)", url, resp.StatusCode, h.Status, h.LiveKit)
	}
	fmt.Fprintf(stdout, "dashboard: healthy (%s: livekit %s, %d ms)\n", url, h.LiveKit, h.LatencyMS)
	return nil
}

// knobDefault is the default of the setting read from env.
func knobDefault(env string) string {
	for _, k := range config.Knobs {
		if k.Env == env {
			return k.Def
		}
	}
	return ""
}
