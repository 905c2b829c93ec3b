package main

// The doctor from the command line, and how it hears webhooks.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/doctor"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// runDoctor is `dashboard doctor [-json]`: the same checks from the command
// line, with the deployment's environment (its env file). Webhooks are the
// running dashboard's (DASHBOARD_ADDR), read from its public health answer.
// One line per check, or the JSON of /api/doctor; an error when one failed.
func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	asJSON := false
	rest := args[:0:0]
	for _, a := range args {
		if a == "-json" || a == "--json" {
			asJSON = true
			continue
		}
		rest = append(rest, a)
	}
	s, err := config.Load(rest, getenv, stdout)
	if errors.Is(err, config.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg := spacemusic.ConfigFromGetenv(getenv)
	cfg.Timeout = s.LiveKitTimeout
	sm, err := spacemusic.New(cfg)
	if err != nil {
		return err
	}
	d := doctor.New(sm, s, webhooksHeardBy(dashboardURL(s.Addr)))
	rep := d.Run(ctx)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, c := range rep.Checks {
			line := fmt.Sprintf("%-4s  %-8s  %s (%d ms)", strings.ToUpper(c.Status), c.Name, c.Detail, c.MS)
			if c.Fix != "" {
				line += "; fix: " + c.Fix
			}
			fmt.Fprintln(stdout, line)
		}
	}
	if rep.Status == "fail" {
		return errors.New("doctor: a check failed")
	}
	return nil
}

// dashboardURL is where this host reaches the dashboard at addr (":8090" and
// "0.0.0.0:8090" are served on loopback too).
func dashboardURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// webhooksHeardBy reads when the dashboard at base last heard a webhook, from
// its public health answer.
func webhooksHeardBy(base string) func(context.Context) (doctor.Heard, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	return func(ctx context.Context) (doctor.Heard, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/health", nil)
		if err != nil {
			return doctor.Heard{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return doctor.Heard{}, err
		}
		defer resp.Body.Close()
		var h healthResponse
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h); err != nil {
			return doctor.Heard{}, err
		}
		if h.Model == nil {
			return doctor.Heard{}, errors.New("the dashboard runs no live model")
		}
		heard := doctor.Heard{Refused: h.Model.RefusedWebhooks}
		if h.Model.LastWebhookAgeMS != nil {
			heard.Last = time.Now().Add(-time.Duration(*h.Model.LastWebhookAgeMS) * time.Millisecond)
		}
		return heard, nil
	}
}

// webhooksHeardHere is webhooksHeardBy for this process's own model.
func webhooksHeardHere(ev live.Events, hooks live.Webhooks) func(context.Context) (doctor.Heard, error) {
	return func(context.Context) (doctor.Heard, error) {
		return doctor.Heard{Last: ev.LastWebhook(), Refused: hooks.Counts()[events.Unsigned]}, nil
	}
}
