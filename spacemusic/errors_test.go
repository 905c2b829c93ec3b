package spacemusic_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// One question, one answer: whatever is missing (a stage, an ingest, a recording
// run or a file in the bucket), the caller asks errors.Is(err, spacemusic.ErrNotFound)
// and reads the call, the kind and who said so from one type.
func TestEveryMissingThingIsErrNotFound(t *testing.T) {
	env := testenv.LiveKit(t, testenv.WithRedis())
	m := testenv.MinIO(t)
	sm, err := spacemusic.New(spacemusic.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret,
		Storage: egress.Storage{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Bucket: "recordings"}})
	require.NoError(t, err)
	ctx := testenv.Within(t, 30*time.Second)
	require.NoError(t, sm.Recordings.EnsureBucket(ctx))

	calls := map[string]func(context.Context) error{
		"rooms.Get": func(ctx context.Context) error { _, err := sm.Rooms.Get(ctx, "no-such-stage"); return err },
		"ingress.Get": func(ctx context.Context) error {
			_, err := sm.Ingress.Get(ctx, "IN_nosuchingress")
			return err
		},
		"egress.Get": func(ctx context.Context) error { _, err := sm.Egress.Get(ctx, "EG_nosuchegress"); return err },
		"recordings.Open": func(ctx context.Context) error {
			_, err := sm.Recordings.Open(ctx, "no-such-stage/2026-11-25T120000Z-abc.ogg")
			return err
		},
	}
	for op, call := range calls {
		err := call(ctx)
		require.ErrorIs(t, err, spacemusic.ErrNotFound, op)
		var e *spacemusic.Error
		require.True(t, errors.As(err, &e), "%s: %T is not *spacemusic.Error", op, err)
		assert.Equal(t, op, e.Op)
		assert.Same(t, spacemusic.ErrNotFound, e.Kind, op)
		for _, other := range []error{spacemusic.ErrUnavailable, spacemusic.ErrInvalidArgument, spacemusic.ErrUpstream} {
			assert.NotErrorIs(t, err, other, op)
		}
	}
}
