package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/doctor"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/live"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/nodes"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/rehearsals"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
	"github.com/spacemusic/streamkit/spacemusic/shows"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// devStack starts a real LiveKit stack on loopback for -dev and returns it as
// the environment the dashboard reads (LIVEKIT_*, REDIS_URL, MINIO_*), and how
// to stop it. Only a binary built with -tags dev has one (dev.go): the
// production binary does not link the process launcher.
var devStack func(log *slog.Logger, webhook string) (env map[string]string, stop func(), err error)

// run is the whole program; main only supplies the process's context (cancelled
// by SIGINT/SIGTERM), arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	switch {
	case len(args) == 2 && args[1] == "healthcheck":
		return healthcheck(ctx, getenv, stdout)
	case len(args) > 1 && args[1] == "doctor":
		return runDoctor(ctx, args[2:], getenv, stdout)
	case len(args) > 1 && args[1] == "rehearse":
		return runRehearse(ctx, args[2:], getenv, stdout)
	}
	s, err := config.Load(args[1:], getenv, stdout)
	if errors.Is(err, config.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(api.NewLogHandler(stdout, s.LogLevel))
	if s.AllowAllAdmin {
		log.Warn("DASHBOARD_ALLOW_ALL_ADMIN: EVERY SIGNED-IN PERSON IS AN ADMIN and may close rooms, remove people, delete ingresses and reveal stream keys; set DASHBOARD_ADMIN_GROUP instead")
	}

	// Listen first: in dev mode LiveKit must know where to send its webhooks.
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("invalid DASHBOARD_ADDR (-addr): %w", err)
	}
	defer ln.Close()
	cfg := spacemusic.ConfigFromGetenv(getenv)
	if s.Dev {
		stop, err := useDevStack(ln, log, &s, &cfg)
		if err != nil {
			return err
		}
		defer stop() // stops every process it started, after the server has shut down
	}
	cfg.Timeout = s.LiveKitTimeout
	sm, err := spacemusic.New(cfg)
	if err != nil {
		return err
	}
	deps := Deps{Log: log, Settings: s, WSURL: sm.Config().WSURL(), Health: sm, Rooms: sm.Rooms, Tokens: sm.Tokens, Ingress: sm.Ingress}
	withRecordings(ctx, &deps, sm, log)
	stopWatch, err := watchLiveKit(ctx, &deps, cfg, s, log)
	if err != nil {
		return err
	}
	defer stopWatch()
	deps.Nodes = nodes.At(s.RedisURL)
	meter, err := loudness.New(loudness.Config{FFmpeg: s.FFmpeg, Target: s.LoudnessTarget})
	if err != nil {
		return err
	}
	if meter.Err() != nil {
		log.Warn("shows: recordings' loudness is not measured", "error", meter.Err().Error())
	}
	svc, err := showsWith(sm, deps.Events, spacemusic.ShowsOptions{SpoolDir: spoolDir(s, cfg), Logger: log,
		SpoolMaxBytes: s.SpoolMaxBytes, SpoolMinFree: s.SpoolMinFree, Loudness: meter})
	if err != nil {
		return err
	}
	deps.Shows = svc
	deps.Doctor = doctor.New(sm, s, webhooksHeardHere(deps.Events, deps.Webhooks))
	rcfg := rehearsal.Config{URL: cfg.URL, Tokens: sm.Tokens, MetricsURL: s.LiveKitMetrics}
	if err := rcfg.Check(); err != nil {
		return fmt.Errorf("DASHBOARD_LIVEKIT_METRICS_URL: %w", err)
	}
	deps.Rehearsals = rehearsals.NewRehearser(rcfg)
	defer armShows(ctx, svc, sm, deps.Events, s, log)()
	closing := make(chan struct{})
	deps.Closing = closing
	handler := NewServer(deps)

	srv := httpServer(handler, s, log)
	srv.RegisterOnShutdown(func() { close(closing) })
	announce(stdout, log, ln.Addr(), cfg.URL, s.Dev)
	return serve(ctx, srv, ln, s.ShutdownTimeout, log)
}

