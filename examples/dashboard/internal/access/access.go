// Package access tells who is calling the dashboard and what their
// credential is worth: forward-auth headers from a proven proxy, API keys, and
// Bearer tokens verified against the identity provider's JWKS.
package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/api"
)

func unauthenticated(msg string) error {
	return api.NewError(http.StatusUnauthorized, "unauthenticated", msg)
}

// Authenticator implements the API gateway's three methods: forward auth from a
// trusted proxy (Authentik behind Traefik) that also proves itself with the
// shared secret, API keys, and Bearer JWTs from the identity provider, checked
// against its JWKS. Each credential maps to a role.
type Authenticator struct {
	dev           bool
	keys          []APIKey
	proxies       []netip.Prefix
	ProxySecret   []byte
	AdminGroup    string
	OperatorGroup string
	allAdmin      bool // DASHBOARD_ALLOW_ALL_ADMIN: every signed-in person is an admin
	groupsClaim   string
	jwks          *jwks
	issuer        string
	audience      string
	log           *slog.Logger
}

// Config is what the authenticator is told of the deployment (the
// DASHBOARD_* settings of config.go).
type Config struct {
	Dev                       bool // -dev: every request is a local admin
	Keys                      []APIKey
	Proxies                   []netip.Prefix
	ProxySecret               string
	AdminGroup, OperatorGroup string
	AllowAllAdmin             bool
	GroupsClaim               string
	JWKSURL, Issuer, Audience string
}

func New(c Config, log *slog.Logger) *Authenticator {
	a := &Authenticator{dev: c.Dev, keys: c.Keys, proxies: c.Proxies, ProxySecret: []byte(c.ProxySecret),
		AdminGroup: c.AdminGroup, OperatorGroup: c.OperatorGroup, allAdmin: c.AllowAllAdmin, groupsClaim: c.GroupsClaim,
		issuer: c.Issuer, audience: c.Audience, log: log}
	if a.groupsClaim == "" {
		a.groupsClaim = "groups"
	}
	if c.JWKSURL != "" {
		a.jwks = &jwks{url: c.JWKSURL, client: &http.Client{Timeout: 5 * time.Second}}
	}
	return a
}

// ProxySecretHeader carries DASHBOARD_PROXY_SECRET from the forward-auth proxy.
const ProxySecretHeader = "X-Dashboard-Proxy-Secret"

// Authenticate returns the caller, trying the methods from the most to the least
// specific. Credentials that are present but wrong are refused outright, never
// skipped in favour of the next method. queryKey (/metrics) allows ?api_key=
// and an API key sent as Bearer.
func (a *Authenticator) Authenticate(r *http.Request, queryKey bool) (api.User, error) {
	if name := r.Header.Get("X-Authentik-Username"); name != "" {
		// Anyone can send these headers; only the proxy's are believed, and an
		// address alone does not prove it is the proxy (with host networking
		// every local process shares it): it must also know the secret.
		switch {
		case !trusted(a.proxies, r.RemoteAddr):
			a.log.Warn("forward-auth headers from an untrusted address ignored", "remote", r.RemoteAddr, "id", api.RequestID(r.Context()))
		case !a.ProxyProven(r.Header.Get(ProxySecretHeader)):
			a.log.Warn("forward-auth headers without the proxy secret ignored", "remote", r.RemoteAddr,
				"secretSent", r.Header.Get(ProxySecretHeader) != "", "id", api.RequestID(r.Context()))
		default:
			groups := splitGroups(r.Header.Get("X-Authentik-Groups"))
			return api.User{Name: name, Email: r.Header.Get("X-Authentik-Email"), Groups: groups, Method: "forward-auth", Role: a.RoleOf(groups)}, nil
		}
	}
	key := r.Header.Get("X-Api-Key") // canonical spellings: Get copies any other
	if key == "" && queryKey {
		key = r.URL.Query().Get("api_key")
	}
	if key != "" {
		if k, ok := a.validKey(key); ok {
			return api.User{Name: "api-key", Method: "api-key", Role: k.Role, KeyID: KeyID(key)}, nil
		}
		return api.User{}, unauthenticated("API key not accepted")
	}
	if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		// Scrapers send a credentials file as Bearer (Prometheus's
		// authorization.credentials_file): on /metrics an API key is taken
		// that way too. Elsewhere Bearer stays the identity provider's.
		if queryKey {
			if k, ok := a.validKey(strings.TrimSpace(raw)); ok {
				return api.User{Name: "api-key", Method: "api-key", Role: k.Role}, nil
			}
		}
		if a.jwks == nil {
			return api.User{}, unauthenticated("Bearer tokens are not enabled on this dashboard")
		}
		u, err := a.Bearer(r.Context(), strings.TrimSpace(raw))
		if err != nil {
			return api.User{}, unauthenticated("Bearer token not accepted: " + err.Error())
		}
		return u, nil
	}
	if a.dev {
		return api.User{Name: "dev", Method: "dev", Role: api.Admin}, nil
	}
	return api.User{}, unauthenticated("sign in through the proxy, or send X-API-Key or a Bearer token")
}

