// Package authtest is a local identity provider for the dashboard's tests:
// a JWKS on 127.0.0.1 and tokens signed with its keys. Tests only.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
	"github.com/stretchr/testify/require"
)

// IDP is a local identity provider: a JWKS on 127.0.0.1 with an RSA and an EC key.
type IDP struct {
	RSA     *rsa.PrivateKey
	EC      *ecdsa.PrivateKey
	Server  *httptest.Server
	Fetches atomic.Int32
}

// NewIDP serves a new provider until the test ends.
func NewIDP(t testing.TB) *IDP {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p := &IDP{RSA: rk, EC: ek}
	b64 := base64.RawURLEncoding.EncodeToString
	ecPoint, err := ek.PublicKey.Bytes() // 0x04 || X || Y
	require.NoError(t, err)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Fetches.Add(1)
		api.WriteJSON(w, 200, map[string]any{"keys": []any{
			map[string]any{"kid": "rsa1", "kty": "RSA", "alg": "RS256", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
			map[string]any{"kid": "ec1", "kty": "EC", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(ecPoint[1:33]), "y": b64(ecPoint[33:])},
		}})
	}))
	t.Cleanup(p.Server.Close)
	return p
}

// Claims are a valid token's claims for user ada in the given groups, changed by mod.
func Claims(groups []string, mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"iss": Issuer, "aud": Audience, "sub": "u1", "preferred_username": "ada",
		"groups": groups, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

// Sign signs c with key, naming kid in the header.
func Sign(t testing.TB, method jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// The identity provider's issuer and the dashboard's audience in its tokens.
const (
	Issuer   = "https://auth.example.test/application/o/dashboard/"
	Audience = "dashboard"
)
