package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// settings is the dashboard's configuration: every field from an environment
// variable, a flag of the same meaning overriding it.
type settings struct {
	Addr            string
	Dev             bool
	APIKeys         []string // DASHBOARD_API_KEYS, comma separated
	TrustedProxies  []netip.Prefix
	AdminGroup      string
	JWKSURL         string
	JWTIssuer       string
	JWTAudience     string
	CORSOrigins     []string
	RateLimit       float64 // requests per second per client
	RateBurst       int
	BodyLimit       int64
	MetricsPublic   bool
	LogLevel        slog.Level
	LiveKitTimeout  time.Duration
	HealthTimeout   time.Duration
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	ShutdownTimeout time.Duration
}

// setting describes one knob for -help and the README.
type setting struct {
	env, flag, def, help string
	set                  func(s *settings, v string) error
}

func (k setting) isBool() bool { return k.def == "true" || k.def == "false" }

var knobs = []setting{
	{"DASHBOARD_ADDR", "addr", "127.0.0.1:8080", "listen address, host:port", func(s *settings, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%q is not host:port", v)
		}
		s.Addr = v
		return nil
	}},
	{"DASHBOARD_DEV", "dev", "false", "start a local real LiveKit and serve without auth (loudly logged)", func(s *settings, v string) (err error) {
		s.Dev, err = strconv.ParseBool(v)
		return err
	}},
	{"DASHBOARD_API_KEYS", "api-keys", "", "comma-separated API keys accepted in X-API-Key or ?api_key=", func(s *settings, v string) error {
		s.APIKeys = splitList(v)
		for _, k := range s.APIKeys {
			if len(k) < 16 {
				return fmt.Errorf("every key must have at least 16 characters")
			}
		}
		return nil
	}},
	{"DASHBOARD_TRUSTED_PROXIES", "trusted-proxies", "", "CIDRs whose X-authentik-* headers are honoured (the forward-auth proxy)", func(s *settings, v string) error {
		s.TrustedProxies = nil
		for _, c := range splitList(v) {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR", c)
			}
			s.TrustedProxies = append(s.TrustedProxies, p.Masked())
		}
		return nil
	}},
	{"DASHBOARD_ADMIN_GROUP", "admin-group", "", "group required for destructive actions (empty: every authenticated user)", func(s *settings, v string) error { s.AdminGroup = v; return nil }},
	{"DASHBOARD_JWKS_URL", "jwks-url", "", "JWKS URL of the identity provider for Bearer tokens (empty: Bearer off)", func(s *settings, v string) error {
		if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return fmt.Errorf("must be an http(s) URL")
		}
		s.JWKSURL = v
		return nil
	}},
	{"DASHBOARD_JWT_ISSUER", "jwt-issuer", "", "required iss of Bearer tokens", func(s *settings, v string) error { s.JWTIssuer = v; return nil }},
	{"DASHBOARD_JWT_AUDIENCE", "jwt-audience", "", "required aud of Bearer tokens", func(s *settings, v string) error { s.JWTAudience = v; return nil }},
	{"DASHBOARD_CORS_ORIGINS", "cors-origins", "", "comma-separated origins allowed to call the API from a browser", func(s *settings, v string) error { s.CORSOrigins = splitList(v); return nil }},
	{"DASHBOARD_RATE_LIMIT", "rate-limit", "20", "requests per second per client", func(s *settings, v string) (err error) {
		s.RateLimit, err = strconv.ParseFloat(v, 64)
		if err == nil && s.RateLimit <= 0 {
			err = fmt.Errorf("must be positive")
		}
		return err
	}},
	{"DASHBOARD_RATE_BURST", "rate-burst", "40", "burst per client", func(s *settings, v string) (err error) {
		s.RateBurst, err = strconv.Atoi(v)
		if err == nil && s.RateBurst <= 0 {
			err = fmt.Errorf("must be positive")
		}
		return err
	}},
	{"DASHBOARD_BODY_LIMIT", "body-limit", "65536", "largest accepted request body in bytes", func(s *settings, v string) (err error) {
		s.BodyLimit, err = strconv.ParseInt(v, 10, 64)
		if err == nil && s.BodyLimit <= 0 {
			err = fmt.Errorf("must be positive")
		}
		return err
	}},
	{"DASHBOARD_METRICS_PUBLIC", "metrics-public", "true", "serve /metrics without auth (false: the API's auth applies)", func(s *settings, v string) (err error) {
		s.MetricsPublic, err = strconv.ParseBool(v)
		return err
	}},
	{"DASHBOARD_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", func(s *settings, v string) error {
		return s.LogLevel.UnmarshalText([]byte(v))
	}},
	{"DASHBOARD_LIVEKIT_TIMEOUT", "livekit-timeout", "5s", "deadline of each call to LiveKit", func(s *settings, v string) (err error) {
		s.LiveKitTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_HEALTH_TIMEOUT", "health-timeout", "2s", "deadline of /api/health's checks of LiveKit", func(s *settings, v string) (err error) {
		s.HealthTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_READ_TIMEOUT", "read-timeout", "15s", "limit for reading a request, headers and body", func(s *settings, v string) (err error) {
		s.ReadTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_WRITE_TIMEOUT", "write-timeout", "30s", "limit for handling a request and writing the answer", func(s *settings, v string) (err error) {
		s.WriteTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_IDLE_TIMEOUT", "idle-timeout", "2m", "how long idle keep-alive connections stay open", func(s *settings, v string) (err error) {
		s.IdleTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_SHUTDOWN_TIMEOUT", "shutdown-timeout", "20s", "how long in-flight requests may finish after SIGTERM", func(s *settings, v string) (err error) {
		s.ShutdownTimeout, err = positiveDuration(v)
		return err
	}},
}

