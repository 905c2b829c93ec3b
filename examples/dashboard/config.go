package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
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
	LiveKitTimeout  time.Duration
	ShutdownTimeout time.Duration
}

// setting describes one knob for -help and the README.
type setting struct {
	env, flag, def, help string
	set                  func(s *settings, v string) error
}

var knobs = []setting{
	{"DASHBOARD_ADDR", "addr", "127.0.0.1:8080", "listen address", func(s *settings, v string) error { s.Addr = v; return nil }},
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
	{"DASHBOARD_LIVEKIT_TIMEOUT", "livekit-timeout", "5s", "deadline of each call to LiveKit", func(s *settings, v string) (err error) {
		s.LiveKitTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_SHUTDOWN_TIMEOUT", "shutdown-timeout", "20s", "how long in-flight requests may finish after SIGTERM", func(s *settings, v string) (err error) {
		s.ShutdownTimeout, err = positiveDuration(v)
		return err
	}},
}

// flagHelp reports that -help was asked for and answered.
var flagHelp = errors.New("help shown")

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
		if k.flag == "dev" {
			fs.BoolFunc(k.flag, k.help+" (env "+k.env+")", func(v string) error { values[k.flag] = v; return nil })
			continue
		}
		fs.Func(k.flag, fmt.Sprintf("%s (env %s, default %q)", k.help, k.env, k.def), func(v string) error { values[k.flag] = v; return nil })
	}
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: dashboard [flags]\n\nLiveKit: LIVEKIT_URL, LIVEKIT_WS_URL (public), LIVEKIT_API_KEY, LIVEKIT_API_SECRET.\nStorage for recordings: MINIO_ENDPOINT, MINIO_BUCKET, MINIO_ACCESS_KEY, MINIO_SECRET_KEY, MINIO_REGION.\n\nFlags (each also an environment variable):")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return s, flagHelp
		}
		return s, err
	}
	for _, k := range knobs {
		if err := k.set(&s, values[k.flag]); err != nil {
			return s, fmt.Errorf("invalid %s (-%s): %v", k.env, k.flag, err)
		}
	}
	return s, nil
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
