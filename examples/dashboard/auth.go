package main

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// user is who made a request and how they proved it.
type user struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups,omitempty"`
	Method string   `json:"method"` // forward-auth, api-key, bearer, dev
}

func withUser(ctx context.Context, u user) context.Context { return context.WithValue(ctx, keyUser, u) }
func userFrom(ctx context.Context) user                    { u, _ := ctx.Value(keyUser).(user); return u }

var errUnauthenticated = &apiError{http.StatusUnauthorized, "unauthenticated", "sign in through the proxy, or send X-API-Key or a Bearer token"}

// authenticator implements the API gateway's three methods: forward auth from a
// trusted proxy, API keys, and Bearer JWTs from the identity provider.
type authenticator struct {
	dev        bool
	keys       [][]byte
	proxies    []netip.Prefix
	adminGroup string
	jwks       *jwks
	issuer     string
	audience   string
}

func newAuthenticator(s settings) *authenticator {
	a := &authenticator{dev: s.Dev, proxies: s.TrustedProxies, adminGroup: s.AdminGroup, issuer: s.JWTIssuer, audience: s.JWTAudience}
	for _, k := range s.APIKeys {
		a.keys = append(a.keys, []byte(k))
	}
	if s.JWKSURL != "" {
		a.jwks = &jwks{url: s.JWKSURL, client: &http.Client{Timeout: 5 * time.Second}}
	}
	return a
}

func (a *authenticator) authenticate(r *http.Request) (user, error) {
	if name := r.Header.Get("X-authentik-username"); name != "" && a.fromTrustedProxy(r) {
		return user{Name: name, Groups: splitGroups(r.Header.Get("X-authentik-groups")), Method: "forward-auth"}, nil
	}
	key := r.Header.Get("X-API-Key")
	if key == "" {
		key = r.URL.Query().Get("api_key")
	}
	if key != "" {
		if a.validKey(key) {
			return user{Name: "api-key", Method: "api-key"}, nil
		}
		return user{}, &apiError{http.StatusUnauthorized, "unauthenticated", "API key not accepted"}
	}
	if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.jwks != nil {
		u, err := a.bearer(r.Context(), raw)
		if err != nil {
			return user{}, &apiError{http.StatusUnauthorized, "unauthenticated", "Bearer token not accepted: " + err.Error()}
		}
		return u, nil
	}
	if a.dev {
		return user{Name: "dev", Method: "dev"}, nil
	}
	return user{}, errUnauthenticated
}

// fromTrustedProxy: forward-auth headers are only as trustworthy as whoever set them.
func (a *authenticator) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return slices.ContainsFunc(a.proxies, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// validKey compares against every key in constant time.
func (a *authenticator) validKey(key string) bool {
	ok := 0
	for _, k := range a.keys {
		ok |= subtle.ConstantTimeCompare(k, []byte(key))
	}
	return ok == 1
}

func (a *authenticator) isAdmin(u user) bool {
	return a.adminGroup == "" || u.Method == "dev" || u.Method == "api-key" || slices.Contains(u.Groups, a.adminGroup)
}

func splitGroups(v string) []string {
	var out []string
	for _, g := range strings.FieldsFunc(v, func(r rune) bool { return r == '|' || r == ',' }) {
		out = append(out, strings.TrimSpace(g))
	}
	return out
}

type bearerClaims struct {
	jwt.RegisteredClaims
	Username string   `json:"preferred_username"`
	Groups   []string `json:"groups"`
}

func (a *authenticator) bearer(ctx context.Context, raw string) (user, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256", "RS384", "RS512"}), jwt.WithExpirationRequired(), jwt.WithLeeway(30 * time.Second)}
	if a.issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.issuer))
	}
	if a.audience != "" {
		opts = append(opts, jwt.WithAudience(a.audience))
	}
	var c bearerClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return a.jwks.key(ctx, kid)
	}, opts...)
	if err != nil {
		for _, e := range []error{jwt.ErrTokenExpired, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience, jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable} {
			if errors.Is(err, e) {
				return user{}, e
			}
		}
		return user{}, errors.New("invalid token")
	}
	name := c.Username
	if name == "" {
		name = c.Subject
	}
	return user{Name: name, Groups: c.Groups, Method: "bearer"}, nil
}

// jwks caches the identity provider's RSA keys, refetching (at most every 30 s)
// when a token names a key it does not know, so key rotation just works.
type jwks struct {
	url     string
	client  *http.Client
	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time
}

func (j *jwks) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok && time.Since(j.fetched) < time.Hour {
		return k, nil
	}
	if time.Since(j.fetched) > 30*time.Second || j.keys == nil {
		if err := j.fetch(ctx); err != nil {
			return nil, err
		}
	}
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

func (j *jwks) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return errors.New("identity provider unreachable")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("identity provider answered %s", resp.Status)
	}
	var doc struct {
		Keys []struct{ Kid, Kty, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&doc); err != nil {
		return errors.New("identity provider sent an unreadable JWKS")
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) > 4 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	j.keys, j.fetched = keys, time.Now()
	return nil
}