// errHelp reports that -help was asked for and answered.
var errHelp = errors.New("help shown")

// loadSettings applies defaults, then the environment, then flags; the first
// invalid value stops start-up with the setting's name.
func loadSettings(args []string, getenv func(string) string, out io.Writer) (settings, error) {
	var s settings
	values := map[string]string{}
	for _, k := range knobs {
		values[k.flag] = k.def
		if v := getenv(k.env); v != "" {
			values[k.flag] = v
		}
	}
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.SetOutput(out)
	for _, k := range knobs {
		k := k
		if k.isBool() {
			fs.BoolFunc(k.flag, fmt.Sprintf("%s (env %s, default %s)", k.help, k.env, k.def), func(v string) error { values[k.flag] = v; return nil })
			continue
		}
		fs.Func(k.flag, fmt.Sprintf("%s (env %s, default %q)", k.help, k.env, k.def), func(v string) error { values[k.flag] = v; return nil })
	}
	fs.Usage = func() {
		fmt.Fprint(out, usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return s, errHelp
		}
		return s, err
	}
	for _, k := range knobs {
		if err := k.set(&s, values[k.flag]); err != nil {
			return s, fmt.Errorf("invalid %s (-%s): %v", k.env, k.flag, err)
		}
	}
	return s, s.check()
}

const usageHead = `Usage: dashboard [flags]

The reference dashboard server: rooms, participants, tokens, ingress and
recordings of a live-music show on LiveKit, as a web page at / and a JSON API
(GET /api/openapi.json describes it).

LiveKit, from the environment only (the seed's variables):
  LIVEKIT_URL         server API as this process reaches it (http(s) or ws(s))
  LIVEKIT_WS_URL      public WebSocket URL handed out with tokens (default LIVEKIT_URL)
  LIVEKIT_API_KEY     API key
  LIVEKIT_API_SECRET  API secret, at least 32 characters; never logged
Recordings (optional; without MINIO_BUCKET /api/egress and /api/recordings
answer 501 not_configured):
  MINIO_ENDPOINT      http(s)://host:port of MinIO or another S3-compatible store
  MINIO_BUCKET        bucket egress records into (created if missing)
  MINIO_ACCESS_KEY    access key
  MINIO_SECRET_KEY    secret key; never logged
  MINIO_REGION        region (default us-east-1; never sent empty)
  MINIO_PUBLIC_ENDPOINT  http(s)://host:port browsers reach the store at;
                      download links are signed for it (default MINIO_ENDPOINT)
  MINIO_RETENTION_DAYS   days a bucket the dashboard creates keeps recordings
                      (default 30; 0 keeps them forever); an existing bucket's
                      lifecycle rules are never changed
With -dev none is needed: a local LiveKit (and, when installed, Ingress, Egress
and MinIO) is started for this process.

Flags, each also an environment variable (the flag wins):
`

// check refuses combinations that are each valid but together unsafe.
func (s settings) check() error {
	if s.JWKSURL != "" && (s.JWTIssuer == "" || s.JWTAudience == "") {
		return fmt.Errorf("invalid DASHBOARD_JWKS_URL (-jwks-url): Bearer tokens need DASHBOARD_JWT_ISSUER and DASHBOARD_JWT_AUDIENCE too, or any token of the identity provider would do")
	}
	if s.Dev {
		host, _, err := net.SplitHostPort(s.Addr)
		ip, perr := netip.ParseAddr(host)
		if err != nil || (host != "localhost" && (perr != nil || !ip.IsLoopback())) {
			return fmt.Errorf("invalid DASHBOARD_ADDR (-addr): -dev serves without authentication, so only on a loopback address such as 127.0.0.1:8080")
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err == nil && d <= 0 {
		err = fmt.Errorf("must be positive")
	}
	return d, err
}
