// Package config reads the dashboard's settings from flags and DASHBOARD_*
// variables, with the allow-lists for outbound media (hostlist.go) and the
// TURN servers handed to browsers (turn.go).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/spacemusic/capture"
	"github.com/spacemusic/streamkit/spacemusic/loudness"
)

// Settings is the dashboard's configuration: every field from an environment
// variable, a flag of the same meaning overriding it.
type Settings struct {
	Addr            string
	Dev             bool
	APIKeys         []access.APIKey // DASHBOARD_API_KEYS: key[:role], comma separated
	TrustedProxies  []netip.Prefix
	ProxySecret     string // DASHBOARD_PROXY_SECRET: the forward-auth proxy's proof; never logged
	AdminGroup      string
	OperatorGroup   string
	AllowAllAdmin   bool
	JWKSURL         string
	JWTIssuer       string
	JWTAudience     string
	JWTGroupsClaim  string
	CORSOrigins     []string
	RateLimit       float64 // requests per second per client
	RateBurst       int
	BodyLimit       int64
	MetricsPublic   bool
	MetricsRooms    int // DASHBOARD_METRICS_ROOMS: rooms labelled in /metrics; the rest are room="_other"
	LogLevel        slog.Level
	LiveKitTimeout  time.Duration
	HealthTimeout   time.Duration
	TURN            []TURNServer // what /api/health checks of the TURN servers listeners use
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	ShutdownTimeout time.Duration
	PullAllow       HostList // DASHBOARD_PULL_ALLOW: hosts URL pulls may read from
	RestreamAllow   HostList // DASHBOARD_RESTREAM_ALLOW: hosts restreams may send to
	RedisURL        string   // REDIS_URL: the shared event log; never logged (may hold a password)
	Resync          time.Duration
	SpoolDir        string        // DASHBOARD_SPOOL_DIR: the shows' recorder spools audio here
	ShowsRun        bool          // DASHBOARD_SHOWS_RUN: this replica starts shows' recordings by itself
	MonitorSilence  time.Duration // DASHBOARD_MONITOR_SILENCE: the monitor calls a live track silent after this
	IngressHealth   string        // DASHBOARD_INGRESS_HEALTH_URL: Ingress's health_port, for the doctor
	EgressHealth    string        // DASHBOARD_EGRESS_HEALTH_URL: Egress's health_port, for the doctor
	LiveKitMetrics  string        // DASHBOARD_LIVEKIT_METRICS_URL: LiveKit's Prometheus endpoint, for the rehearsal's SFU CPU

	// Bounds on /metrics and the recorder's spool (issue 23).
	MetricsPublicRooms bool         // DASHBOARD_METRICS_PUBLIC_ROOMS: per-room series to anonymous scrapes too
	SpoolMaxBytes      int64        // DASHBOARD_SPOOL_MAX_BYTES: the recorder's spool limit
	SpoolMinFree       capture.Free // DASHBOARD_SPOOL_MIN_FREE: free space the spool's file system keeps

	// What one request or one principal may cost (costs.go).
	LogMaxEvents          int64         // DASHBOARD_LOG_MAX_EVENTS: events the Redis log keeps
	LogMaxBytes           int64         // DASHBOARD_LOG_MAX_BYTES: bytes the Redis log's stream may take
	StreamsPerPrincipal   int           // DASHBOARD_STREAMS_PER_PRINCIPAL: open event streams per signed-in user
	DownloadsPerPrincipal int           // DASHBOARD_DOWNLOADS_PER_PRINCIPAL: concurrent downloads per signed-in user
	DownloadMax           time.Duration // DASHBOARD_DOWNLOAD_MAX: the longest one download may take

	// The show report's loudness (issue 28).
	LoudnessTarget float64 // DASHBOARD_LOUDNESS_TARGET: LUFS recordings are flagged against
	FFmpeg         string  // DASHBOARD_FFMPEG: the binary that measures them
}

// setting describes one knob for -help and the README.
type setting struct {
	Env, Flag, Def, help string
	set                  func(s *Settings, v string) error
}

func (k setting) isBool() bool { return k.Def == "true" || k.Def == "false" }

