package main

import (
	"context"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/nodes"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"

	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/archive"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/rehearsals"
	"github.com/spacemusic/streamkit/examples/dashboard/web"
)

// server is the dashboard: its dependencies plus what it builds from them.
type server struct {
	Deps
	auth    *access.Authenticator
	metrics *metrics
	limiter *api.Limiter
	mux     *http.ServeMux
	site    *web.Site

	media      *media.Routes      // the ingress and egress routes (internal/media)
	shows      *showroutes.Routes // the shows routes (internal/showroutes)
	rehearsals *rehearsals.Routes // the rehearsals this process runs (rehearsal.go)
	nodes      *nodes.Routes      // LiveKit's nodes, shared by the shows and nodes routes (internal/nodes)
	model      *live.Model        // the watched model, read and written (internal/live)
	feed       *live.Feed         // the live routes (internal/live)
	recs       *archive.Routes    // the recordings routes (recordings.go)
}

// NewServer returns the dashboard's handler: every route of routes.go behind
// request IDs, CORS, rate limiting, auth, body limits, metrics and request logs.
func NewServer(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	s := &server{Deps: d, auth: access.New(d.Settings.AuthConfig(), d.Log),
		limiter: api.NewLimiter(d.Settings.RateLimit, d.Settings.RateBurst), mux: http.NewServeMux()}
	s.model = &live.Model{Events: d.Events, Log: d.Log}
	s.recs = &archive.Routes{Store: d.Recordings, Egress: d.Egress, PerPrincipal: d.Settings.DownloadsPerPrincipal,
		DownloadMax: d.Settings.DownloadMax, WriteTimeout: d.Settings.WriteTimeout, Who: s.principal, ViaProxy: s.auth.FromProxy}
	s.feed = &live.Feed{Model: s.model, Webhooks: d.Webhooks, Rooms: d.Rooms, PerPrincipal: d.Settings.StreamsPerPrincipal,
		Closing: d.Closing, Who: s.principal}
	s.rehearsals = &rehearsals.Routes{Shows: d.Shows, Run: d.Rehearsals, Model: s.model, Closing: d.Closing}
	s.nodes = nodes.New(d.Nodes, d.Shows, d.Events, d.Log)
	s.shows = showroutes.New(showroutes.Routes{Shows: d.Shows, Model: s.model, Events: d.Events, Log: d.Log, WSURL: d.WSURL,
		CheckOutbound: s.checkShowOutbound, TakenNote: s.takenNote, Place: s.nodes.Place})
	s.media = &media.Routes{Ingress: d.Ingress, Egress: d.Egress, Model: s.model, Events: d.Events, Log: d.Log,
		CheckPull:         func(ctx context.Context, url string) error { return s.checkOutbound(ctx, s.pullCheck(), url) },
		CheckDestinations: s.checkDestinations}
	s.metrics = newMetrics(d)
	site, err := web.NewSite(d.WSURL, d.Settings.MonitorSilence)
	if err != nil { // the facade's config checked the URL; a test's Deps may not have
		d.Log.Warn("the page's monitor cannot reach LiveKit", "err", err)
		site, _ = web.NewSite("", d.Settings.MonitorSilence)
	}
	s.site = site
	if d.Events != nil && d.Webhooks != nil {
		s.metrics.reg.MustRegister(live.NewCollector(s.feed))
	}
	if sp, ok := d.Shows.(spooler); ok {
		s.metrics.reg.MustRegister(spoolCollector{sp})
	}
	for _, rt := range s.routes() {
		for _, p := range rt.Paths() {
			s.mux.Handle(rt.Method+" "+p, s.wrap(rt, p))
		}
	}
	for _, rt := range s.pages() {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt, rt.Path))
	}
	s.mux.Handle("/", s.wrap(api.Route{Role: api.Public, Handle: s.noRoute}, "unmatched"))
	return s.front()
}

