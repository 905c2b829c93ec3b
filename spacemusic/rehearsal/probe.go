package rehearsal

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// probeTimeout bounds each request to LiveKit's HTTP endpoints.
const probeTimeout = 5 * time.Second

// probe checks that base answers as livekit-server does: GET / gives 200
// "OK" when the node is ready. Anything else is not a LiveKit to rehearse on.
func probe(ctx context.Context, c *http.Client, base string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	if err != nil {
		return errs.Invalid(opRun, "URL: %v", err)
	}
	res, err := c.Do(req)
	if err != nil {
		return errs.Transport(opRun, errs.LiveKit, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 16))
	if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "OK" {
		return &errs.Error{Op: opRun, Kind: errs.ErrInvalidArgument, Message: "URL does not answer as a ready livekit-server (GET / gave " + strconv.Itoa(res.StatusCode) + ")",
			Hint: "give the LiveKit node's own URL"}
	}
	return nil
}

// wsURL is the WebSocket form of LiveKit's HTTP base URL.
func wsURL(base string) string {
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(base, "http://")
}

// metrics reads the SFU's CPU from its Prometheus endpoint: the process
// collector's process_cpu_seconds_total, which livekit-server's default
// registry exports (v1.11.0, pkg/service/server.go, promhttp.Handler).
type metrics struct {
	c   *http.Client
	url string // "" none
}

// newMetrics accepts raw only on base's host: the rehearsal reaches nothing
// but the LiveKit it was given.
func newMetrics(c *http.Client, base, raw string) (*metrics, error) {
	if raw == "" {
		return &metrics{c: c}, nil
	}
	u, err := url.Parse(raw)
	b, _ := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() != b.Hostname() {
		return nil, errs.Invalid(opRun, "MetricsURL: an http(s) URL on LiveKit's host %q", b.Hostname())
	}
	return &metrics{c: c, url: raw}, nil
}

// cpu is the SFU process's CPU seconds so far; false when unknown.
func (m *metrics) cpu(ctx context.Context) (float64, bool) {
	if m.url == "" {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return 0, false
	}
	res, err := m.c.Do(req)
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(res.Body, 4<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