var Knobs = []setting{
	{"DASHBOARD_ADDR", "addr", "127.0.0.1:8080", "listen address, host:port", func(s *Settings, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%q is not host:port", v)
		}
		s.Addr = v
		return nil
	}},
	{"DASHBOARD_DEV", "dev", "false", "start a local real LiveKit and serve without auth (loudly logged)", func(s *Settings, v string) (err error) {
		s.Dev, err = strconv.ParseBool(v)
		return err
	}},
	{"DASHBOARD_API_KEYS", "api-keys", "", "comma-separated API keys for X-API-Key (?api_key= on /metrics only), each key:admin, key:operator or key:viewer; a bare key is an operator's", func(s *Settings, v string) (err error) {
		s.APIKeys, err = access.ParseAPIKeys(v)
		return err
	}},
	{"DASHBOARD_TRUSTED_PROXIES", "trusted-proxies", "", "CIDRs whose X-authentik-* headers are honoured (the forward-auth proxy)", func(s *Settings, v string) error {
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
	{"DASHBOARD_PROXY_SECRET", "proxy-secret", "", "secret the forward-auth proxy sends in X-Dashboard-Proxy-Secret (required with trusted proxies, at least 16 characters)", func(s *Settings, v string) error {
		if v != "" && len(v) < 16 {
			return fmt.Errorf("must have at least 16 characters")
		}
		s.ProxySecret = v
		return nil
	}},
	{"DASHBOARD_ADMIN_GROUP", "admin-group", "", "group whose members are admins (required unless DASHBOARD_ALLOW_ALL_ADMIN=true)", func(s *Settings, v string) error { s.AdminGroup = v; return nil }},
	{"DASHBOARD_OPERATOR_GROUP", "operator-group", "", "group whose members are operators; anyone else signed in is a viewer", func(s *Settings, v string) error { s.OperatorGroup = v; return nil }},
	{"DASHBOARD_ALLOW_ALL_ADMIN", "allow-all-admin", "false", "make every signed-in person an admin (no admin group; loudly logged)", func(s *Settings, v string) (err error) {
		s.AllowAllAdmin, err = strconv.ParseBool(v)
		return err
	}},
	{"DASHBOARD_JWKS_URL", "jwks-url", "", "JWKS URL of the identity provider for Bearer tokens (empty: Bearer off)", func(s *Settings, v string) error {
		if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return fmt.Errorf("must be an http(s) URL")
		}
		s.JWKSURL = v
		return nil
	}},
	{"DASHBOARD_JWT_ISSUER", "jwt-issuer", "", "required iss of Bearer tokens", func(s *Settings, v string) error { s.JWTIssuer = v; return nil }},
	{"DASHBOARD_JWT_AUDIENCE", "jwt-audience", "", "required aud of Bearer tokens", func(s *Settings, v string) error { s.JWTAudience = v; return nil }},
	{"DASHBOARD_JWT_GROUPS_CLAIM", "jwt-groups-claim", "groups", "claim of Bearer tokens holding the user's groups (a.b walks into nested objects)", func(s *Settings, v string) error {
		s.JWTGroupsClaim = v
		return nil
	}},
	{"DASHBOARD_CORS_ORIGINS", "cors-origins", "", "comma-separated origins allowed to call the API from a browser", func(s *Settings, v string) error { s.CORSOrigins = splitList(v); return nil }},
	{"DASHBOARD_RATE_LIMIT", "rate-limit", "20", "requests per second per client", func(s *Settings, v string) (err error) {
		s.RateLimit, err = strconv.ParseFloat(v, 64)
		if err == nil && s.RateLimit <= 0 {
			err = fmt.Errorf("must be positive")
		}
		return err
	}},
	{"DASHBOARD_RATE_BURST", "rate-burst", "40", "burst per client", func(s *Settings, v string) (err error) {
		s.RateBurst, err = strconv.Atoi(v)
		if err == nil && s.RateBurst <= 0 {
			err = fmt.Errorf("must be positive")
		}
		return err
	}},
	{"DASHBOARD_BODY_LIMIT", "body-limit", "65536", "largest accepted request body in bytes", func(s *Settings, v string) (err error) {
		s.BodyLimit, err = strconv.ParseInt(v, 10, 64)
		if err == nil && s.BodyLimit <= 0 {
			err = fmt.Errorf("must be positive")
		}
		return err
	}},
	{"DASHBOARD_METRICS_PUBLIC", "metrics-public", "true", "serve /metrics without auth (false: the API's auth applies)", func(s *Settings, v string) (err error) {
		s.MetricsPublic, err = strconv.ParseBool(v)
		return err
	}},
	{"DASHBOARD_METRICS_ROOMS", "metrics-rooms", "50", `rooms with their own label in /metrics' per-room series (the busiest); the rest are summed as room="_other"`, func(s *Settings, v string) (err error) {
		s.MetricsRooms, err = strconv.Atoi(v)
		if err == nil && s.MetricsRooms < 0 {
			err = fmt.Errorf("must not be negative")
		}
		return err
	}},
	{"DASHBOARD_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", func(s *Settings, v string) error {
		return s.LogLevel.UnmarshalText([]byte(v))
	}},
	{"DASHBOARD_LIVEKIT_TIMEOUT", "livekit-timeout", "5s", "deadline of each call to LiveKit", func(s *Settings, v string) (err error) {
		s.LiveKitTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_RESYNC", "resync", "30s", "how often the live model lists LiveKit again, to find what lost webhooks did not say", func(s *Settings, v string) (err error) {
		s.Resync, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_SHOWS_RUN", "shows-run", "true", "start shows' recording plans by themselves when the music starts (armed recording); with several replicas set true on exactly one", func(s *Settings, v string) (err error) {
		s.ShowsRun, err = strconv.ParseBool(v)
		return err
	}},
	{"DASHBOARD_SPOOL_DIR", "spool-dir", "", "where the shows' own audio recorder spools each part until it is uploaded; keep it across restarts (a part cut by a crash is continued or uploaded from it). Empty: a folder per LiveKit URL in the user's cache directory", func(s *Settings, v string) error {
		s.SpoolDir = v
		return nil
	}},
	{"DASHBOARD_MONITOR_SILENCE", "monitor-silence", "5s", "the page's monitor says a live audio track is silent after this much silence", func(s *Settings, v string) (err error) {
		s.MonitorSilence, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_METRICS_PUBLIC_ROOMS", "metrics-public-rooms", "false", "serve /metrics' per-room series (labelled with show names) to anonymous scrapes too; by default only scrapes with credentials (X-API-Key, or an API key as Bearer: Prometheus's authorization.credentials_file) get them", func(s *Settings, v string) (err error) {
		s.MetricsPublicRooms, err = strconv.ParseBool(v)
		return err
	}},
	{"DASHBOARD_SPOOL_MAX_BYTES", "spool-max-bytes", "4294967296", "the most the shows' recorder spools, bytes; past it the part being written ends there (uploaded as it is; nothing spooled is lost), new audio is not recorded, and the show says so (spool_full event, dashboard_spool_full, a problem) until uploads make room; -1: no limit", func(s *Settings, v string) (err error) {
		s.SpoolMaxBytes, err = strconv.ParseInt(v, 10, 64)
		if err == nil && (s.SpoolMaxBytes == 0 || s.SpoolMaxBytes < -1) {
			err = fmt.Errorf("must be positive, or -1 for no limit")
		}
		return err
	}},
	{"DASHBOARD_SPOOL_MIN_FREE", "spool-min-free", "5%", "free space the spool's file system keeps, as a percentage of it (5%) or bytes; reaching it holds the show's audio back as the limit does; 0: no floor", func(s *Settings, v string) (err error) {
		s.SpoolMinFree, err = capture.ParseFree(v)
		if err == nil && s.SpoolMinFree.IsZero() {
			s.SpoolMinFree = capture.Free{Bytes: -1} // no floor (zero would be the library's default)
		}
		return err
	}},
	{"REDIS_URL", "redis-url", "", "Redis for the shared event log (replicas share one timeline; history survives restarts), e.g. LiveKit's own; empty: in memory", func(s *Settings, v string) error {
		if v != "" && !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") {
			return fmt.Errorf("must be a redis:// or rediss:// URL")
		}
		s.RedisURL = v
		return nil
	}},
	{"DASHBOARD_INGRESS_HEALTH_URL", "ingress-health-url", "", "Ingress's health URL (its health_port), which the doctor checks", func(s *Settings, v string) (err error) {
		s.IngressHealth, err = healthURL(v)
		return err
	}},
	{"DASHBOARD_EGRESS_HEALTH_URL", "egress-health-url", "", "Egress's health URL (its health_port), which the doctor checks", func(s *Settings, v string) (err error) {
		s.EgressHealth, err = healthURL(v)
		return err
	}},
	{"DASHBOARD_LIVEKIT_METRICS_URL", "livekit-metrics-url", "", "LiveKit's Prometheus endpoint (http://host:port/metrics, on LiveKit's host), from which a rehearsal reads the SFU's CPU", func(s *Settings, v string) (err error) {
		s.LiveKitMetrics, err = healthURL(v)
		return err
	}},
	{"DASHBOARD_HEALTH_TIMEOUT", "health-timeout", "2s", "deadline of /api/health's checks of LiveKit", func(s *Settings, v string) (err error) {
		s.HealthTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_TURN", "turn", "", "TURN servers listeners reach LiveKit through, comma-separated turn:host:port?transport=udp and turns:host:port?transport=tcp URIs (LiveKit's embedded TURN hands out turns:<turn.domain>:443); /api/health says whether each answers (a STUN binding request, a TCP connect) within DASHBOARD_HEALTH_TIMEOUT. Empty: not checked", func(s *Settings, v string) (err error) {
		s.TURN, err = ParseTURN(v)
		return err
	}},
	{"DASHBOARD_READ_TIMEOUT", "read-timeout", "15s", "limit for reading a request, headers and body", func(s *Settings, v string) (err error) {
		s.ReadTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_WRITE_TIMEOUT", "write-timeout", "30s", "limit for handling a request and writing the answer", func(s *Settings, v string) (err error) {
		s.WriteTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_IDLE_TIMEOUT", "idle-timeout", "2m", "how long idle keep-alive connections stay open", func(s *Settings, v string) (err error) {
		s.IdleTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_SHUTDOWN_TIMEOUT", "shutdown-timeout", "20s", "how long in-flight requests may finish after SIGTERM", func(s *Settings, v string) (err error) {
		s.ShutdownTimeout, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_PULL_ALLOW", "pull-allow", "", "hosts URL pulls may read from: names, *.domain, IPs, CIDRs (empty: URL pulls are off)", func(s *Settings, v string) (err error) {
		s.PullAllow, err = ParseHostList(v)
		return err
	}},
	{"DASHBOARD_RESTREAM_ALLOW", "restream-allow", DefaultRestreamAllow, "hosts restreams may send to: names, *.domain, IPs, CIDRs (none: restreams are off)", func(s *Settings, v string) (err error) {
		s.RestreamAllow, err = ParseHostList(v)
		return err
	}},
	{"DASHBOARD_LOG_MAX_EVENTS", "log-max-events", "100000", "events the shared Redis log keeps (the oldest go first)", func(s *Settings, v string) (err error) {
		s.LogMaxEvents, err = positiveInt(v)
		return err
	}},
	{"DASHBOARD_LOG_MAX_BYTES", "log-max-bytes", "67108864", "bytes the shared Redis log's stream may take (the oldest events go first)", func(s *Settings, v string) (err error) {
		s.LogMaxBytes, err = positiveInt(v)
		return err
	}},
	{"DASHBOARD_STREAMS_PER_PRINCIPAL", "streams-per-principal", "8", "event streams one signed-in user (an API key; in dev mode an address) may hold open", func(s *Settings, v string) error {
		n, err := positiveInt(v)
		s.StreamsPerPrincipal = int(n)
		return err
	}},
	{"DASHBOARD_DOWNLOADS_PER_PRINCIPAL", "downloads-per-principal", "4", "recordings one signed-in user may download through the dashboard at once", func(s *Settings, v string) error {
		n, err := positiveInt(v)
		s.DownloadsPerPrincipal = int(n)
		return err
	}},
	{"DASHBOARD_DOWNLOAD_MAX", "download-max", "30m", "the longest one download through the dashboard may take; it is cut then", func(s *Settings, v string) (err error) {
		s.DownloadMax, err = positiveDuration(v)
		return err
	}},
	{"DASHBOARD_LOUDNESS_TARGET", "loudness-target", "-16", "integrated loudness (LUFS, -70 to -1) the show report flags recordings against: more than 3 LU away, or a true peak above -1 dBTP; a live show whose short-term loudness stays more than 3 LU from it for 10 s gets loudness_off_target", func(s *Settings, v string) (err error) {
		s.LoudnessTarget, err = strconv.ParseFloat(v, 64)
		if err == nil {
			err = (loudness.Config{Target: s.LoudnessTarget}).Check()
		}
		return err
	}},
	{"DASHBOARD_FFMPEG", "ffmpeg", "ffmpeg", "ffmpeg, which measures the show report's loudness and, one per show being recorded, each show's live loudness: an absolute path or a name looked up in PATH; missing: the report says why the figures are absent, and shows are recorded without live figures (logged once)", func(s *Settings, v string) error {
		s.FFmpeg = v
		return (loudness.Config{FFmpeg: v}).Check()
	}},
}