// HasCredentials reports whether r carries any credential authenticate reads:
// on public /metrics a scrape that sends one is authenticated (and refused when
// it is wrong) rather than served as anonymous.
func HasCredentials(r *http.Request) bool {
	return r.Header.Get("X-API-Key") != "" || strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") ||
		r.Header.Get("X-Authentik-Username") != "" || r.URL.Query().Has("api_key")
}

// validKey compares against every key in constant time.
func (a *Authenticator) validKey(key string) (APIKey, bool) {
	var found APIKey
	ok := 0
	for _, k := range a.keys {
		if subtle.ConstantTimeCompare([]byte(k.Key), []byte(key)) == 1 {
			found, ok = k, 1
		}
	}
	return found, ok == 1
}

// FromProxy reports whether r comes from our forward-auth proxy: a trusted
// address that also sent the proxy secret.
func (a *Authenticator) FromProxy(r *http.Request) bool {
	return trusted(a.proxies, r.RemoteAddr) && a.ProxyProven(r.Header.Get(ProxySecretHeader))
}

// ProxyProven reports whether sent is the configured proxy secret, in constant
// time. Without a configured secret no proxy is believed.
func (a *Authenticator) ProxyProven(sent string) bool {
	return len(a.ProxySecret) > 0 && subtle.ConstantTimeCompare(a.ProxySecret, []byte(sent)) == 1
}

// RoleOf is a person's role by their groups: the admin group, the operator
// group, anyone else signed in is a viewer.
func (a *Authenticator) RoleOf(groups []string) api.Role {
	switch {
	case a.allAdmin || (a.AdminGroup != "" && slices.Contains(groups, a.AdminGroup)):
		return api.Admin
	case a.OperatorGroup != "" && slices.Contains(groups, a.OperatorGroup):
		return api.Operator
	}
	return api.Viewer
}

// APIKey is one of DASHBOARD_API_KEYS with the role given with it.
type APIKey struct {
	Key  string
	Role api.Role
}

// ParseAPIKeys reads "key1:admin,key2:viewer,key3": a known role name after the
// last ':' is the key's role; anything else is part of the key, which is then
// an operator's (today's bare keys keep working, as operators, not admins).
func ParseAPIKeys(v string) ([]APIKey, error) {
	var out []APIKey
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k := APIKey{Key: item, Role: api.Operator}
		if i := strings.LastIndexByte(item, ':'); i >= 0 {
			if r, ok := api.RoleNamed(item[i+1:]); ok {
				k = APIKey{Key: item[:i], Role: r}
			}
		}
		if len(k.Key) < 16 {
			return nil, fmt.Errorf("every key must have at least 16 characters (before its :role)")
		}
		out = append(out, k)
	}
	return out, nil
}

// Authentik sends groups separated by "|".
func splitGroups(v string) []string {
	var out []string
	for _, g := range strings.FieldsFunc(v, func(r rune) bool { return r == '|' || r == ',' }) {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

// trusted reports whether remoteAddr (host:port) is in one of the prefixes.
func trusted(prefixes []netip.Prefix, remoteAddr string) bool {
	ip, ok := api.AddrOf(remoteAddr)
	return ok && slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// bearerMethods are the signatures accepted; never "none", never HMAC (the JWKS
// is public, so an HMAC "key" from it would be a forgery kit).
var bearerMethods = []string{"RS256", "RS384", "RS512", "ES256", "ES384"}

func (a *Authenticator) Bearer(ctx context.Context, raw string) (api.User, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods(bearerMethods), jwt.WithExpirationRequired(),
		jwt.WithLeeway(30 * time.Second), jwt.WithIssuer(a.issuer), jwt.WithAudience(a.audience)}
	c := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return a.jwks.Key(ctx, kid)
	}, opts...)
	if err != nil {
		// Say which check failed, never echo the token.
		for _, e := range []error{jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenInvalidIssuer,
			jwt.ErrTokenInvalidAudience, jwt.ErrTokenMalformed, jwt.ErrTokenRequiredClaimMissing, errJWKS} {
			if errors.Is(err, e) {
				return api.User{}, e
			}
		}
		return api.User{}, errors.New("token is invalid")
	}
	name, _ := c["preferred_username"].(string)
	if name == "" {
		name, _ = c["sub"].(string)
	}
	email, _ := c["email"].(string)
	groups := GroupsClaim(c, a.groupsClaim)
	return api.User{Name: name, Email: email, Groups: groups, Method: "bearer", Role: a.RoleOf(groups)}, nil
}

