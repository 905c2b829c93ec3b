package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Dev mode makes every caller an admin. A web page whose name an attacker
// points at 127.0.0.1 (DNS rebinding) reaches the dev server same-origin, but
// its requests carry the attacker's Host: they are refused with a stable
// code, while requests for any loopback name go through, port or none.
func TestDevModeRefusesHostsThatAreNotLoopback(t *testing.T) {
	s := newStage(t, func(s *config.Settings) { s.Dev = true })
	port := s.srv.URL[strings.LastIndexByte(s.srv.URL, ':')+1:]
	ask := func(host string) (int, []byte) {
		t.Helper()
		req, err := s.request(t, "GET", "/api/rooms", nil, "Accept", "application/json") // no credentials: dev mode
		require.NoError(t, err)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp.StatusCode, mustRead(t, resp)
	}
	for _, host := range []string{"evil.example.test", "evil.example.test:" + port, "127.0.0.1.evil.example.test",
		"localhost.evil.example.test", "0.0.0.0:" + port, "10.0.0.1", "[::2]:80", "[::ffff:10.0.0.1]"} {
		code, body := ask(host)
		assert.Equal(t, http.StatusMisdirectedRequest, code, "Host %s: %s", host, body)
		assert.Contains(t, string(body), `"code":"host_not_loopback"`, "Host %s", host)
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LocalHost", "127.9.8.7", "[::1]:" + port, "[::1]", "[::ffff:127.0.0.1]:80"} {
		code, body := ask(host)
		assert.Equal(t, http.StatusOK, code, "Host %s: %s", host, body)
	}

	// Outside dev mode Host is not the dashboard's business (the proxy's).
	prod := newStageOn(t, s.env, nil)
	req, err := prod.request(t, "GET", "/api/rooms", nil)
	require.NoError(t, err)
	req.Host = "dashboard.example.test"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", mustRead(t, resp))
}