// wrap gives a route the pipeline every request goes through: rate limit, auth,
// body limit, the handler, the one error mapping, metrics and a log line.
func (s *server) wrap(rt api.Route, pattern string) http.Handler {
	series := s.metrics.route(pattern, rt.Method)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &api.StatusWriter{ResponseWriter: w}
		_, r = api.CallOf(r)
		client := api.ClientAddr(s.Settings.TrustedProxies, s.auth.FromProxy, r) // for the limiter and the log line
		var err error
		defer func() {
			if p := recover(); p != nil {
				s.Log.Error("panic", "id", api.RequestID(r.Context()), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = api.NewError(http.StatusInternalServerError, "internal", "internal error; the request ID is in the X-Request-ID header")
				if sw.Status == 0 {
					api.WriteError(sw, err)
				}
			}
			s.finish(sw, r, client, series, start, err)
		}()
		if !s.limiter.Allow(client) {
			w.Header().Set("Retry-After", "1")
			err = api.NewError(http.StatusTooManyRequests, "rate_limited", "too many requests; slow down")
		}
		r.Body = http.MaxBytesReader(sw, r.Body, s.Settings.BodyLimit) // authorize may read it
		if err == nil {
			r, err = s.authorize(rt, r)
		}
		if err == nil && !s.has(rt.Needs) {
			err = api.NewError(http.StatusNotImplemented, "not_configured", string(rt.Needs)+" is not configured on this dashboard")
		}
		if err == nil {
			err = rt.Handle(sw, r)
		}
		if err != nil {
			api.WriteError(sw, err)
		}
	})
}

// finish records the request: metrics by route pattern, and one log line that
// never holds a credential (the api_key query value is redacted; headers and
// bodies are not logged).
func (s *server) finish(sw *api.StatusWriter, r *http.Request, client netip.Addr, series *routeSeries, start time.Time, err error) {
	if sw.Status == 0 {
		sw.Status = http.StatusOK
	}
	took := time.Since(start)
	series.observe(r.Method, sw.Status, took)
	level := slog.LevelInfo
	if sw.Status >= 500 {
		level = slog.LevelError
	}
	if !s.Log.Enabled(r.Context(), level) {
		return
	}
	c, _ := api.CallOf(r)
	u, msg := c.User, "request"
	ap := logAttrs.Get().(*[]slog.Attr)
	attrs := (*ap)[:0]
	if m := c.Minted; m.Role != "" { // the audit names the caller itself
		msg = "token minted"
		attrs = append(attrs, slog.String("role", m.Role), slog.String("room", m.Room),
			slog.String("identity", m.Identity), slog.String("ttl", m.TTL.String()), slog.String("by", u.Name),
			slog.String("auth", u.Method), slog.String("byRole", u.Role.String()))
	}
	attrs = append(attrs, slog.String("id", c.ID), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", sw.Status), slog.Float64("ms", float64(took.Microseconds())/1000),
		slog.String("client", client.String()))
	if r.URL.RawQuery != "" {
		attrs = append(attrs, slog.String("query", api.RedactQuery(r.URL.Query())))
	}
	if u.Method != "" && msg == "request" {
		attrs = append(attrs, slog.String("user", u.Name), slog.String("auth", u.Method), slog.String("role", u.Role.String()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	// The record is made here, not by LogAttrs: the request line has no
	// source to name, so no runtime.Callers per request.
	rec := slog.NewRecord(time.Now(), level, msg, 0)
	rec.AddAttrs(attrs...)
	_ = s.Log.Handler().Handle(r.Context(), rec)
	clear(attrs) // drop the strings before pooling
	*ap = attrs
	logAttrs.Put(ap)
}

// logAttrs pools the request line's attributes: the record copies them, so
// the slice is free again once the line is written.
var logAttrs = sync.Pool{New: func() any { a := make([]slog.Attr, 0, 20); return &a }}

// noRoute answers paths and methods the table does not have: 405 with Allow when
// the path exists with other methods, else 404.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{"GET", "POST", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && p != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return api.NewError(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+strings.Join(allow, ", "))
	}
	return api.NewError(http.StatusNotFound, "route_not_found", "no route "+r.Method+" "+r.URL.Path)
}

// front is what every request meets before its route, in one step: its ID
// (the caller's when sane, else made) in the answer and in one call value in
// its context; in dev mode the marks and the Host check (devhost.go); CORS
// for the configured origins, preflights answered here. Then the route table.
func (s *server) front() http.Handler {
	allowed := map[string]bool{}
	for _, o := range s.Settings.CORSOrigins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id") // canonical: Get copies any other spelling
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			id = api.NewRequestID()
		}
		w.Header()["X-Request-Id"] = []string{id}
		r = api.WithCall(r, id)
		if s.Settings.Dev && !s.devHostAllowed(w, r) {
			return
		}
		if preflight := api.CORS(w, r, allowed); preflight {
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}
