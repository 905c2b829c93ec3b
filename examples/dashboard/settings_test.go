package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/spacemusic/capture"
)

// Invalid settings stop start-up, naming the setting.
func TestInvalidSettingsStopStartUp(t *testing.T) {
	for name, c := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"proxies":    {map[string]string{"DASHBOARD_TRUSTED_PROXIES": "10.0.0.0/8,nonsense"}, nil, "DASHBOARD_TRUSTED_PROXIES"},
		"rate":       {map[string]string{"DASHBOARD_RATE_LIMIT": "-3"}, nil, "DASHBOARD_RATE_LIMIT"},
		"jwks url":   {map[string]string{"DASHBOARD_JWKS_URL": "ftp://idp"}, nil, "DASHBOARD_JWKS_URL"},
		"jwks alone": {map[string]string{"DASHBOARD_JWKS_URL": "https://idp/jwks"}, nil, "DASHBOARD_JWT_ISSUER"},
		"short key":  {map[string]string{"DASHBOARD_API_KEYS": "short"}, nil, "DASHBOARD_API_KEYS"},
		"timeout":    {map[string]string{"DASHBOARD_LIVEKIT_TIMEOUT": "soon"}, nil, "DASHBOARD_LIVEKIT_TIMEOUT"},
		"log level":  {nil, []string{"-log-level", "chatty"}, "DASHBOARD_LOG_LEVEL"},
		"addr":       {nil, []string{"-addr", "8080"}, "DASHBOARD_ADDR"},
		"dev public": {nil, []string{"-dev", "-addr", "0.0.0.0:8080"}, "loopback"},
		"livekit":    {nil, nil, "LIVEKIT_URL is not set"},
		// No admin group is not "everyone is admin": start-up refuses.
		"no admin group": {map[string]string{"DASHBOARD_ADMIN_GROUP": ""}, nil, "DASHBOARD_ADMIN_GROUP"},
		// An address alone is no proof of the proxy: the secret is required.
		"proxy without secret": {map[string]string{"DASHBOARD_TRUSTED_PROXIES": "127.0.0.1/32"}, nil, "DASHBOARD_PROXY_SECRET"},
		"short proxy secret":   {map[string]string{"DASHBOARD_PROXY_SECRET": "short"}, nil, "DASHBOARD_PROXY_SECRET"},
		"short key with role":  {map[string]string{"DASHBOARD_API_KEYS": "short:admin"}, nil, "DASHBOARD_API_KEYS"},
		"spool limit":          {map[string]string{"DASHBOARD_SPOOL_MAX_BYTES": "0"}, nil, "DASHBOARD_SPOOL_MAX_BYTES"},
		"spool floor":          {map[string]string{"DASHBOARD_SPOOL_MIN_FREE": "100%"}, nil, "DASHBOARD_SPOOL_MIN_FREE"},
		"spool floor unit":     {nil, []string{"-spool-min-free", "1GiB"}, "DASHBOARD_SPOOL_MIN_FREE"},
		"secret": {map[string]string{"LIVEKIT_URL": "http://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "short"},
			nil, "LIVEKIT_API_SECRET is 5 characters"},
		"server version": {map[string]string{"LIVEKIT_URL": "http://127.0.0.1:7880", "LIVEKIT_API_KEY": "k",
			"LIVEKIT_API_SECRET": strings.Repeat("s", 32), "LIVEKIT_SERVER_VERSION": "latest"}, nil, "LIVEKIT_SERVER_VERSION"},
	} {
		t.Run(name, func(t *testing.T) {
			var out strings.Builder
			getenv := func(k string) string {
				if v, ok := c.env[k]; ok {
					return v
				}
				return map[string]string{"DASHBOARD_ADMIN_GROUP": adminGroup}[k] // as every production start has
			}
			err := run(context.Background(), append([]string{"dashboard"}, c.args...), getenv, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "short", "the secret is not echoed") // "short" is the bad secret and bad key
		})
	}
	// A flag overrides its environment variable.
	s, err := config.Load([]string{"-rate-limit", "7"}, func(k string) string {
		return map[string]string{"DASHBOARD_RATE_LIMIT": "3", "DASHBOARD_ADMIN_GROUP": adminGroup}[k]
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 7.0, s.RateLimit)
}

// -help documents every setting with its environment variable and default, as the
// README promises, and those defaults are what start-up really uses.
func TestHelpListsEverySetting(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), []string{"dashboard", "-help"}, func(string) string { return "" }, &out))
	for _, k := range config.Knobs {
		assert.Contains(t, out.String(), "-"+k.Flag, k.Flag)
		assert.Contains(t, out.String(), k.Env, k.Env)
	}
	for _, v := range []string{"LIVEKIT_URL", "LIVEKIT_WS_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"} {
		assert.Contains(t, out.String(), v)
	}

	// What the README promises, written out here rather than read from knobs: each
	// setting, its flag, the default as -help shows it and as the README's table says it.
	restreamDefault := "a.rtmp.youtube.com,b.rtmp.youtube.com,*.contribute.live-video.net,live.twitch.tv,live-api-s.facebook.com"
	promised := []struct{ env, flag, help, readme string }{
		{"DASHBOARD_ADDR", "addr", `"127.0.0.1:8080"`, "127.0.0.1:8080"},
		{"DASHBOARD_DEV", "dev", "false", "false"},
		{"DASHBOARD_API_KEYS", "api-keys", `""`, ""},
		{"DASHBOARD_TRUSTED_PROXIES", "trusted-proxies", `""`, ""},
		{"DASHBOARD_PROXY_SECRET", "proxy-secret", `""`, ""},
		{"DASHBOARD_ADMIN_GROUP", "admin-group", `""`, ""},
		{"DASHBOARD_OPERATOR_GROUP", "operator-group", `""`, ""},
		{"DASHBOARD_ALLOW_ALL_ADMIN", "allow-all-admin", "false", "false"},
		{"DASHBOARD_JWKS_URL", "jwks-url", `""`, ""},
		{"DASHBOARD_JWT_ISSUER", "jwt-issuer", `""`, ""},
		{"DASHBOARD_JWT_AUDIENCE", "jwt-audience", `""`, ""},
		{"DASHBOARD_JWT_GROUPS_CLAIM", "jwt-groups-claim", `"groups"`, "groups"},
		{"DASHBOARD_CORS_ORIGINS", "cors-origins", `""`, ""},
		{"DASHBOARD_RATE_LIMIT", "rate-limit", `"20"`, "20"},
		{"DASHBOARD_RATE_BURST", "rate-burst", `"40"`, "40"},
		{"DASHBOARD_BODY_LIMIT", "body-limit", `"65536"`, "65536"},
		{"DASHBOARD_METRICS_PUBLIC", "metrics-public", "true", "true"},
		{"DASHBOARD_METRICS_ROOMS", "metrics-rooms", `"50"`, "50"},
		{"DASHBOARD_LOG_LEVEL", "log-level", `"info"`, "info"},
		{"DASHBOARD_LIVEKIT_TIMEOUT", "livekit-timeout", `"5s"`, "5s"},
		{"DASHBOARD_HEALTH_TIMEOUT", "health-timeout", `"2s"`, "2s"},
		{"DASHBOARD_TURN", "turn", `""`, ""},
		{"DASHBOARD_READ_TIMEOUT", "read-timeout", `"15s"`, "15s"},
		{"DASHBOARD_WRITE_TIMEOUT", "write-timeout", `"30s"`, "30s"},
		{"DASHBOARD_IDLE_TIMEOUT", "idle-timeout", `"2m"`, "2m"},
		{"DASHBOARD_SHUTDOWN_TIMEOUT", "shutdown-timeout", `"20s"`, "20s"},
		{"DASHBOARD_PULL_ALLOW", "pull-allow", `""`, ""},
		{"DASHBOARD_RESTREAM_ALLOW", "restream-allow", `"` + restreamDefault + `"`, "the platforms' ingests"},
		{"DASHBOARD_RESYNC", "resync", `"30s"`, "30s"},
		{"DASHBOARD_SHOWS_RUN", "shows-run", "true", "true"},
		{"DASHBOARD_SPOOL_DIR", "spool-dir", `""`, ""},
		{"DASHBOARD_MONITOR_SILENCE", "monitor-silence", `"5s"`, "5s"},
		{"DASHBOARD_METRICS_PUBLIC_ROOMS", "metrics-public-rooms", "false", "false"},
		{"DASHBOARD_SPOOL_MAX_BYTES", "spool-max-bytes", `"4294967296"`, "4294967296"},
		{"DASHBOARD_SPOOL_MIN_FREE", "spool-min-free", `"5%"`, "5%"},
		{"REDIS_URL", "redis-url", `""`, ""},
		{"DASHBOARD_LOG_MAX_EVENTS", "log-max-events", `"100000"`, "100000"},
		{"DASHBOARD_LOG_MAX_BYTES", "log-max-bytes", `"67108864"`, "67108864"},
		{"DASHBOARD_STREAMS_PER_PRINCIPAL", "streams-per-principal", `"8"`, "8"},
		{"DASHBOARD_DOWNLOADS_PER_PRINCIPAL", "downloads-per-principal", `"4"`, "4"},
		{"DASHBOARD_DOWNLOAD_MAX", "download-max", `"30m"`, "30m"},
		{"DASHBOARD_LOUDNESS_TARGET", "loudness-target", `"-16"`, "-16"},
		{"DASHBOARD_FFMPEG", "ffmpeg", `"ffmpeg"`, "ffmpeg"},
		{"DASHBOARD_INGRESS_HEALTH_URL", "ingress-health-url", `""`, ""},
		{"DASHBOARD_EGRESS_HEALTH_URL", "egress-health-url", `""`, ""},
		{"DASHBOARD_LIVEKIT_METRICS_URL", "livekit-metrics-url", `""`, ""},
	}

	// -help: one entry per flag, its description ending in "(env X, default Y)".
	help := map[string]string{}
	var cur string
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "  -"); ok {
			cur = strings.Fields(rest)[0]
			help[cur] = ""
		} else if cur != "" {
			help[cur] += line
		}
	}
	// The README's settings table: | `ENV` | `-flag` | default | meaning |
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	table := map[string][]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 4 && (strings.HasPrefix(strings.TrimSpace(cells[1]), "`DASHBOARD_") || strings.TrimSpace(cells[1]) == "`REDIS_URL`") {
			for n := range cells {
				cells[n] = strings.Trim(strings.TrimSpace(cells[n]), "`")
			}
			table[cells[1]] = cells[2:4]
		}
	}
	assert.Len(t, help, len(promised), "-help lists exactly the promised flags")
	assert.Len(t, table, len(promised), "the README's table lists exactly the promised settings")
	for _, p := range promised {
		assert.Contains(t, help[p.flag], fmt.Sprintf("(env %s, default %s)", p.env, p.help), p.flag)
		assert.Equal(t, []string{"-" + p.flag, p.readme}, table[p.env], p.env)
	}
	for _, host := range strings.Split(restreamDefault, ",") {
		assert.Contains(t, string(readme), "`"+host+"`", "the README names the restream default's hosts")
	}

	// An environment holding only what start-up requires yields exactly these defaults.
	s, err := config.Load(nil, func(k string) string {
		return map[string]string{"DASHBOARD_ADMIN_GROUP": adminGroup}[k]
	}, io.Discard)
	require.NoError(t, err)
	none, err := config.ParseHostList("")
	require.NoError(t, err)
	platforms, err := config.ParseHostList(restreamDefault)
	require.NoError(t, err)
	assert.Equal(t, config.Settings{
		Addr:                  "127.0.0.1:8080",
		AdminGroup:            adminGroup,
		JWTGroupsClaim:        "groups",
		RateLimit:             20,
		RateBurst:             40,
		BodyLimit:             65536,
		MetricsPublic:         true,
		MetricsRooms:          50,
		LogLevel:              slog.LevelInfo,
		LiveKitTimeout:        5 * time.Second,
		HealthTimeout:         2 * time.Second,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		ShutdownTimeout:       20 * time.Second,
		Resync:                30 * time.Second,
		ShowsRun:              true,
		MonitorSilence:        5 * time.Second,
		PullAllow:             none,
		RestreamAllow:         platforms,
		SpoolMaxBytes:         4 << 30,
		SpoolMinFree:          capture.Free{Percent: 5},
		LogMaxEvents:          100000,
		LogMaxBytes:           64 << 20,
		StreamsPerPrincipal:   8,
		DownloadsPerPrincipal: 4,
		DownloadMax:           30 * time.Minute,
		LoudnessTarget:        -16, FFmpeg: "ffmpeg",
	}, s)
	assert.True(t, s.PullAllow.Empty(), "URL pulls are off by default")
}

// Loudness settings an attacker (or a typo) could give are refused at start,
// naming the setting: no target that flags everything or nothing, no ffmpeg
// that is a relative path, an option or a line break.
func TestHostileLoudnessSettingsAreRefused(t *testing.T) {
	for env, v := range map[string]string{"DASHBOARD_LOUDNESS_TARGET": "NaN", "DASHBOARD_FFMPEG": "../../tmp/ffmpeg"} {
		for _, bad := range []string{v, "+Inf", "5", "-1e9", "loud", "-version", "ffmpeg\n-i"} {
			_, err := config.Load([]string{}, func(k string) string {
				if k == env {
					return bad
				}
				return map[string]string{"DASHBOARD_ADMIN_GROUP": "admins"}[k]
			}, io.Discard)
			if env == "DASHBOARD_FFMPEG" && (bad == "+Inf" || bad == "5" || bad == "-1e9" || bad == "loud") {
				continue // bare names: looked up in PATH, and absent ones are said at start
			}
			require.Error(t, err, "%s=%q", env, bad)
			assert.Contains(t, err.Error(), env)
		}
	}
}