// announce says where the dashboard serves, in the log and to the person who
// started it.
func announce(stdout io.Writer, log *slog.Logger, addr net.Addr, livekit string, dev bool) {
	log.Info("serving", "url", "http://"+addr.String(), "livekit", livekit, "dev", dev)
	fmt.Fprintf(stdout, "dashboard: serving on http://%s (API under /api, OpenAPI at /api/openapi.json, metrics at /metrics)\n", addr)
	if dev {
		fmt.Fprintf(stdout, "dashboard: try  curl -s http://%s/api/rooms  or  curl -s -H 'Content-Type: application/json' -d '{\"role\":\"performer\",\"room\":\"jam\",\"identity\":\"ada\"}' http://%[1]s/api/tokens\n", addr)
	}
}

// useDevStack starts the local stack (-dev) and points cfg and s at it; stop
// stops every process it started.
func useDevStack(ln net.Listener, log *slog.Logger, s *config.Settings, cfg *spacemusic.Config) (stop func(), err error) {
	env, stop, err := startDev(ln, log)
	if err != nil {
		return nil, err
	}
	*cfg, s.RedisURL = spacemusic.ConfigFromGetenv(func(k string) string { return env[k] }), env["REDIS_URL"]
	if s.TURN == nil { // the dev stack's own TURN, unless the flag named others
		if s.TURN, err = config.ParseTURN(env["DASHBOARD_TURN"]); err != nil {
			stop()
			return nil, fmt.Errorf("-dev: the stack's TURN: %w", err)
		}
	}
	return stop, nil
}

// withRecordings gives deps the recording services when a bucket is
// configured. A missing bucket is created with MINIO_RETENTION_DAYS' expiry
// rule; an existing one is left as it is. A store that is down now may be up
// later: warn, and let the recordings routes report it per request (the store
// bounds the call with DASHBOARD_LIVEKIT_TIMEOUT).
func withRecordings(ctx context.Context, deps *Deps, sm *spacemusic.Client, log *slog.Logger) {
	if sm.Egress == nil { // a nil *egress.Service in the interface would not read as "not configured"
		log.Info("recording is off: set MINIO_BUCKET, MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY to enable /api/egress and /api/recordings")
		return
	}
	deps.Egress, deps.Recordings = sm.Egress, sm.Recordings
	if err := sm.Recordings.EnsureBucket(ctx); err != nil {
		log.Warn("recordings bucket not ready", "storage", sm.Config().Storage, "error", err.Error())
	}
}

// httpServer serves handler with the settings' timeouts and bounds.
func httpServer(handler http.Handler, s config.Settings, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: min(5*time.Second, s.ReadTimeout),
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// startDev starts -dev's stack, LiveKit sending its webhooks to ln, and
// returns it as the environment the dashboard reads.
func startDev(ln net.Listener, log *slog.Logger) (map[string]string, func(), error) {
	if devStack == nil {
		return nil, nil, errors.New("-dev: this dashboard was built without dev mode (scripts/dev builds it with -tags dev)")
	}
	log.Warn("DEV MODE: NO AUTHENTICATION. A local LiveKit runs for this process only; never expose this server.")
	return devStack(log, fmt.Sprintf("http://127.0.0.1:%d/api/webhooks/livekit", ln.Addr().(*net.TCPAddr).Port))
}

// serve answers on ln until ctx ends (SIGINT, SIGTERM), then stops accepting
// and lets the requests in flight finish within grace.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s: %w", grace, err)
	}
	log.Info("stopped")
	return nil
}

// showsOn is the shows service on sm's services, following the live model.
func showsOn(sm *spacemusic.Client, ev live.Events, spool string, log *slog.Logger) (*shows.Service, error) {
	return showsWith(sm, ev, spacemusic.ShowsOptions{SpoolDir: spool, Logger: log})
}