// positiveInt is a whole number above zero.
func positiveInt(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil && n <= 0 {
		err = fmt.Errorf("must be positive")
	}
	return n, err
}

// ErrHelp reports that -help was asked for and answered.
var ErrHelp = errors.New("help shown")

// Load applies defaults, then the environment, then flags; the first
// invalid value stops start-up with the setting's name.
func Load(args []string, getenv func(string) string, out io.Writer) (Settings, error) {
	var s Settings
	values := map[string]string{}
	for _, k := range Knobs {
		values[k.Flag] = k.Def
		if v := getenv(k.Env); v != "" {
			values[k.Flag] = v
		}
	}
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.SetOutput(out)
	for _, k := range Knobs {
		k := k
		if k.isBool() {
			fs.BoolFunc(k.Flag, fmt.Sprintf("%s (env %s, default %s)", k.help, k.Env, k.Def), func(v string) error { values[k.Flag] = v; return nil })
			continue
		}
		fs.Func(k.Flag, fmt.Sprintf("%s (env %s, default %q)", k.help, k.Env, k.Def), func(v string) error { values[k.Flag] = v; return nil })
	}
	fs.Usage = func() {
		fmt.Fprint(out, usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return s, ErrHelp
		}
		return s, err
	}
	for _, k := range Knobs {
		if err := k.set(&s, values[k.Flag]); err != nil {
			return s, fmt.Errorf("invalid %s (-%s): %v", k.Env, k.Flag, err)
		}
	}
	return s, s.check()
}

