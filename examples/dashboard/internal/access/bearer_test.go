package access

import (
	"context"
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
	"github.com/spacemusic/streamkit/examples/dashboard/internal/access/authtest"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
		api.WriteJSON(w, 200, map[string]any{"keys": *published.Load()})
	}))
	defer idp.Close()
	j := &jwks{url: idp.URL, client: idp.Client()}
	a := &Authenticator{jwks: j, issuer: authtest.Issuer, audience: authtest.Audience}
	ctx := context.Background()

	start := time.Now()
	_, err = a.Bearer(ctx, authtest.Sign(t, jwt.SigningMethodRS256, "old", oldKey, authtest.Claims(nil, nil)))
	require.NoError(t, err)
	require.EqualValues(t, 1, fetches.Load())

	// Rotated a moment after our fetch: no clock is turned back here.
	keys = []any{jwk("old", oldKey), jwk("new", newKey)}
	published.Store(&keys)
	u, err := a.Bearer(ctx, authtest.Sign(t, jwt.SigningMethodRS256, "new", newKey, authtest.Claims(nil, nil)))
	require.NoError(t, err, "a freshly rotated key is accepted at once")
	assert.Equal(t, "ada", u.Name)
	assert.EqualValues(t, 2, fetches.Load(), "one refetch for the new key")

	// A flood of tokens with made-up key ids, and one made-up id again and again.
	for i := range 300 {
		kid := fmt.Sprintf("bogus-%d", i)
		if i%2 == 0 {
			kid = "bogus-again"
		}
		_, err := a.Bearer(ctx, authtest.Sign(t, jwt.SigningMethodRS256, kid, newKey, authtest.Claims(nil, nil)))
		require.Error(t, err)
	}
	// At most 3 refetches in a row, then one per 10 s: 2 + 3 + elapsed/10 s with
	// the two above.
	assert.LessOrEqual(t, fetches.Load(), int32(5+time.Since(start)/(10*time.Second)), "JWKS fetches under a flood of key ids")
	// Keys already known still work without asking the provider.
	before := fetches.Load()
	_, err = a.Bearer(ctx, authtest.Sign(t, jwt.SigningMethodRS256, "new", newKey, authtest.Claims(nil, nil)))
	require.NoError(t, err)
	assert.Equal(t, before, fetches.Load())

	down.Store(true)
	j.fetched = time.Now().Add(-2 * time.Hour) // cached keys are stale; refetch fails
	j.tried = time.Time{}
	_, err = a.Bearer(ctx, authtest.Sign(t, jwt.SigningMethodRS256, "old", oldKey, authtest.Claims(nil, nil)))
	assert.NoError(t, err, "cached keys still work while the provider is down")
	assert.Equal(t, before+1, fetches.Load(), "the stale set was refetched (and failed)")
}
