// Package spacemusic is streamkit's facade: one Client for a live-music show on
// LiveKit, speaking of stages, performers, listeners, recordings and stream keys.
//
//	sm, err := spacemusic.New(spacemusic.ConfigFromEnv())
//	room, err := sm.Rooms.Create(ctx, "friday-jam", rooms.CreateOptions{})
//	tok, err := sm.Tokens.Performer("friday-jam", "ada")
//
// Each service lives in its own package (rooms, tokens, ingress, egress, recordings)
// and can be used alone; the facade wires them to one configuration and HTTP client.
//
// Options follow one rule per kind of call. A call that sends a request takes its
// options as a struct by value (rooms.CreateOptions, ingress.RTMPOptions,
// egress.AudioOptions, recordings.ListOptions, ...): the zero value means the
// defaults, there is no nil to check, and the call works on its own copy, so a
// caller reusing the struct cannot race it. Token presets (Performer, Listener,
// Moderator) take functional options (tokens.WithTTL, ...): a preset is a fixed
// grant and the options adjust only the few things a caller may change, while
// tokens.Issue takes the whole tokens.Options struct for a custom grant.
//
// Errors are one type, *Error, whose Kind is one of the Err* sentinels: see Error.
package spacemusic

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/internal/lk"
	"github.com/spacemusic/streamkit/spacemusic/internal/server"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/shows"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Config says how to reach LiveKit. The zero Timeout means 10 s per call.
type Config struct {
	URL       string // LIVEKIT_URL: the server API as this process reaches it (http(s) or ws(s))
	PublicURL string // LIVEKIT_WS_URL: the WebSocket URL browsers and OBS use; defaults to URL
	APIKey    string // LIVEKIT_API_KEY
	APISecret string // LIVEKIT_API_SECRET, at least 32 characters; never logged
	// ServerVersion is the livekit-server release in use (LIVEKIT_SERVER_VERSION,
	// e.g. v1.6.1 for a deployment not yet upgraded); empty: the release streamkit pins.
	// What an older release lacks is then refused with ErrUnsupported, with a
	// hint naming it, instead of being dropped by the server (docs/support.md).
	ServerVersion string

	Timeout    time.Duration // bound on every call to LiveKit
	HTTPClient *http.Client  // shared by every service; a pooled client with sane timeouts by default

	// Storage is where recordings go (MINIO_* variables). Without a bucket the
	// client has no Egress and no Recordings.
	Storage egress.Storage
}

// ConfigFromEnv reads the LIVEKIT_* and MINIO_* environment variables a
// LiveKit deployment already sets. Validation happens in New
// (or Validate), so the zero values of missing variables are reported there.
func ConfigFromEnv() Config { return ConfigFromGetenv(os.Getenv) }

// ConfigFromGetenv is ConfigFromEnv with a custom lookup, for servers and tests.
func ConfigFromGetenv(getenv func(string) string) Config {
	return Config{
		URL:       getenv("LIVEKIT_URL"),
		PublicURL: getenv("LIVEKIT_WS_URL"),
		APIKey:    getenv("LIVEKIT_API_KEY"),
		APISecret: getenv("LIVEKIT_API_SECRET"),
		// The seed's stack runs an older LiveKit than ours (docs/support.md).
		ServerVersion: getenv("LIVEKIT_SERVER_VERSION"),
		Storage:       egress.StorageFromEnv(getenv),
	}
}

// Validate reports every problem at once, naming the environment variable, as
// one ErrInvalidArgument (Op OpConfig).
func (c Config) Validate() error {
	var p []string
	if c.URL == "" {
		p = append(p, "LIVEKIT_URL is not set")
	} else if _, err := lk.HTTPURL(c.URL); err != nil {
		p = append(p, "LIVEKIT_URL "+err.Error())
	}
	if c.PublicURL != "" {
		if _, err := lk.HTTPURL(c.PublicURL); err != nil {
			p = append(p, "LIVEKIT_WS_URL "+err.Error())
		}
	}
	if c.APIKey == "" {
		p = append(p, "LIVEKIT_API_KEY is not set")
	}
	if err := server.Valid(c.ServerVersion); err != nil {
		p = append(p, "LIVEKIT_SERVER_VERSION: "+err.Error())
	}
	switch {
	case c.APISecret == "":
		p = append(p, "LIVEKIT_API_SECRET is not set")
	case len(c.APISecret) < 32:
		p = append(p, fmt.Sprintf("LIVEKIT_API_SECRET is %d characters; LiveKit requires at least 32", len(c.APISecret)))
	}
	if c.Storage.Bucket != "" {
		if err := c.Storage.Validate(); err != nil {
			p = append(p, err.Error())
		}
	}
	if c.Timeout < 0 {
		p = append(p, "timeout must not be negative")
	}
	if len(p) > 0 {
		return errs.Invalid(OpConfig, "%s", strings.Join(p, "; "))
	}
	return nil
}

// WSURL is the WebSocket URL to give clients: PublicURL, or URL made ws(s).
func (c Config) WSURL() string {
	u := c.PublicURL
	if u == "" {
		u = c.URL
	}
	if rest, ok := strings.CutPrefix(u, "http"); ok {
		return "ws" + rest
	}
	return u
}

// LogValue keeps the secret out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", c.URL), slog.String("publicURL", c.PublicURL),
		slog.String("apiKey", c.APIKey), slog.String("apiSecret", "[redacted]"))
}

