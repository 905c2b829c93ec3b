package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idp is a local identity provider: a JWKS on 127.0.0.1 with an RSA and an EC key.
type idp struct {
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	server  *httptest.Server
	fetches atomic.Int32
}

func newIDP(t testing.TB) *idp {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p := &idp{rsa: rk, ec: ek}
	b64 := base64.RawURLEncoding.EncodeToString
	ecPoint, err := ek.PublicKey.Bytes() // 0x04 || X || Y
	require.NoError(t, err)
	p.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		writeJSON(w, 200, map[string]any{"keys": []any{
			map[string]any{"kid": "rsa1", "kty": "RSA", "alg": "RS256", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
			map[string]any{"kid": "ec1", "kty": "EC", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(ecPoint[1:33]), "y": b64(ecPoint[33:])},
		}})
	}))
	t.Cleanup(p.server.Close)
	return p
}

// claims are a valid token's claims for user ada in the given groups, changed by mod.
func claims(groups []string, mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "sub": "u1", "preferred_username": "ada",
		"groups": groups, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t testing.TB, method jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// The identity provider rotates its keys: a token signed with the new key works
// from the first request after the provider publishes it (however soon after our
// last fetch), tokens with made-up key ids cannot make the dashboard hammer the
// provider, and a provider outage does not lock out users whose keys are cached.
func TestJWKSRotationAndOutage(t *testing.T) {
	oldKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	var published atomic.Pointer[[]any]
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := func(kid string, k *rsa.PrivateKey) any {
		return map[string]any{"kid": kid, "kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	}
	keys := []any{jwk("old", oldKey)}
	published.Store(&keys)
	var down atomic.Bool
	var fetches atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", 503)
			return
		}
		writeJSON(w, 200, map[string]any{"keys": *published.Load()})
	}))
	defer idp.Close()
	j := &jwks{url: idp.URL, client: idp.Client()}
	a := &authenticator{jwks: j, issuer: testIssuer, audience: testAudience}
	ctx := context.Background()

	start := time.Now()
	_, err = a.bearer(ctx, sign(t, jwt.SigningMethodRS256, "old", oldKey, claims(nil, nil)))
	require.NoError(t, err)
	require.EqualValues(t, 1, fetches.Load())

	// Rotated a moment after our fetch: no clock is turned back here.
	keys = []any{jwk("old", oldKey), jwk("new", newKey)}
	published.Store(&keys)
	u, err := a.bearer(ctx, sign(t, jwt.SigningMethodRS256, "new", newKey, claims(nil, nil)))
	require.NoError(t, err, "a freshly rotated key is accepted at once")
	assert.Equal(t, "ada", u.Name)
	assert.EqualValues(t, 2, fetches.Load(), "one refetch for the new key")

	// A flood of tokens with made-up key ids, and one made-up id again and again.
	for i := range 300 {
		kid := fmt.Sprintf("bogus-%d", i)
		if i%2 == 0 {
			kid = "bogus-again"
		}
		_, err := a.bearer(ctx, sign(t, jwt.SigningMethodRS256, kid, newKey, claims(nil, nil)))
		require.Error(t, err)
	}
	// At most 3 refetches in a row, then one per 10 s: 2 + 3 + elapsed/10 s with
	// the two above.
	assert.LessOrEqual(t, fetches.Load(), int32(5+time.Since(start)/(10*time.Second)), "JWKS fetches under a flood of key ids")
	// Keys already known still work without asking the provider.
	before := fetches.Load()
	_, err = a.bearer(ctx, sign(t, jwt.SigningMethodRS256, "new", newKey, claims(nil, nil)))
	require.NoError(t, err)
	assert.Equal(t, before, fetches.Load())

	down.Store(true)
	j.fetched = time.Now().Add(-2 * time.Hour) // cached keys are stale; refetch fails
	j.tried = time.Time{}
	_, err = a.bearer(ctx, sign(t, jwt.SigningMethodRS256, "old", oldKey, claims(nil, nil)))
	assert.NoError(t, err, "cached keys still work while the provider is down")
	assert.Equal(t, before+1, fetches.Load(), "the stale set was refetched (and failed)")
}