// showsWith is showsOn with every option (the spool's bounds).
func showsWith(sm *spacemusic.Client, ev live.Events, o spacemusic.ShowsOptions) (*shows.Service, error) {
	w, _ := ev.(*events.Watch)
	return sm.Shows(w, o)
}

// spoolDir is DASHBOARD_SPOOL_DIR, or a folder of the user's cache named after
// the LiveKit URL and bucket (two dashboards of different stacks on one machine
// must not continue each other's parts); "" when there is no cache directory.
func spoolDir(s config.Settings, cfg spacemusic.Config) string {
	if s.SpoolDir != "" {
		return s.SpoolDir
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(cfg.URL + "\x00" + cfg.Storage.Endpoint + "\x00" + cfg.Storage.Bucket))
	return filepath.Join(base, "streamkit", "spool", hex.EncodeToString(sum[:8]))
}

// armShows runs armed recording (shows.Run: a show's recording plan starts when
// its music does) when this replica is the one to (DASHBOARD_SHOWS_RUN: two
// replicas running it would each start the plan) and recording is configured.
// The returned func stops it.
func armShows(ctx context.Context, svc *shows.Service, sm *spacemusic.Client, ev live.Events, s config.Settings, log *slog.Logger) func() {
	w, _ := ev.(*events.Watch)
	switch {
	case !s.ShowsRun:
		log.Info("shows: armed recording is off on this replica (DASHBOARD_SHOWS_RUN=false): another replica starts shows' recordings")
		return func() {}
	case sm.Egress == nil || w == nil:
		log.Info("shows: armed recording is off: recording is not configured")
		return func() {}
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Follow the model once it has listed LiveKit: Run reads its starting
		// state, and a Watch on a shared log is still setting up before that.
		for !w.Snapshot().Synced {
			select {
			case <-rctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		if err := svc.Run(rctx); err != nil && rctx.Err() == nil {
			log.Error("shows: armed recording stopped", "error", err.Error())
		}
	}()
	log.Info("shows: armed recording is on: shows record by themselves when their music starts")
	return func() { cancel(); <-done }
}

// watchLiveKit starts the live model: a Watch listing LiveKit every s.Resync and
// fed by the webhook route, on the shared Redis log when REDIS_URL is set. The
// returned func stops it.
func watchLiveKit(ctx context.Context, deps *Deps, cfg spacemusic.Config, s config.Settings, log *slog.Logger) (func(), error) {
	lister, err := events.NewLister(events.Config{URL: cfg.URL, APIKey: cfg.APIKey, APISecret: cfg.APISecret, Timeout: cfg.Timeout, HTTPClient: cfg.HTTPClient})
	if err != nil {
		return nil, err
	}
	o := events.Options{Resync: s.Resync, Logger: log}
	// Joins under the recorder's or a monitor's identity without our proof
	// are reported as impostors (identities.go), where the server carries the
	// proof; an older one (v1.6.1) cannot, and the log says so once.
	own, err := tokens.NewIssuerFor(cfg.APIKey, cfg.APISecret, cfg.ServerVersion)
	if err != nil {
		return nil, err
	}
	if err := own.CheckOwnProof(); err != nil {
		log.Warn("events: joins under reserved identities cannot be told from impostors", "error", err.Error())
	} else {
		o.Own = own.Own
	}
	if s.RedisURL != "" {
		ro, err := redis.ParseURL(s.RedisURL)
		if err != nil {
			return nil, errors.New("invalid REDIS_URL (-redis-url): not a Redis URL") // never echo it: it may hold a password
		}
		rdb := redis.NewClient(ro)
		o.Log = events.NewRedisLog(rdb, "streamkit:events", 0, events.WithMaxEvents(s.LogMaxEvents), events.WithMaxBytes(s.LogMaxBytes))
		log.Info("events: the timeline is shared in Redis", "addr", ro.Addr)
	}
	w := events.NewWatch(lister, o)
	deps.Events = w
	deps.Webhooks = events.NewReceiver(cfg.APIKey, cfg.APISecret, events.WatchSink(w))
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	return func() { cancel(); <-done }, nil
}
