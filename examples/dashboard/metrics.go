package main

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// metrics are the dashboard's Prometheus series, on a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// roomLister is what the show gauges need: one ListRooms gives rooms and their
// participant counts, so a scrape costs one call however many rooms there are.
type roomLister interface {
	List(ctx context.Context, names ...string) ([]rooms.Room, error)
}

func newMetrics(rl roomLister) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dashboard_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	m.reg.MustRegister(m.requests, m.latency, &showCollector{rooms: rl},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// showCollector reads the show's state on scrape, cached briefly so that several
// scrapers do not multiply calls to LiveKit.
type showCollector struct {
	rooms roomLister

	mu      sync.Mutex
	at      time.Time
	list    []rooms.Room
	listErr error
}

var (
	upDesc           = prometheus.NewDesc("dashboard_livekit_up", "1 when LiveKit answered the last scrape's ListRooms.", nil, nil)
	roomsDesc        = prometheus.NewDesc("dashboard_rooms_active", "Open rooms.", nil, nil)
	participantsDesc = prometheus.NewDesc("dashboard_participants", "Participants across open rooms.", nil, nil)
	publishersDesc   = prometheus.NewDesc("dashboard_publishers", "Participants publishing (on stage).", nil, nil)
	recordingDesc    = prometheus.NewDesc("dashboard_rooms_recording", "Rooms with an active recording.", nil, nil)
)

func (c *showCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upDesc
	ch <- roomsDesc
	ch <- participantsDesc
	ch <- publishersDesc
	ch <- recordingDesc
}

func (c *showCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) > 2*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c.list, c.listErr = c.rooms.List(ctx)
		cancel()
		c.at = time.Now()
	}
	list, err := c.list, c.listErr
	c.mu.Unlock()
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	if err != nil {
		return // no stale gauges while LiveKit is down
	}
	var participants, publishers, recording int
	for _, r := range list {
		participants += r.NumParticipants
		publishers += r.NumPublishers
		if r.ActiveRecording {
			recording++
		}
	}
	ch <- prometheus.MustNewConstMetric(roomsDesc, prometheus.GaugeValue, float64(len(list)))
	ch <- prometheus.MustNewConstMetric(participantsDesc, prometheus.GaugeValue, float64(participants))
	ch <- prometheus.MustNewConstMetric(publishersDesc, prometheus.GaugeValue, float64(publishers))
	ch <- prometheus.MustNewConstMetric(recordingDesc, prometheus.GaugeValue, float64(recording))
}
