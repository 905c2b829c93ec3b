package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	"github.com/spacemusic/streamkit/examples/dashboard/internal/media"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

var (
	asAdmin    = []string{"X-API-Key", testAPIKey}
	asOperator = []string{"X-API-Key", testOperatorKey}
	asViewer   = []string{"X-API-Key", testViewerKey}
)

// An operator runs the show but does not end anyone's night: they mute, unmute,
// demote and promote, but removing a performer is an admin's call. They hand out
// listener tokens and performer tokens for people not on stage yet; a moderator
// token, a token of any role for someone on stage now (joining with it would
// disconnect them) or a token longer than a show needs an admin. Every mint is
// logged without the token.
func TestRolesWithinRoutes(t *testing.T) {
	testenv.RequireNetNS(t) // a real performer joins
	s := newStage(t, nil)
	ctx := t.Context()
	_, err := s.sm.Rooms.Create(ctx, "night", rooms.CreateOptions{})
	require.NoError(t, err)
	tok, err := s.sm.Tokens.Performer("night", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, s.env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, 3*time.Minute))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := s.sm.Rooms.Participant(ctx, "night", "ada")
		return err == nil && len(p.Tracks) == 1
	}, wait, tick, "ada never arrived")

	act := func(who []string, action string) (int, []byte) {
		t.Helper()
		return s.call(t, "POST", "/api/rooms/night/participants", map[string]any{"action": action, "identity": "ada"}, who...)
	}
	for _, a := range []string{"mute", "unmute", "demote", "promote"} {
		code, body := act(asOperator, a)
		assert.Equal(t, 200, code, "operator %s: %s", a, body)
		code, body = act(asViewer, a)
		assert.Equal(t, 403, code, "viewer %s: %s", a, body)
	}
	code, body := act(asOperator, "remove")
	assert.Equal(t, 403, code, "%s", body)
	assert.Equal(t, "forbidden", errorCode(t, body))
	assert.Contains(t, string(body), "remove needs the admin role")
	_, err = s.sm.Rooms.Participant(ctx, "night", "ada")
	require.NoError(t, err, "ada is still on stage")

	mint := func(who []string, req map[string]any) (int, []byte) {
		t.Helper()
		return s.call(t, "POST", "/api/stream/tokens", req, who...)
	}
	for name, c := range map[string]struct {
		req      map[string]any
		operator int    // what an operator gets; an admin always gets 201
		why      string // named in the 403
	}{
		"listener":                     {map[string]any{"role": "listener", "room": "night", "identity": "bob", "ttl": 3600}, 201, ""},
		"listener for a show's length": {map[string]any{"role": "listener", "room": "night", "identity": "bob", "ttl": 6 * 3600}, 201, ""},
		"listener for longer":          {map[string]any{"role": "listener", "room": "night", "identity": "bob", "ttl": 6*3600 + 1}, 403, "beyond 6 h"},
		"performer not on stage":       {map[string]any{"role": "performer", "room": "night", "identity": "cleo"}, 201, ""},
		"performer, room not open":     {map[string]any{"role": "performer", "room": "tomorrow", "identity": "ada"}, 201, ""},
		"performer on stage now":       {map[string]any{"role": "performer", "room": "night", "identity": "ada"}, 403, "ada, who is in night now"},
		"listener on stage now":        {map[string]any{"role": "listener", "room": "night", "identity": "ada"}, 403, "ada, who is in night now"},
		"performer for a whole week":   {map[string]any{"role": "performer", "room": "night", "identity": "cleo", "ttl": 7 * 24 * 3600}, 403, "beyond 6 h"},
		"moderator":                    {map[string]any{"role": "moderator", "room": "night", "identity": "max"}, 403, "moderator token"},
	} {
		code, body := mint(asOperator, c.req)
		assert.Equal(t, c.operator, code, "operator, %s: %s", name, body)
		if c.operator == 403 {
			assert.Equal(t, "forbidden", errorCode(t, body))
			assert.Contains(t, string(body), c.why, name)
		}
		code, body = mint(asAdmin, c.req)
		assert.Equal(t, 201, code, "admin, %s: %s", name, body)
		code, body = mint(asViewer, c.req)
		assert.Equal(t, 403, code, "viewer, %s: %s", name, body)
	}
	// Minting the admin's performer token did not disconnect ada (only joining would).
	_, err = s.sm.Rooms.Participant(ctx, "night", "ada")
	require.NoError(t, err)
	// Who minted what is logged, with the request ID; the token itself never is
	// (the stage checks every minted token against the logs at cleanup).
	assert.Regexp(t, `"msg":"token minted","role":"listener","room":"night","identity":"bob","ttl":"1h0m0s","by":"api-key","auth":"api-key","byRole":"operator","id":"[0-9a-f]{16}"`, s.logs.String())
	assert.Contains(t, s.logs.String(), `"msg":"token minted","role":"moderator","room":"night","identity":"max","ttl":"6h0m0s","by":"api-key","auth":"api-key","byRole":"admin"`)

	// An admin shows her out.
	code, body = act(asAdmin, "remove")
	assert.Equal(t, 200, code, "%s", body)
}

