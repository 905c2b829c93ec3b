package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/access/authtest"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/showroutes"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

const (
	adminGroup = "stream-admins"
	// operatorGroup's members run shows; anyone else signed in is a viewer.
	operatorGroup = "stream-operators"
	// testProxySecret is what the forward-auth proxy sends in X-Dashboard-Proxy-Secret.
	testProxySecret = "proxy-secret-0123456789"
)

func mustPrefixes(cidrs ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

// sample is a request to a route that succeeds for a caller allowed to make it.
// prepare runs before every attempt that should succeed, so destructive routes
// have something to destroy; refused attempts repeat the last prepared request.
type sample struct {
	prepare func(t *testing.T) (path string, body any)
}

// caller is one way of signing in with one role.
type caller struct {
	role    api.Role
	how     string
	proxied bool // through the forward-auth proxy
	headers []string
}

// Every route refuses strangers, whatever they forge; each of the gateway's three
// methods lets each role in where the route's role allows it (2xx) and nowhere
// else (403 forbidden). The table of samples must cover every route of the server.
func TestAuthMatrix(t *testing.T) {
	testenv.RequireNetNS(t) // a real participant joins, for the participant actions
	p := authtest.NewIDP(t)
	// Every route works, recording included: a real Egress and MinIO.
	env := testenv.LiveKit(t, testenv.WithRedis(), testenv.WithBackend("process"))
	m := testenv.MinIO(t) // before the media slot, which Egress takes
	testenv.Egress(t, env)
	storage := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	withIDP := func(s *config.Settings) {
		s.JWKSURL, s.JWTIssuer, s.JWTAudience, s.AdminGroup, s.OperatorGroup = p.Server.URL, authtest.Issuer, authtest.Audience, adminGroup, operatorGroup
		s.LiveKitTimeout = 10 * time.Second
		s.RestreamAllow = mustHostList(t, "127.0.0.1") // testenv.ReceiveRTMP listens on loopback
	}
	direct := newStageWith(t, env, storage, withIDP)                    // callers reach the dashboard directly
	proxied := newStageWith(t, env, storage, func(s *config.Settings) { // behind the forward-auth proxy
		withIDP(s)
		s.TrustedProxies = mustPrefixes("127.0.0.0/8")
		s.ProxySecret = testProxySecret
	})
	ctx := context.Background()
	start := time.Now()

	// Ada is in the room, so participant actions have someone to act on.
	_, err := direct.sm.Rooms.Create(ctx, "matrix", rooms.CreateOptions{})
	require.NoError(t, err)
	tok, err := direct.sm.Tokens.Performer("matrix", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, 5*time.Minute))
	require.NoError(t, err)
	require.NoError(t, direct.sm.Recordings.EnsureBucket(ctx))
	require.Eventually(t, func() bool {
		p, err := direct.sm.Rooms.Participant(ctx, "matrix", "ada")
		return err == nil && len(p.Tracks) == 1
	}, wait, tick, "ada's track never appeared")
	// At most one recording runs at a time on this 2-core machine: each sample
	// that starts one stops the one before.
	stopRecordings := func(t *testing.T) {
		running, err := direct.sm.Egress.List(ctx, egress.ListOptions{Room: "matrix", Active: true})
		require.NoError(t, err)
		for _, e := range running {
			_, _ = direct.sm.Egress.Stop(ctx, e.ID) // it may have ended meanwhile
		}
	}

	room := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string {
			_, err := direct.sm.Rooms.Create(ctx, name, rooms.CreateOptions{})
			require.NoError(t, err)
			return name
		}
	}
	// liveRestream is one restream of ada for every destinations sample, started
	// again when another sample stopped it.
	var restream string
	liveRestream := func(t *testing.T) string {
		if restream != "" {
			if e, err := direct.sm.Egress.Get(ctx, restream); err == nil && e.Status == egress.Active {
				return restream
			}
		}
		stopRecordings(t)
		e, err := direct.sm.Egress.Restream(ctx, "matrix", "ada", testenv.ReceiveRTMP(t, "platform").URL)
		require.NoError(t, err)
		e, err = direct.sm.Egress.WaitFor(ctx, e.ID, egress.Active)
		require.NoError(t, err)
		require.Equal(t, egress.Active, e.Status, e.Error)
		restream = e.ID
		return restream
	}
	// One ingress whose stream key the reveal samples ask for.
	var revealed string
	keyed := func(t *testing.T) string {
		if revealed == "" {
			in, err := direct.ing.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "matrix", Identity: "obs-keyed"}})
			require.NoError(t, err)
			revealed = in.ID
		}
		return revealed
	}
	samples := map[string]sample{
		"GET /api/health":       {func(*testing.T) (string, any) { return "/api/health", nil }},
		"GET /api/openapi.json": {func(*testing.T) (string, any) { return "/api/openapi.json", nil }},
		"GET /metrics":          {func(*testing.T) (string, any) { return "/metrics", nil }},
		"GET /api/me":           {func(*testing.T) (string, any) { return "/api/me", nil }},
		"GET /api/doctor":       {func(*testing.T) (string, any) { return "/api/doctor", nil }},
		"GET /api/rooms":        {func(*testing.T) (string, any) { return "/api/rooms", nil }},
		"POST /api/rooms":       {func(*testing.T) (string, any) { return "/api/rooms", map[string]any{"name": "matrix-new"} }},
		"GET /api/rooms/{name}": {func(t *testing.T) (string, any) { return "/api/rooms/" + room("matrix")(t), nil }},
		"DELETE /api/rooms/{name}": {func(t *testing.T) (string, any) {
			return "/api/rooms/" + room("matrix-doomed")(t), nil
		}},
		"GET /api/rooms/{name}/participants": {func(t *testing.T) (string, any) { return "/api/rooms/matrix/participants", nil }},
		"POST /api/rooms/{name}/participants": {func(t *testing.T) (string, any) {
			return "/api/rooms/matrix/participants", map[string]any{"action": "promote", "identity": "ada"}
		}},
		"POST /api/rooms/{name}/monitor": {func(t *testing.T) (string, any) { return "/api/rooms/" + room("matrix")(t) + "/monitor", nil }},
		"POST /api/rooms/{name}/connection-test": {func(t *testing.T) (string, any) {
			return "/api/rooms/" + room("matrix")(t) + "/connection-test", nil
		}},
		"POST /api/tokens": {func(*testing.T) (string, any) {
			return "/api/tokens", map[string]any{"role": "listener", "room": "matrix", "identity": "bob"}
		}},
		"POST /api/webhooks/livekit": {func(*testing.T) (string, any) {
			return "/api/webhooks/livekit", map[string]any{"event": "room_started", "id": "EV_matrix", "room": map[string]any{"name": "matrix"}}
		}},
		"GET /api/events": {func(*testing.T) (string, any) { return "/api/events?follow=false&after=0", nil }},
		"GET /api/rooms/{name}/timeline": {func(t *testing.T) (string, any) {
			return "/api/rooms/" + room("matrix")(t) + "/timeline", nil
		}},
		"GET /api/ingress": {func(*testing.T) (string, any) { return "/api/ingress?room=matrix", nil }},
		"GET /api/ingress/{id}/stream-key": {func(t *testing.T) (string, any) {
			return "/api/ingress/" + keyed(t) + "/stream-key", nil
		}},
		"POST /api/ingress": {func(*testing.T) (string, any) {
			return "/api/ingress", map[string]any{"kind": "rtmp", "room": "matrix", "identity": "obs", "audioOnly": true}
		}},
		"GET /api/egress": {func(*testing.T) (string, any) { return "/api/egress?room=matrix&active=true", nil }},
		"POST /api/egress": {func(t *testing.T) (string, any) {
			stopRecordings(t)
			return "/api/egress", map[string]any{"kind": "audio", "room": "matrix", "identity": "ada"}
		}},
		"DELETE /api/egress": {func(t *testing.T) (string, any) {
			stopRecordings(t)
			e, err := direct.sm.Egress.RecordAudio(ctx, "matrix", egress.AudioOptions{Identity: "ada"})
			require.NoError(t, err)
			return "/api/egress?id=" + e.ID, nil
		}},
		"POST /api/egress/{id}/destinations": {func(t *testing.T) (string, any) {
			return "/api/egress/" + liveRestream(t) + "/destinations", map[string]any{"add": []string{testenv.ReceiveRTMP(t, "platform").URL}}
		}},
		"POST /api/shows": {func(*testing.T) (string, any) { return "/api/shows", map[string]any{"name": "matrix-show"} }},
		"GET /api/shows":  {func(*testing.T) (string, any) { return "/api/shows", nil }},
		"GET /api/shows/{name}": {func(t *testing.T) (string, any) {
			_, err := direct.shows.Open(ctx, shows.Spec{Name: "matrix-show"})
			require.NoError(t, err)
			return "/api/shows/matrix-show", nil
		}},
		"DELETE /api/shows/{name}": {func(t *testing.T) (string, any) {
			_, err := direct.shows.Open(ctx, shows.Spec{Name: "matrix-show-doomed"})
			require.NoError(t, err)
			return "/api/shows/matrix-show-doomed", nil
		}},
		"POST /api/shows/{name}/rehearsal": {func(t *testing.T) (string, any) {
			_, err := direct.shows.Open(ctx, shows.Spec{Name: "matrix-rehearsed"})
			require.NoError(t, err)
			direct.rehearsalEnded(t, "matrix-rehearsed") // one at a time
			proxied.rehearsalEnded(t, "matrix-rehearsed")
			return "/api/shows/matrix-rehearsed/rehearsal", map[string]any{"steps": []int{1}, "holdSeconds": 1}
		}},
		"GET /api/nodes": {func(*testing.T) (string, any) { return "/api/nodes", nil }},
		"GET /api/shows/{name}/rehearsal": {func(t *testing.T) (string, any) {
			_, err := direct.shows.Open(ctx, shows.Spec{Name: "matrix-rehearsed"})
			require.NoError(t, err)
			for _, s := range []*stage{direct, proxied} {
				if s.rehearsalEnded(t, "matrix-rehearsed").ID == "" { // this dashboard never rehearsed it
					code, body := s.call(t, "POST", "/api/shows/matrix-rehearsed/rehearsal", map[string]any{"steps": []int{1}, "holdSeconds": 1})
					require.Equal(t, 202, code, "%s", body)
				}
			}
			return "/api/shows/matrix-rehearsed/rehearsal", nil
		}},
		"GET /api/recordings": {func(*testing.T) (string, any) { return "/api/recordings?room=matrix", nil }},
		"GET /api/recordings/{key...}": {func(t *testing.T) (string, any) {
			putObject(t, m, "recordings", "matrix/sample.ogg", []byte("OggS sample"))
			return "/api/recordings/matrix/sample.ogg", nil
		}},
		"DELETE /api/ingress": {func(t *testing.T) (string, any) {
			in, err := direct.ing.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "matrix", Identity: "obs-doomed"}})
			require.NoError(t, err)
			return "/api/ingress?id=" + in.ID, nil
		}},
	}

	// asCaller prepares a sample for the caller that sends it: an operator
	// closes the shows they opened (closing another's: below).
	asCaller := map[string]func(t *testing.T, s *stage, headers []string) (string, any){
		"DELETE /api/shows/{name}": func(t *testing.T, s *stage, headers []string) (string, any) {
			code, body := s.call(t, "POST", "/api/shows", map[string]any{"name": "matrix-show-doomed"}, headers...)
			require.Contains(t, []int{200, 201, 403}, code, "%s", body)
			if code == 403 { // a viewer: someone else's show
				_, err := direct.shows.Open(ctx, shows.Spec{Name: "matrix-show-doomed"})
				require.NoError(t, err)
			}
			return "/api/shows/matrix-show-doomed", nil
		},
	}

	rsaKey, ecKey := p.RSA, p.EC
	bearer := func(method jwt.SigningMethod, kid string, key any, groups ...string) []string {
		tok := authtest.Sign(t, method, kid, key, authtest.Claims(groups, nil))
		direct.keepOutOfLogs(tok)
		proxied.keepOutOfLogs(tok)
		return []string{"Authorization", "Bearer " + tok}
	}
	forwarded := func(name, groups string) []string {
		return []string{"X-authentik-username", name, "X-authentik-groups", groups, "X-authentik-email", name + "@example.test", access.ProxySecretHeader, testProxySecret}
	}
	callers := []caller{
		{api.Admin, "admin API key", false, []string{"X-API-Key", testAPIKey}},
		{api.Operator, "operator API key", false, []string{"X-API-Key", testOperatorKey}},
		{api.Viewer, "viewer API key", false, []string{"X-API-Key", testViewerKey}},
		{api.Admin, "admin RS256 bearer", false, bearer(jwt.SigningMethodRS256, "rsa1", rsaKey, adminGroup)},
		{api.Admin, "admin ES256 bearer", false, bearer(jwt.SigningMethodES256, "ec1", ecKey, "crew", adminGroup)},
		{api.Operator, "operator bearer", false, bearer(jwt.SigningMethodRS256, "rsa1", rsaKey, "crew", operatorGroup)},
		{api.Viewer, "viewer bearer", false, bearer(jwt.SigningMethodRS256, "rsa1", rsaKey, "crew")},
		{api.Admin, "admin via forward-auth", true, forwarded("ada", "crew|"+adminGroup)},
		{api.Operator, "operator via forward-auth", true, forwarded("olga", "crew|"+operatorGroup)},
		{api.Viewer, "viewer via forward-auth", true, forwarded("vic", "crew")},
	}
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	refused := map[string]string{
		"expired":         authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", rsaKey, authtest.Claims(nil, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"no expiry":       authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", rsaKey, authtest.Claims(nil, func(c jwt.MapClaims) { delete(c, "exp") })),
		"not yet valid":   authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", rsaKey, authtest.Claims(nil, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })),
		"wrongly signed":  authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", stranger, authtest.Claims([]string{adminGroup}, nil)),
		"unknown key id":  authtest.Sign(t, jwt.SigningMethodRS256, "rsa9", stranger, authtest.Claims([]string{adminGroup}, nil)),
		"wrong issuer":    authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", rsaKey, authtest.Claims(nil, func(c jwt.MapClaims) { c["iss"] = "https://evil.example.test/" })),
		"wrong audience":  authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", rsaKey, authtest.Claims(nil, func(c jwt.MapClaims) { c["aud"] = "grafana" })),
		"alg none":        authtest.Sign(t, jwt.SigningMethodNone, "rsa1", jwt.UnsafeAllowNoneSignatureType, authtest.Claims([]string{adminGroup}, nil)),
		"hmac with n":     authtest.Sign(t, jwt.SigningMethodHS256, "rsa1", rsaKey.N.Bytes(), authtest.Claims([]string{adminGroup}, nil)),
		"ec key, rsa alg": authtest.Sign(t, jwt.SigningMethodRS256, "ec1", rsaKey, authtest.Claims([]string{adminGroup}, nil)),
		"garbage":         "not-a-jwt",
	}
	for _, tok := range refused {
		if tok != "not-a-jwt" {
			direct.keepOutOfLogs(tok)
		}
	}
	direct.keepOutOfLogs(m.AccessKey)
	proxied.keepOutOfLogs(m.AccessKey)

	served := map[string]bool{}
	for _, rt := range (&server{}).routes() {
		served[rt.Method+" "+rt.Path] = true
		smp, ok := samples[rt.Method+" "+rt.Path]
		if !assert.True(t, ok, "no auth sample for %s %s: add one", rt.Method, rt.Path) {
			continue
		}
		for _, alias := range rt.Paths() {
			t.Run(rt.Method+" "+alias, func(t *testing.T) {
				var reqPath string
				var reqBody any
				send := func(s *stage, fresh bool, headers ...string) (int, []byte) {
					if own := asCaller[rt.Method+" "+rt.Path]; fresh && own != nil {
						reqPath, reqBody = own(t, s, headers)
					} else if fresh || reqPath == "" {
						reqPath, reqBody = smp.prepare(t)
						if alias != rt.Path {
							reqPath = strings.Replace(reqPath, "/api/", "/api/stream/", 1)
						}
					}
					return s.call(t, rt.Method, reqPath, reqBody, headers...)
				}
				ok2xx := func(code int, body []byte, how string) {
					assert.True(t, code >= 200 && code < 300, "%s: %d %s", how, code, body)
				}
				if rt.Role == api.Signed { // only LiveKit's signature: no credential of ours stands in
					for _, headers := range [][]string{noAuth, {"X-API-Key", testAPIKey}, {"Authorization", "Bearer " + testAPIKey}} {
						code, body := send(direct, true, headers...)
						assert.Equal(t, 401, code, "%v: %s", headers, body)
						assert.Equal(t, "unauthenticated", errorCode(t, body))
					}
					return
				}
				if rt.Role == api.Public || rt.Role == api.Scrape {
					code, body := send(direct, true, noAuth...)
					ok2xx(code, body, "public without credentials")
					return
				}
				code, body := send(direct, false, noAuth...)
				assert.Equal(t, 401, code, "no credentials")
				assert.Equal(t, "unauthenticated", errorCode(t, body))
				code, _ = send(direct, false, "X-authentik-username", "mallory", "X-authentik-groups", adminGroup, access.ProxySecretHeader, testProxySecret)
				assert.Equal(t, 401, code, "forward-auth headers from an untrusted address, even with the secret")
				code, _ = send(proxied, false, "X-authentik-username", "mallory", "X-authentik-groups", adminGroup)
				assert.Equal(t, 401, code, "forward-auth headers from the proxy's address without the secret")
				code, _ = send(proxied, false, "X-authentik-username", "mallory", "X-authentik-groups", adminGroup, access.ProxySecretHeader, "wrong-secret-0123456789")
				assert.Equal(t, 401, code, "forward-auth headers from the proxy's address with a wrong secret")
				code, _ = send(direct, false, "X-API-Key", "wrong-key-0123456789")
				assert.Equal(t, 401, code, "wrong API key")
				for why, bad := range refused {
					code, body = send(direct, false, "Authorization", "Bearer "+bad)
					assert.Equal(t, 401, code, "bearer %s: %s", why, body)
				}
				code, _ = send(proxied, false, noAuth...)
				assert.Equal(t, 401, code, "trusted proxy, but no user")

				// Each role gets in where the route allows it, by every method,
				// and is refused with 403 where it does not.
				for _, c := range callers {
					s := direct
					if c.proxied {
						s = proxied
					}
					if c.role >= rt.Role {
						code, body = send(s, true, c.headers...)
						ok2xx(code, body, c.how)
						continue
					}
					code, body = send(s, false, c.headers...)
					assert.Equal(t, 403, code, "%s on a %s route: %s", c.how, rt.Role, body)
					assert.Equal(t, "forbidden", errorCode(t, body))
				}
			})
		}
	}
	for key := range samples {
		assert.True(t, served[key], "sample for %s, which the server does not have", key)
	}

	// Removing a participant needs an admin, although acting on one is an operator's.
	code, body := direct.call(t, "POST", "/api/rooms/matrix/participants", map[string]any{"action": "remove", "identity": "ada"}, callers[5].headers...)
	assert.Equal(t, 403, code, "%s", body)
	// Closing a show someone else opened too, and its secrets are theirs: an
	// operator's bearer is not the operator's API key.
	code, body = direct.call(t, "POST", "/api/shows", map[string]any{"name": "matrix-olga"}, callers[1].headers...)
	require.Equal(t, 201, code, "%s", body)
	code, body = direct.call(t, "POST", "/api/shows", map[string]any{"name": "matrix-olga"}, callers[5].headers...)
	require.Equal(t, 200, code, "%s", body)
	assert.NotEmpty(t, decodeAs[showroutes.Opened](t, body).Withheld)
	code, body = direct.call(t, "DELETE", "/api/shows/matrix-olga", nil, callers[5].headers...)
	assert.Equal(t, 403, code, "%s", body)
	assert.Equal(t, "forbidden", errorCode(t, body))
	code, body = direct.call(t, "DELETE", "/api/shows/matrix-olga", nil, callers[3].headers...)
	assert.Equal(t, 200, code, "an admin closes any show: %s", body)
	// Who did what is logged, by name, method and role.
	assert.Contains(t, proxied.logs.String(), `"user":"ada","auth":"forward-auth","role":"admin"`)
	assert.Contains(t, proxied.logs.String(), `"user":"olga","auth":"forward-auth","role":"operator"`)
	assert.Contains(t, direct.logs.String(), `"user":"ada","auth":"bearer","role":"viewer"`)
	assert.Contains(t, direct.logs.String(), `"user":"api-key","auth":"api-key","role":"operator"`)
	assert.Contains(t, direct.logs.String(), "forward-auth headers from an untrusted address ignored")
	assert.Contains(t, proxied.logs.String(), "forward-auth headers without the proxy secret ignored")
	// Garbage key IDs did not make the dashboard hammer the identity provider.
	// (at most 3 refetches in a row, then one per 10 s).
	assert.LessOrEqual(t, p.Fetches.Load(), int32(3+time.Since(start)/(10*time.Second)), "JWKS fetches")
}

// Metrics can be made private; then the API's auth applies to them.
func TestPrivateMetrics(t *testing.T) {
	s := newStage(t, func(s *config.Settings) { s.MetricsPublic = false })
	code, _ := s.call(t, "GET", "/metrics", nil, noAuth...)
	assert.Equal(t, 401, code)
	code, body := s.call(t, "GET", "/metrics", nil)
	assert.Equal(t, 200, code)
	assert.Contains(t, string(body), "dashboard_http_requests_total")
	assert.Equal(t, 1.0, metricValue(t, body, `dashboard_http_requests_total{method="GET",route="/metrics",status="401"}`), "the refused scrape is counted")
}