// String keeps the secret out of %v.
func (c Config) String() string {
	return fmt.Sprintf("{URL:%s PublicURL:%s APIKey:%s APISecret:[redacted] Storage:%v}", c.URL, c.PublicURL, c.APIKey, c.Storage)
}

// Client is a show's connection to LiveKit.
type Client struct {
	Rooms   *rooms.Service
	Tokens  *tokens.Issuer
	Ingress *ingress.Service
	// Egress and Recordings are nil unless Config.Storage names a bucket.
	Egress     *egress.Service
	Recordings *recordings.Store

	cfg     Config
	baseURL string
	http    *http.Client
}

// New checks cfg and builds every service on one HTTP client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = lk.DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
		}}
	}
	base, _ := lk.HTTPURL(cfg.URL) // validated above
	issuer, err := tokens.NewIssuerFor(cfg.APIKey, cfg.APISecret, cfg.ServerVersion)
	if err != nil {
		return nil, err
	}
	// One issuer for every service: the key pair is checked and held once.
	lkcfg := lk.Config{URL: cfg.URL, APIKey: cfg.APIKey, APISecret: cfg.APISecret, Timeout: cfg.Timeout, HTTPClient: cfg.HTTPClient, Issuer: issuer}
	rs, err := rooms.New(lkcfg)
	if err != nil {
		return nil, err
	}
	is, err := ingress.New(lkcfg)
	if err != nil {
		return nil, err
	}
	c := &Client{Rooms: rs, Tokens: issuer, Ingress: is, cfg: cfg, baseURL: base, http: cfg.HTTPClient}
	if st := cfg.Storage; st.Bucket != "" {
		if c.Egress, err = egress.New(lkcfg, st); err != nil {
			return nil, err
		}
		// The bucket follows LiveKit's deadline rule and shares its connection pool.
		c.Recordings, err = recordings.New(recordings.Config{Config: st, Timeout: cfg.Timeout, HTTPClient: cfg.HTTPClient})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Shows returns a shows.Service on this client's services: open, record and close
// a show in one call each. watch (nil allowed) gives shows their phase and is
// what Service.Run follows to record by itself. Call it once and keep the
// Service: it remembers the restream destinations of the shows it opened.
//
// With a SpoolDir (and a bucket) the shows' "audio" is recorded by the shows'
// own recorder (package capture): a hidden subscriber that joins when the show
// is armed, spools to SpoolDir and uploads each part as it ends. Egress keeps
// stems, video and HLS. Keep SpoolDir across restarts: a part cut by a crash is
// continued or uploaded from it.
func (c *Client) Shows(watch *events.Watch, o ...ShowsOptions) (*shows.Service, error) {
	cfg := shows.Config{Rooms: c.Rooms, Ingress: c.Ingress, Tokens: c.Tokens, Egress: c.Egress, Secret: c.cfg.APISecret,
		Recordings: c.Recordings, Watch: watch, URL: c.cfg.WSURL()}
	if len(o) > 0 && o[0].SpoolDir != "" && c.Recordings != nil {
		rec, err := capture.New(capture.Config{URL: c.cfg.WSURL(), Tokens: c.Tokens, Store: c.Recordings, Dir: o[0].SpoolDir, Logger: o[0].Logger,
			MaxBytes: o[0].SpoolMaxBytes, MinFree: o[0].SpoolMinFree})
		if err != nil {
			return nil, err
		}
		cfg.Capture, cfg.Logger = rec, o[0].Logger
	}
	if len(o) > 0 {
		cfg.Loudness = o[0].Loudness
	}
	return shows.New(cfg)
}

// ShowsOptions tune Client.Shows.
type ShowsOptions struct {
	SpoolDir string       // where the shows' own recorder spools audio; empty: egress records it
	Logger   *slog.Logger // slog.Default() when nil
	// The spool's bounds (capture.Config's MaxBytes and MinFree): zero for
	// the defaults.
	SpoolMaxBytes int64
	SpoolMinFree  capture.Free
	// Loudness measures the report's audio files (loudness.New); nil: not measured.
	Loudness *loudness.Meter
}

// Config returns the configuration the client runs with.
func (c *Client) Config() Config { return c.cfg }

var errNotReady = fmt.Errorf("%w: livekit is not ready", errs.ErrUnavailable)

// Health checks LiveKit's readiness endpoint, then an authenticated API call. Its
// error's Op says which check failed: OpHealthReadiness (down, hung or not ready:
// ErrUnavailable) or OpHealthAPI (the API call's own kind, e.g. ErrUnauthorized
// for wrong credentials).
func (c *Client) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+"/", nil)
	if err != nil {
		return errs.Invalid(OpHealthReadiness, "%v", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		e := &errs.Error{Op: OpHealthReadiness, Kind: errNotReady, Upstream: errs.LiveKit, Message: "no answer"}
		if t := errs.Transport(OpHealthReadiness, errs.LiveKit, err); t != nil {
			e.Message, e.Cause = t.Message, t.Cause // never the address in the message
		}
		return e
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &errs.Error{Op: OpHealthReadiness, Kind: errNotReady, Upstream: errs.LiveKit, Message: "GET / answered " + resp.Status}
	}
	if _, err := c.Rooms.List(ctx, "streamkit-health-probe"); err != nil {
		return errs.Relabel(OpHealthAPI, err)
	}
	return nil
}
