package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// run is the whole program; main only supplies the process's context (cancelled
// by SIGINT/SIGTERM), arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	s, err := loadSettings(args[1:], getenv, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: s.LogLevel}))

	cfg := spacemusic.ConfigFromGetenv(getenv)
	if s.Dev {
		log.Warn("DEV MODE: NO AUTHENTICATION. A local LiveKit runs for this process only; never expose this server.")
		sess := testenv.NewSession(stdout)
		defer sess.Close() // stops LiveKit, Redis and ingress after the server has shut down
		if cfg, err = devStack(sess, log); err != nil {
			return err
		}
	}
	cfg.Timeout = s.LiveKitTimeout
	sm, err := spacemusic.New(cfg)
	if err != nil {
		return err
	}
	deps := Deps{Log: log, Settings: s, WSURL: sm.Config().WSURL(), Health: sm, Rooms: sm.Rooms, Tokens: sm.Tokens, Ingress: sm.Ingress}
	if sm.Egress != nil { // a nil *egress.Service in the interface would not read as "not configured"
		deps.Egress, deps.Recordings = sm.Egress, sm.Recordings
		// A missing bucket is created with MINIO_RETENTION_DAYS' expiry rule; an
		// existing one is left as it is. A store that is down now may be up
		// later: warn, and let the recordings routes report it per request.
		bctx, cancel := context.WithTimeout(ctx, s.LiveKitTimeout)
		if err := sm.Recordings.EnsureBucket(bctx); err != nil {
			log.Warn("recordings bucket not ready", "storage", cfg.Storage, "error", err.Error())
		}
		cancel()
	} else {
		log.Info("recording is off: set MINIO_BUCKET, MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY to enable /api/egress and /api/recordings")
	}
	handler := NewServer(deps)

	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("invalid DASHBOARD_ADDR (-addr): %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: min(5*time.Second, s.ReadTimeout),
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "url", "http://"+ln.Addr().String(), "livekit", cfg.URL, "dev", s.Dev)
	fmt.Fprintf(stdout, "dashboard: serving on http://%s (API under /api, OpenAPI at /api/openapi.json, metrics at /metrics)\n", ln.Addr())
	if s.Dev {
		fmt.Fprintf(stdout, "dashboard: try  curl -s http://%s/api/rooms  or  curl -s -H 'Content-Type: application/json' -d '{\"role\":\"performer\",\"room\":\"jam\",\"identity\":\"ada\"}' http://%[1]s/api/tokens\n", ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let in-flight requests finish within the grace.
	log.Info("shutting down", "grace", s.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s: %w", s.ShutdownTimeout, err)
	}
	log.Info("stopped")
	return nil
}

// devStack starts a real LiveKit on loopback with the test machinery: with
// LiveKit Ingress, Egress and MinIO when their binaries are installed
// (scripts/stack install ingress egress minio), else LiveKit and Redis alone.
func devStack(sess *testenv.Session, log *slog.Logger) (spacemusic.Config, error) {
	var env *testenv.Env
	var ing *testenv.IngressEnv
	err := sess.Do(func(t testenv.TB) { env, ing = testenv.Ingress(t) })
	if err == nil {
		log.Info("dev mode: LiveKit Ingress is up", "rtmp", ing.RTMPBase, "whip", ing.WHIPBase)
	} else {
		log.Warn("dev mode: running without LiveKit Ingress; /api/ingress will answer errors", "why", err.Error())
		err = sess.Do(func(t testenv.TB) { env = testenv.LiveKit(t, testenv.WithRedis(), testenv.WithBackend("process")) })
	}
	if err != nil {
		return spacemusic.Config{}, fmt.Errorf("dev mode: starting LiveKit: %w (scripts/stack install livekit redis)", err)
	}
	log.Info("dev mode: LiveKit is up", "url", env.URL, "apiKey", env.APIKey)
	cfg := spacemusic.Config{URL: env.URL, PublicURL: env.WSURL, APIKey: env.APIKey, APISecret: env.APISecret}
	var m *testenv.MinIOEnv
	err = sess.Do(func(t testenv.TB) {
		m = testenv.MinIO(t)
		testenv.Egress(t, env)
	})
	if err != nil {
		log.Warn("dev mode: running without Egress and MinIO; /api/egress and /api/recordings answer not_configured", "why", err.Error())
		return cfg, nil
	}
	cfg.Storage = egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	log.Info("dev mode: Egress and MinIO are up", "storage", cfg.Storage)
	return cfg, nil
}