// Stream keys are credentials: whoever has one can put anything on stage. The
// answer that creates an ingress carries its key; lists show it redacted; an
// admin can reveal it again, and that is logged.
func TestStreamKeysOnlyAtCreationAndReveal(t *testing.T) {
	s := newStage(t, nil)
	code, body := s.call(t, "POST", "/api/ingress", map[string]any{"kind": "rtmp", "room": "keys", "identity": "obs"}, asOperator...)
	require.Equal(t, 201, code, "%s", body)
	obs := decodeAs[ingress.Ingress](t, body)
	require.NotEmpty(t, obs.StreamKey, "the creating answer carries the key")
	assert.Contains(t, obs.PublishURL, obs.StreamKey)
	code, body = s.call(t, "POST", "/api/ingress", map[string]any{"kind": "whip", "room": "keys", "identity": "cam"}, asOperator...)
	require.Equal(t, 201, code, "%s", body)
	cam := decodeAs[ingress.Ingress](t, body)
	require.NotEmpty(t, cam.StreamKey)

	for _, path := range []string{"/api/ingress", "/api/ingress?room=keys", "/api/stream/ingress"} {
		for _, who := range [][]string{asViewer, asAdmin} {
			code, body = s.call(t, "GET", path, nil, who...)
			require.Equal(t, 200, code, "%s", body)
			assert.NotContains(t, string(body), obs.StreamKey, "%s lists a stream key", path)
			assert.NotContains(t, string(body), cam.StreamKey, "%s lists a stream key", path)
			listed := decodeAs[[]ingress.Ingress](t, body)
			require.Len(t, listed, 2)
			for _, in := range listed {
				assert.Empty(t, in.StreamKey)
				assert.True(t, strings.HasSuffix(in.PublishURL, "/{redacted}"), in.PublishURL)
			}
		}
	}

	reveal := "/api/ingress/" + obs.ID + "/stream-key"
	for _, who := range [][]string{asViewer, asOperator} {
		code, body = s.call(t, "GET", reveal, nil, who...)
		assert.Equal(t, 403, code, "%s", body)
		assert.NotContains(t, string(body), obs.StreamKey)
	}
	code, body = s.call(t, "GET", "/api/stream/ingress/"+obs.ID+"/stream-key", nil, asAdmin...)
	require.Equal(t, 200, code, "%s", body)
	got := decodeAs[media.StreamKey](t, body)
	assert.Equal(t, media.StreamKey{ID: obs.ID, ServerURL: obs.ServerURL, StreamKey: obs.StreamKey, PublishURL: obs.PublishURL}, got)
	code, body = s.call(t, "GET", "/api/ingress/IN_nosuchingress/stream-key", nil, asAdmin...)
	assert.Equal(t, 404, code, "%s", body)
	assert.Contains(t, s.logs.String(), `"msg":"stream key revealed","ingress":"`+obs.ID+`","room":"keys","by":"api-key"`)
}

