package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
)

// healthcheckOf runs `dashboard healthcheck` with DASHBOARD_ADDR=addr.
func healthcheckOf(addr string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"dashboard", "healthcheck"},
		func(k string) string { return map[string]string{"DASHBOARD_ADDR": addr}[k] }, &out)
	return out.String(), err
}

// The container image's health check asks the dashboard it runs beside: healthy
// while LiveKit answers (also when the server listens on every address), not
// once LiveKit is gone.
func TestHealthcheckAsksItsOwnDashboard(t *testing.T) {
	env := testenv.LiveKit(t)
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	getenv := func(k string) string {
		return map[string]string{"LIVEKIT_URL": env.URL, "LIVEKIT_API_KEY": env.APIKey, "LIVEKIT_API_SECRET": env.APISecret,
			"DASHBOARD_ADDR": addr, "DASHBOARD_ADMIN_GROUP": adminGroup, "DASHBOARD_HEALTH_TIMEOUT": "500ms"}[k]
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dashboard"}, getenv, io.Discard) }()
	t.Cleanup(func() { stop(); <-done })
	waitUp(t, addr, done)

	out, err := healthcheckOf(addr)
	require.NoError(t, err)
	assert.Contains(t, out, "healthy")
	_, err = healthcheckOf(fmt.Sprintf("0.0.0.0:%d", port))
	assert.NoError(t, err, "a dashboard on every address is asked there")

	env.Stop()
	time.Sleep(1100 * time.Millisecond) // /api/health's answer may be 1 s old
	_, err = healthcheckOf(addr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "answered 503")
}

// Hostile or broken answers: a server that never answers costs the bound and
// no more; a redirect is a failure and is not followed (the check talks to
// DASHBOARD_ADDR only); nothing listening and a malformed address fail in words.
func TestHealthcheckIsBoundedAndStaysHome(t *testing.T) {
	start := time.Now()
	_, err := healthcheckOf(testenv.HungServer(t))
	took := time.Since(start)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not answer within 4s")
	assert.Less(t, took, healthcheckBound+time.Second)

	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/api/health", http.StatusFound))
	defer redirect.Close()
	_, err = healthcheckOf(strings.TrimPrefix(redirect.URL, "http://"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "answered 302")
	assert.Zero(t, followed.Load(), "the redirect was followed")

	_, err = healthcheckOf(fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection refused")

	_, err = healthcheckOf("no-port")
	require.EqualError(t, err, `healthcheck: invalid DASHBOARD_ADDR "no-port": not host:port`)
}
