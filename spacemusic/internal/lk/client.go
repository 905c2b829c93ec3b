package lk

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// DefaultTimeout bounds every call to LiveKit when the caller's context has no
// earlier deadline. server-sdk-go's HTTP client has none, so a hung server would
// otherwise hang the caller forever.
const DefaultTimeout = 10 * time.Second

// Config is what a service needs to reach LiveKit's server API.
type Config struct {
	URL       string        // http(s):// or ws(s):// address of livekit-server
	APIKey    string        // LIVEKIT_API_KEY
	APISecret string        // LIVEKIT_API_SECRET; never logged or returned
	Timeout   time.Duration // per call; DefaultTimeout when zero
	// HTTPClient carries the requests; a shared client keeps connections warm.
	HTTPClient *http.Client
	// Issuer signs the requests' tokens: the facade's one Issuer, shared by
	// every service; one is made from APIKey and APISecret when nil.
	Issuer *tokens.Issuer
}

// Client is the authenticated connection services share.
type Client struct {
	BaseURL string
	HTTP    *http.Client
	Issuer  *tokens.Issuer
	timeout time.Duration
}

// NewClient validates cfg, naming the field at fault; it never echoes the secret.
func NewClient(op string, cfg Config) (*Client, error) {
	base, err := HTTPURL(cfg.URL)
	if err != nil {
		return nil, errs.Invalid(op, "URL: %v", err)
	}
	issuer := cfg.Issuer
	if issuer == nil {
		if issuer, err = tokens.NewIssuer(cfg.APIKey, cfg.APISecret); err != nil {
			return nil, errs.Invalid(op, "%v", err)
		}
	}
	c := &Client{BaseURL: base, HTTP: cfg.HTTPClient, Issuer: issuer, timeout: cfg.Timeout}
	if c.HTTP == nil {
		c.HTTP = &http.Client{}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// HTTPURL accepts LiveKit's address in any of the forms users paste (ws, wss, http,
// https) and returns the HTTP base URL of the server API.
func HTTPURL(raw string) (string, error) {
	if raw == "" {
		return "", errString("is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errString("cannot parse " + strconvQuote(raw))
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", errString("scheme of " + strconvQuote(raw) + " must be ws, wss, http or https")
	}
	if u.Host == "" {
		return "", errString(strconvQuote(raw) + " has no host")
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// Bound bounds ctx by the client's timeout: several requests that make one
// call (a wait after an update, a mute of each track) share one deadline. Each
// request still gets its own token from Do.
func (c *Client) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

type errString string

func (e errString) Error() string { return string(e) }

func strconvQuote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + s + `"`
}

// Poll calls check every 200 ms until it reports done, fails, or ctx ends; the
// services' WaitFor methods are built on it.
func Poll[T any](ctx context.Context, op string, check func() (T, bool, error)) (T, error) {
	for {
		v, done, err := check()
		if err != nil || done {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, Map(op, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Do makes one API request: it bounds ctx by the client's timeout, authorizes it
// with exactly grant, and maps any error with Map, so no call site can forget to.
func Do[Req, Res any](ctx context.Context, c *Client, op string, grant tokens.Grant, call func(context.Context, Req) (Res, error), req Req) (Res, error) {
	var zero Res
	// One token per request, with exactly the grant it needs, signed here and
	// nowhere else (twirp's request headers are replaced, not merged).
	tok, err := c.Issuer.Issue(tokens.Options{Grant: grant, TTL: 10 * time.Minute})
	if err != nil {
		return zero, &errs.Error{Op: op, Kind: errs.ErrUpstream, Message: err.Error()}
	}
	h := make(http.Header, 1)
	h.Set("Authorization", "Bearer "+tok.JWT)
	ctx, err = twirp.WithHTTPRequestHeaders(ctx, h)
	if err != nil {
		return zero, &errs.Error{Op: op, Kind: errs.ErrUpstream, Message: err.Error()}
	}
	ctx, cancel := c.Bound(ctx)
	defer cancel()
	res, err := call(ctx, req)
	if err != nil {
		return zero, Map(op, err)
	}
	return res, nil
}
