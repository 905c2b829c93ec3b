package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/spacemusic/streamkit/spacemusic"
)

// Deps is what the server needs; tests build it with a real LiveKit behind.
type Deps struct {
	SM       *spacemusic.Client
	Log      *slog.Logger
	Settings settings
	Auth     *authenticator
	Metrics  *metrics
}

// NewServer returns the dashboard's handler: routes wrapped in request IDs,
// logging, metrics, CORS, rate limiting and auth.
func NewServer(d *Deps) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes() {
		for _, prefix := range rt.prefixes() {
			pattern := rt.method + " " + prefix + rt.path
			mux.Handle(pattern, d.wrap(rt, prefix+rt.path))
		}
	}
	mux.Handle("GET /metrics", d.Metrics.handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "route_not_found", "no route " + r.Method + " " + r.URL.Path})
	})
	limiter := newLimiter(d.Settings.RateLimit, d.Settings.RateBurst)
	return d.requestID(d.cors(limiter.middleware(mux)))
}

// wrap turns a route into a handler with auth, body limit, metrics and the one
// error mapping.
func (d *Deps) wrap(rt route, pattern string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		r, err := d.authorize(rt, r)
		if err == nil {
			r.Body = http.MaxBytesReader(sw, r.Body, d.Settings.BodyLimit)
			err = rt.handle(d, sw, r)
		}
		if err != nil {
			sw.status = writeError(sw, err)
		}
		elapsed := time.Since(start)
		d.Metrics.observe(pattern, r.Method, sw.status, elapsed)
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{slog.String("id", requestIDFrom(r.Context())), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", sw.status), slog.Duration("took", elapsed),
			slog.String("user", userFrom(r.Context()).Name)}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		d.Log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// authorize returns the request carrying its user, or why it may not proceed.
func (d *Deps) authorize(rt route, r *http.Request) (*http.Request, error) {
	if rt.public {
		return r, nil
	}
	u, err := d.Auth.authenticate(r)
	if err != nil {
		return r, err
	}
	r = r.WithContext(withUser(r.Context(), u))
	if rt.admin && !d.Auth.isAdmin(u) {
		return r, &apiError{http.StatusForbidden, "forbidden", "this action needs the admin group"}
	}
	return r, nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyUser
)

// requestID keeps a caller's X-Request-ID (if sane) or makes one, and echoes it.
func (d *Deps) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		if d.Settings.Dev {
			w.Header().Set("X-Dashboard-Dev-Mode", "no authentication")
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
	})
}

func requestIDFrom(ctx context.Context) string { s, _ := ctx.Value(keyRequestID).(string); return s }

// cors answers browsers from the configured origins only.
func (d *Deps) cors(next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range d.Settings.CORSOrigins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (allowed[origin] || allowed["*"]) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key, X-Request-ID")
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limiter is a token bucket per client address.
type limiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	clients map[string]*client
	swept   time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{r: rate.Limit(perSecond), burst: burst, clients: map[string]*client{}}
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.swept) > time.Minute { // forget idle clients, bounding memory
		for k, c := range l.clients {
			if now.Sub(c.seen) > 5*time.Minute {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	c := l.clients[key]
	if c == nil {
		c = &client{lim: rate.NewLimiter(l.r, l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	return c.lim.Allow()
}

func (l *limiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		if !l.allow(host) {
			w.Header().Set("Retry-After", "1")
			writeError(w, &apiError{http.StatusTooManyRequests, "rate_limited", "too many requests; slow down"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
