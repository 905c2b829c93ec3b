package main

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// metrics are the dashboard's Prometheus series, on a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	http     http.Handler
	// withRooms adds the per-room series (room names are the shows' names):
	// served to authenticated scrapes only, unless DASHBOARD_METRICS_PUBLIC_ROOMS.
	withRooms http.Handler
}

func newMetrics(d Deps) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dashboard_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	show := &showCollector{rooms: d.Rooms, ingress: d.Ingress, egress: d.Egress}
	m.reg.MustRegister(m.requests, m.latency, show,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.http = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
	m.withRooms = m.http
	rooms := prometheus.NewRegistry()
	if d.Events != nil {
		rooms.MustRegister(roomCollector{events: d.Events, limit: d.Settings.MetricsRooms})
	}
	if sh, ok := d.Shows.(liveLoudness); ok {
		rooms.MustRegister(loudnessCollector{shows: sh, limit: d.Settings.MetricsRooms})
	}
	if d.Events != nil || d.Shows != nil {
		m.withRooms = promhttp.HandlerFor(prometheus.Gatherers{m.reg, rooms}, promhttp.HandlerOpts{Timeout: 10 * time.Second})
	}
	return m
}

// observe counts a request. Every label comes from a fixed set, never from what
// the client sent: route is the table's pattern (not the raw path), method one of
// eight names, status a number the server chose; so anonymous clients cannot
// grow the number of series.
func (m *metrics) observe(route, method string, status int, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, statusLabel(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// routeSeries are one route's request series, resolved once: a request of the
// route's own method costs no label lookup, only a read of its status's counter.
type routeSeries struct {
	m             *metrics
	route, method string
	latency       prometheus.Observer
	codes         [500]atomic.Pointer[prometheus.Counter] // by status - 100
}

func (m *metrics) route(route, method string) *routeSeries {
	rs := &routeSeries{m: m, route: route, method: method}
	if method != "" {
		rs.latency = m.latency.WithLabelValues(route, methodLabel(method))
	}
	return rs
}

func (rs *routeSeries) observe(method string, status int, d time.Duration) {
	if method != rs.method || rs.latency == nil || status < 100 || status > 599 {
		rs.m.observe(rs.route, method, status, d)
		return
	}
	c := rs.codes[status-100].Load()
	if c == nil {
		made := rs.m.requests.WithLabelValues(rs.route, rs.method, statusLabel(status))
		c = &made
		rs.codes[status-100].Store(c)
	}
	(*c).Inc()
	rs.latency.Observe(d.Seconds())
}

// methodLabel maps a request method to a fixed set: net/http accepts any token
// as a method, so "FOO1 /", "FOO2 /", ... would each be a new series.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}

// statusLabel bounds the status label to the valid range of HTTP codes.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// showCollector reads the show's state when scraped: one ListRooms (which carries
// participant counts, so no call per room), one ListIngress and one ListEgress,
// cached for two seconds so that several scrapers do not multiply calls to LiveKit.
type showCollector struct {
	rooms   Rooms
	ingress media.Ingresses
	egress  media.Egresses

	mu        sync.Mutex
	at        time.Time
	list      []rooms.Room
	listErr   error
	ingresses []ingress.Ingress
	ingErr    error
	egresses  []egress.Egress
	egErr     error
}

var (
	upDesc           = prometheus.NewDesc("dashboard_livekit_up", "1 when LiveKit answered the last ListRooms.", nil, nil)
	roomsDesc        = prometheus.NewDesc("dashboard_rooms_active", "Open rooms.", nil, nil)
	participantsDesc = prometheus.NewDesc("dashboard_participants", "Participants across open rooms.", nil, nil)
	publishersDesc   = prometheus.NewDesc("dashboard_publishers", "Participants publishing (on stage).", nil, nil)
	recordingDesc    = prometheus.NewDesc("dashboard_rooms_recording", "Rooms with an active recording.", nil, nil)
	ingressDesc      = prometheus.NewDesc("dashboard_ingresses", "Ingresses by state.", []string{"state"}, nil)
	egressDesc       = prometheus.NewDesc("dashboard_egresses", "Recordings and restreams LiveKit still lists, by status.", []string{"status"}, nil)
)

var egressStatuses = []egress.Status{egress.Starting, egress.Active, egress.Ending, egress.Complete, egress.Failed, egress.Aborted, egress.LimitReached}

var ingressStates = []ingress.State{ingress.Inactive, ingress.Buffering, ingress.Publishing, ingress.Failed, ingress.Complete}

func (c *showCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upDesc, roomsDesc, participantsDesc, publishersDesc, recordingDesc, ingressDesc, egressDesc} {
		ch <- d
	}
}

func (c *showCollector) Collect(ch chan<- prometheus.Metric) {
	if c.rooms == nil {
		return
	}
	c.mu.Lock()
	if time.Since(c.at) > 2*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c.list, c.listErr = c.rooms.List(ctx)
		if c.ingress != nil && c.listErr == nil {
			c.ingresses, c.ingErr = c.ingress.List(ctx, ingress.ListOptions{})
		}
		if c.egress != nil && c.listErr == nil {
			c.egresses, c.egErr = c.egress.List(ctx, egress.ListOptions{})
		}
		cancel()
		c.at = time.Now()
	}
	list, err, ings, ingErr, egs, egErr := c.list, c.listErr, c.ingresses, c.ingErr, c.egresses, c.egErr
	c.mu.Unlock()

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if err != nil {
		gauge(upDesc, 0)
		return // no stale gauges while LiveKit is down
	}
	gauge(upDesc, 1)
	var participants, publishers, recording int
	for _, r := range list {
		participants += r.NumParticipants
		publishers += r.NumPublishers
		if r.ActiveRecording {
			recording++
		}
	}
	gauge(roomsDesc, float64(len(list)))
	gauge(participantsDesc, float64(participants))
	gauge(publishersDesc, float64(publishers))
	gauge(recordingDesc, float64(recording))
	if c.ingress != nil && ingErr == nil {
		byState := map[ingress.State]int{}
		for _, in := range ings {
			byState[in.State]++
		}
		for _, st := range ingressStates {
			gauge(ingressDesc, float64(byState[st]), string(st))
		}
	}
	if c.egress != nil && egErr == nil {
		byStatus := map[egress.Status]int{}
		for _, e := range egs {
			byStatus[e.Status]++
		}
		for _, st := range egressStatuses {
			gauge(egressDesc, float64(byStatus[st]), string(st))
		}
	}
}