const usageHead = `Usage: dashboard [flags]
       dashboard healthcheck
       dashboard doctor [-json] [flags]

The reference dashboard server: rooms, participants, tokens, ingress and
recordings of a live-music show on LiveKit, as a web page at / and a JSON API
(GET /api/openapi.json describes it). "dashboard healthcheck" asks the
dashboard on DASHBOARD_ADDR for /api/health (within 4 s) and exits 0 only on
a 200: the container image's health check (it has no curl). "dashboard
doctor" checks the deployment end to end (LiveKit and the key, clocks,
LIVEKIT_WS_URL, webhooks, Ingress, Egress, the bucket, downloads), one line per
check with its fix; it exits 1 when a check fails.

LiveKit, from the environment only (LiveKit's own variables):
  LIVEKIT_URL         server API as this process reaches it (http(s) or ws(s))
  LIVEKIT_WS_URL      public WebSocket URL handed out with tokens (default LIVEKIT_URL)
  LIVEKIT_API_KEY     API key
  LIVEKIT_API_SECRET  API secret, at least 32 characters; never logged
  LIVEKIT_SERVER_VERSION  livekit-server release in use, e.g. v1.6.1 (default: the
                      one streamkit pins); docs/support.md says what differs
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
func (s Settings) check() error {
	if s.JWKSURL != "" && (s.JWTIssuer == "" || s.JWTAudience == "") {
		return fmt.Errorf("invalid DASHBOARD_JWKS_URL (-jwks-url): Bearer tokens need DASHBOARD_JWT_ISSUER and DASHBOARD_JWT_AUDIENCE too, or any token of the identity provider would do")
	}
	if len(s.TrustedProxies) > 0 && s.ProxySecret == "" {
		return fmt.Errorf("invalid DASHBOARD_TRUSTED_PROXIES (-trusted-proxies): forward auth needs DASHBOARD_PROXY_SECRET too, sent by the proxy in %s; an address alone is not proof", access.ProxySecretHeader)
	}
	if !s.Dev && s.AdminGroup == "" && !s.AllowAllAdmin {
		return fmt.Errorf("DASHBOARD_ADMIN_GROUP (-admin-group) is not set: name the group whose members are admins, or set DASHBOARD_ALLOW_ALL_ADMIN=true to make every signed-in person an admin")
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

// healthURL accepts an http(s) URL without credentials (the doctor shows it).
func healthURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("must be an http(s) URL without credentials")
	}
	return v, nil
}

// AuthConfig is what the authenticator needs of the settings.
func (s Settings) AuthConfig() access.Config {
	return access.Config{Dev: s.Dev, Keys: s.APIKeys, Proxies: s.TrustedProxies, ProxySecret: s.ProxySecret,
		AdminGroup: s.AdminGroup, OperatorGroup: s.OperatorGroup, AllowAllAdmin: s.AllowAllAdmin, GroupsClaim: s.JWTGroupsClaim,
		JWKSURL: s.JWKSURL, Issuer: s.JWTIssuer, Audience: s.JWTAudience}
}