// An API key belongs in a header: in a URL it ends up in proxy logs and browser
// history. Scrapers that can only send URLs may use ?api_key= on /metrics; every
// other route refuses it with a message naming the header, and the key never
// reaches the logs.
func TestAPIKeyInQueryOnlyForMetrics(t *testing.T) {
	s := newStage(t, func(s *config.Settings) { s.MetricsPublic = false })
	for _, path := range []string{"/api/rooms?api_key=" + testAPIKey, "/api/stream/rooms?room=x&api_key=" + testAPIKey,
		"/api/health?api_key=" + testAPIKey, "/?api_key=" + testAPIKey, "/api/rooms?api_key="} {
		code, body := s.call(t, "GET", path, nil, noAuth...)
		assert.Equal(t, 400, code, "%s: %s", path, body)
		assert.Equal(t, "api_key_in_query", errorCode(t, body))
		assert.Contains(t, string(body), "X-API-Key")
	}
	// Even with a good header key beside it.
	code, body := s.call(t, "GET", "/api/rooms?api_key="+testAPIKey, nil, asAdmin...)
	assert.Equal(t, 400, code, "%s", body)

	code, body = s.call(t, "GET", "/metrics?api_key="+testViewerKey, nil, noAuth...)
	assert.Equal(t, 200, code, "a scraper's key in the URL: %s", body)
	code, _ = s.call(t, "GET", "/metrics?api_key=wrong-key-0123456789", nil, noAuth...)
	assert.Equal(t, 401, code)
	assert.Contains(t, s.logs.String(), `api_key=REDACTED`)
}

// DASHBOARD_ALLOW_ALL_ADMIN says explicitly that every signed-in person is an
// admin; API keys keep the role given with them.
func TestAllowAllAdmin(t *testing.T) {
	s := newStage(t, func(s *config.Settings) {
		s.AdminGroup, s.AllowAllAdmin = "", true
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
	})
	_, err := s.sm.Rooms.Create(t.Context(), "anyone", rooms.CreateOptions{})
	require.NoError(t, err)
	code, body := s.call(t, "DELETE", "/api/rooms/anyone", nil, asOperator...)
	assert.Equal(t, 403, code, "an operator's key stays an operator's: %s", body)
	code, body = s.call(t, "DELETE", "/api/rooms/anyone", nil, "X-authentik-username", "zoe", access.ProxySecretHeader, testProxySecret)
	assert.Equal(t, 204, code, "a person in no group: %s", body)

	// run says so loudly, before anything else.
	var out strings.Builder
	err = run(context.Background(), []string{"dashboard"}, func(k string) string {
		return map[string]string{"DASHBOARD_ALLOW_ALL_ADMIN": "true"}[k]
	}, &out)
	require.Error(t, err) // no LiveKit configured
	assert.Contains(t, out.String(), `"level":"WARN","msg":"DASHBOARD_ALLOW_ALL_ADMIN: EVERY SIGNED-IN PERSON IS AN ADMIN`)
}

// Today's bare keys keep working, as operators; a known role after the last ':'
// is the key's role, anything else is part of the key.
func TestParseAPIKeys(t *testing.T) {
	keys, err := access.ParseAPIKeys(" key1-0123456789abc:admin, key2-0123456789abc:viewer,key3-0123456789abc , key4:with:colons:operator,key5-0123456789:superuser")
	require.NoError(t, err)
	assert.Equal(t, []access.APIKey{
		{Key: "key1-0123456789abc", Role: api.Admin}, {Key: "key2-0123456789abc", Role: api.Viewer}, {Key: "key3-0123456789abc", Role: api.Operator},
		{Key: "key4:with:colons", Role: api.Operator}, {Key: "key5-0123456789:superuser", Role: api.Operator},
	}, keys)
	for _, bad := range []string{"short:admin", "0123456789abcde:viewer", ":admin", "abc", "key1-0123456789abc,x"} {
		_, err := access.ParseAPIKeys(bad)
		assert.Error(t, err, bad)
	}
}

