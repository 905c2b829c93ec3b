package main

import (
	"testing"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/stretchr/testify/assert"
)

// Through the server: behind the trusted proxy, two addresses of one /64 are one
// client, another /64 is another.
func TestRateLimitPerIPv6Prefix(t *testing.T) {
	s := newStage(t, func(s *config.Settings) {
		s.RateLimit, s.RateBurst = 0.001, 2
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
	})
	for i, c := range []struct {
		from string
		want int
	}{{"2001:db8:a:b::1", 200}, {"2001:db8:a:b::2", 200}, {"2001:db8:a:b:c::3", 429}, {"2001:db8:a:c::1", 200}, {"::ffff:203.0.113.9", 200}, {"203.0.113.9", 200}, {"203.0.113.9", 429}} {
		code, body := s.call(t, "GET", "/api/rooms", nil, "X-API-Key", testAPIKey, "X-Forwarded-For", c.from, access.ProxySecretHeader, testProxySecret)
		assert.Equal(t, c.want, code, "request %d from %s: %s", i, c.from, body)
	}
	// Without the proxy secret a trusted address's X-Forwarded-For is not believed:
	// a local process cannot pick a fresh bucket for every request.
	for i, from := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		code, body := s.call(t, "GET", "/api/rooms", nil, "X-API-Key", testAPIKey, "X-Forwarded-For", from)
		want := 200
		if i >= 2 {
			want = 429
		}
		assert.Equal(t, want, code, "unproven request %d claiming %s: %s", i, from, body)
	}
}
