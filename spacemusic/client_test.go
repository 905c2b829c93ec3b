package spacemusic_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

func TestConfigNamesEveryProblem(t *testing.T) {
	err := spacemusic.ConfigFromGetenv(func(k string) string {
		return map[string]string{"LIVEKIT_URL": "ftp://x", "LIVEKIT_API_SECRET": "too-short"}[k]
	}).Validate()
	var ce *spacemusic.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, spacemusic.OpConfig, ce.Op)
	assert.ErrorIs(t, err, spacemusic.ErrInvalidArgument)
	msg := err.Error()
	assert.Contains(t, msg, "LIVEKIT_URL")
	assert.Contains(t, msg, "LIVEKIT_API_KEY is not set")
	assert.Contains(t, msg, "LIVEKIT_API_SECRET is 9 characters")
	assert.NotContains(t, msg, "too-short", "the secret must never be echoed")

	_, err = spacemusic.New(spacemusic.Config{})
	assert.ErrorIs(t, err, spacemusic.ErrInvalidArgument)

	// The server's release is a version such as v1.6.1 or nothing; what the
	// operator wrote comes back quoted, never run or looked up.
	for _, v := range []string{"1.6.1", "latest", "v1.6.1; rm -rf /", "v1.6.1\n"} {
		err = spacemusic.ConfigFromGetenv(func(k string) string {
			return map[string]string{"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k",
				"LIVEKIT_API_SECRET": strings.Repeat("s", 32), "LIVEKIT_SERVER_VERSION": v}[k]
		}).Validate()
		assert.ErrorIs(t, err, spacemusic.ErrInvalidArgument, "%q", v)
		assert.ErrorContains(t, err, "LIVEKIT_SERVER_VERSION", "%q", v)
	}
}

func TestConfigNeverPrintsTheSecret(t *testing.T) {
	cfg := spacemusic.Config{URL: "ws://127.0.0.1:7880", APIKey: "devkey", APISecret: strings.Repeat("s3cr3t", 6)}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), cfg.LogValue().String()} {
		assert.NotContains(t, s, "s3cr3t")
	}
	assert.Equal(t, "ws://127.0.0.1:7880", cfg.WSURL())
	cfg.PublicURL = "wss://livekit.spacemusic.tv"
	assert.Equal(t, "wss://livekit.spacemusic.tv", cfg.WSURL())
}

// Health tells a server that is down from one that refuses our credentials.
func TestHealth(t *testing.T) {
	env := testenv.LiveKit(t)
	ctx := context.Background()
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	require.NoError(t, sm.Health(ctx))

	wrong, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: strings.Repeat("x", 32)})
	require.NoError(t, err)
	err = wrong.Health(ctx)
	var he *spacemusic.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, spacemusic.OpHealthAPI, he.Op)
	assert.ErrorIs(t, err, spacemusic.ErrUnauthorized, "LiveKit refused our credentials")
	assert.Equal(t, spacemusic.UpstreamLiveKit, he.Upstream)

	// A server that is down: only an external server is not ours to stop, and then
	// this half is a skip (which CI refuses), not a silent pass.
	if env.Stop == nil {
		if testenv.InCI() {
			t.Fatalf("the %s backend cannot stop LiveKit, so the down-server health check cannot run in CI", env.Backend)
		}
		t.Skipf("the %s backend cannot stop LiveKit: the down-server health check did not run", env.Backend)
	}
	env.Stop()
	err = sm.Health(ctx)
	require.ErrorAs(t, err, &he)
	assert.Equal(t, spacemusic.OpHealthReadiness, he.Op)
	assert.True(t, errors.Is(err, spacemusic.ErrNotReady))
	assert.ErrorIs(t, err, spacemusic.ErrUnavailable, "not ready is a kind of unavailable")
	env.Start()
	assert.NoError(t, sm.Health(ctx), "recovers once LiveKit is back")
}

// Without MINIO_ENDPOINT the store is AWS S3: one validation accepts it for
// both egress and recordings. Building the clients makes no request.
func TestNewWithAWSStorage(t *testing.T) {
	sm, err := spacemusic.New(spacemusic.Config{URL: "http://127.0.0.1:7880", APIKey: "devkey", APISecret: strings.Repeat("s", 32),
		Storage: egress.Storage{Bucket: "recordings", AccessKey: "ak", SecretKey: "sk"}})
	require.NoError(t, err)
	assert.NotNil(t, sm.Egress)
	assert.NotNil(t, sm.Recordings)
}
