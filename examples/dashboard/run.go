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
)

// run is the whole program; main only supplies the process's context, arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	s, err := loadSettings(args[1:], getenv, stdout)
	if errors.Is(err, flagHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))

	cfg := spacemusic.ConfigFromGetenv(getenv)
	if s.Dev {
		log.Warn("DEV MODE: no authentication; a local LiveKit is started for this process only. Never expose this.")
		sess := testenv.NewSession(io.Discard)
		defer sess.Close()
		var env *testenv.Env
		if err := sess.Do(func(t testenv.TB) { env = testenv.LiveKit(t, testenv.WithRedis(), testenv.WithBackend("process")) }); err != nil {
			return fmt.Errorf("dev mode: starting LiveKit: %w", err)
		}
		cfg = spacemusic.Config{URL: env.URL, PublicURL: env.WSURL, APIKey: env.APIKey, APISecret: env.APISecret}
		log.Info("dev mode: LiveKit is up", "url", env.URL, "apiKey", env.APIKey)
	}
	cfg.Timeout = s.LiveKitTimeout
	sm, err := spacemusic.New(cfg)
	if err != nil {
		return err
	}
	deps := &Deps{SM: sm, Log: log, Settings: s, Auth: newAuthenticator(s), Metrics: newMetrics(sm.Rooms)}

	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("invalid DASHBOARD_ADDR (-addr): %w", err)
	}
	srv := &http.Server{
		Handler:           NewServer(deps),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "dashboard: serving on http://%s (API under /api, metrics on /metrics)\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let in-flight requests finish.
	log.Info("shutting down", "grace", s.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}