// GroupsClaim reads the groups from the claim named name (DASHBOARD_JWT_GROUPS_CLAIM):
// a list of strings or one string; a dotted name such as realm_access.roles
// walks into nested objects when no claim has the name itself. Anything else
// is no groups: the user is a viewer.
func GroupsClaim(c map[string]any, name string) []string {
	v, ok := c[name]
	for rest := name; !ok && strings.Contains(rest, "."); {
		head, tail, _ := strings.Cut(rest, ".")
		obj, isObj := c[head].(map[string]any)
		if !isObj {
			return nil
		}
		c, rest = obj, tail
		v, ok = c[rest]
	}
	switch g := v.(type) {
	case string:
		return splitGroups(g)
	case []any:
		var out []string
		for _, e := range g {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

var errJWKS = errors.New("signing key unavailable")

// jwks caches the identity provider's public keys. A token naming a key id we do
// not have refetches the set at once, so a key the provider has just rotated in
// works from its first token. Those refetches come from a small bucket (jwksBurst,
// refilled one per jwksRefill), and a key id a fetch did not have is not asked for
// again until the next fetch, so tokens with made-up key ids cannot make us hammer
// the provider: they cost at most the bucket. Keys are refreshed hourly, and kept if
// the provider is briefly down.
type jwks struct {
	url     string
	client  *http.Client
	mu      sync.Mutex
	keys    map[string]any
	fetched time.Time       // last successful fetch
	tried   time.Time       // last attempt, successful or not
	tokens  float64         // refetches for unknown key ids allowed now
	topped  time.Time       // when tokens was last refilled
	missing map[string]bool // key ids the last fetch did not have
}

const (
	jwksBurst  = 3                // refetches for unknown key ids in a row
	jwksRefill = 10 * time.Second // then one more per this
	jwksMissed = 1024             // key ids remembered as missing, at most
)

func (j *jwks) Key(ctx context.Context, kid string) (any, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k, known := j.lookup(kid)
	// The hourly refresh; while the provider is down, tried every 30 s.
	refresh := known && time.Since(j.fetched) > time.Hour && time.Since(j.tried) > 30*time.Second
	if refresh || (!known && !j.missing[kid] && j.take()) {
		j.tried = time.Now()
		err := j.fetch(ctx)
		if err != nil && j.keys == nil {
			return nil, fmt.Errorf("%w: %v", errJWKS, err)
		}
		k, known = j.lookup(kid)
		if err == nil && !known {
			if len(j.missing) >= jwksMissed {
				j.missing = nil
			}
			if j.missing == nil {
				j.missing = map[string]bool{}
			}
			j.missing[kid] = true
		}
	}
	if !known {
		return nil, fmt.Errorf("%w: unknown key id %q", errJWKS, kid)
	}
	return k, nil
}

// take spends one refetch from the bucket, if there is one.
func (j *jwks) take() bool {
	now := time.Now()
	if j.topped.IsZero() {
		j.tokens = jwksBurst
	} else {
		j.tokens = min(jwksBurst, j.tokens+now.Sub(j.topped).Seconds()/jwksRefill.Seconds())
	}
	j.topped = now
	if j.tokens < 1 {
		return false
	}
	j.tokens--
	return true
}

// lookup finds kid; a token without kid may use the only key there is.
func (j *jwks) lookup(kid string) (any, bool) {
	if kid == "" && len(j.keys) == 1 {
		for _, k := range j.keys {
			return k, true
		}
	}
	k, ok := j.keys[kid]
	return k, ok
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
		Keys []struct{ Kid, Kty, Use, Crv, N, E, X, Y string } `json:"keys"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&doc); err != nil {
		return errors.New("identity provider sent an unreadable JWKS")
	}
	keys := map[string]any{}
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err1 := base64.RawURLEncoding.DecodeString(k.N)
			e, err2 := base64.RawURLEncoding.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 || len(n) < 256 {
				continue // malformed, or an RSA key under 2048 bits
			}
			keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384()}[k.Crv]
			x, err1 := base64.RawURLEncoding.DecodeString(k.X)
			y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
			if curve == nil || err1 != nil || err2 != nil {
				continue
			}
			size := (curve.Params().BitSize + 7) / 8
			if len(x) != size || len(y) != size {
				continue
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
			if err != nil {
				continue
			}
			keys[k.Kid] = pub
		}
	}
	j.keys, j.fetched, j.missing = keys, time.Now(), nil // a new set may hold any of them
	return nil
}

// KeyID is an API key's fingerprint: enough to tell keys apart, nothing to
// sign in with. Only valid keys reach it, so the cache is as small as the
// configured keys, and a request pays a map read rather than a hash.
func KeyID(key string) string {
	if id, ok := keyIDs.Load(key); ok {
		return id.(string)
	}
	sum := sha256.Sum256([]byte("streamkit api key\x00" + key))
	id := hex.EncodeToString(sum[:8])
	keyIDs.Store(key, id)
	return id
}

var keyIDs sync.Map // API key -> keyID