// Before roles, every API key could do everything. A key configured as it was
// then (no role) now runs shows but cannot close them.
func TestBareAPIKeyIsAnOperator(t *testing.T) {
	const bare = "bare-key-from-before-roles"
	s := newStage(t, func(s *config.Settings) {
		keys, err := access.ParseAPIKeys(bare)
		require.NoError(t, err)
		s.APIKeys = keys
	})
	s.mu.Lock()
	s.secrets = append(s.secrets, bare)
	s.mu.Unlock()
	code, body := s.call(t, "POST", "/api/rooms", map[string]any{"name": "old-habits"}, "X-API-Key", bare)
	assert.Equal(t, 201, code, "%s", body)
	code, body = s.call(t, "DELETE", "/api/rooms/old-habits", nil, "X-API-Key", bare)
	assert.Equal(t, 403, code, "%s", body)
	assert.Equal(t, "forbidden", errorCode(t, body))
	_, err := s.sm.Rooms.Get(t.Context(), "old-habits")
	assert.NoError(t, err, "the room is still open")
}

// Bearer groups come from a configurable claim: Authentik's groups, Keycloak's
// realm_access.roles, or a single string.
func TestBearerGroupsClaim(t *testing.T) {
	p := authtest.NewIDP(t)
	for claim, c := range map[string]struct {
		set  func(jwt.MapClaims)
		want api.Role
	}{
		"groups":             {func(c jwt.MapClaims) {}, api.Admin},
		"roles":              {func(c jwt.MapClaims) { c["roles"] = []any{"crew", operatorGroup} }, api.Operator},
		"realm_access.roles": {func(c jwt.MapClaims) { c["realm_access"] = map[string]any{"roles": []any{adminGroup}} }, api.Admin},
		"team":               {func(c jwt.MapClaims) { c["team"] = operatorGroup }, api.Operator},
		"missing":            {func(c jwt.MapClaims) {}, api.Viewer},
		"odd":                {func(c jwt.MapClaims) { c["odd"] = map[string]any{"x": 1} }, api.Viewer},
	} {
		name := claim
		if claim == "groups" {
			name = "" // the default
		}
		a := access.New(config.Settings{JWKSURL: p.Server.URL, JWTIssuer: authtest.Issuer, JWTAudience: authtest.Audience,
			AdminGroup: adminGroup, OperatorGroup: operatorGroup, JWTGroupsClaim: name}.AuthConfig(), discardLog())
		u, err := a.Bearer(context.Background(), authtest.Sign(t, jwt.SigningMethodRS256, "rsa1", p.RSA, authtest.Claims([]string{adminGroup}, c.set)))
		require.NoError(t, err, claim)
		assert.Equal(t, c.want, u.Role, claim)
	}
}

// Every route and page declares its role, and the OpenAPI document states it,
// with a 403 wherever a signed-in caller may be refused.
func TestEveryRouteDeclaresARole(t *testing.T) {
	s := &server{}
	for _, rt := range append(s.routes(), s.pages()...) {
		assert.NotEqual(t, api.Undeclared, rt.Role, "%s %s has no role", rt.Method, rt.Path)
	}
	doc := api.OpenAPI(s.routes())
	for _, rt := range s.routes() {
		op := doc["paths"].(map[string]any)[api.OpenAPIPath(rt.Path)].(map[string]any)[strings.ToLower(rt.Method)].(map[string]any)
		assert.Equal(t, rt.Role.String(), op["x-role"], rt.Path)
		_, has403 := op["responses"].(map[string]any)["403"]
		assert.Equal(t, rt.Role > api.Viewer, has403, "%s %s: 403 documented", rt.Method, rt.Path)
	}
	participants := doc["paths"].(map[string]any)["/api/rooms/{name}/participants"].(map[string]any)["post"].(map[string]any)
	assert.Contains(t, participants["x-role-rules"], "remove: admin")
	// An undeclared role fails closed.
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("X-API-Key", testOperatorKey)
	_, err := (&server{Deps: Deps{Settings: defaultSettings()}, auth: access.New(defaultSettings().AuthConfig(), discardLog())}).authorize(api.Route{}, req)
	var ae *api.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusForbidden, ae.Status)
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
