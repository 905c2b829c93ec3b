package lk

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twitchtv/twirp"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

func testClient(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient("test", Config{URL: "ws://127.0.0.1:7880", APIKey: "devkey",
		APISecret: strings.Repeat("s", 32), Timeout: time.Minute})
	require.NoError(t, err)
	return c
}

func TestDoBoundsAuthorizesAndPassesTheRequest(t *testing.T) {
	c := testClient(t)
	var sawDeadline time.Time
	var sawAuth bool
	res, err := Do(context.Background(), c, "rooms.Get", tokens.Grant{RoomList: true},
		func(ctx context.Context, req string) (int, error) {
			sawDeadline, _ = ctx.Deadline()
			h, ok := twirp.HTTPRequestHeaders(ctx)
			sawAuth = ok && strings.HasPrefix(h.Get("Authorization"), "Bearer ")
			return len(req), nil
		}, "four")
	require.NoError(t, err)
	assert.Equal(t, 4, res)
	assert.WithinDuration(t, time.Now().Add(time.Minute), sawDeadline, 5*time.Second, "the client's timeout bounds the call")
	assert.True(t, sawAuth, "the call carries a bearer token")
}

func TestDoMapsErrorsWithTheOp(t *testing.T) {
	c := testClient(t)
	res, err := Do(context.Background(), c, "egress.Stop", tokens.Grant{RoomRecord: true},
		func(ctx context.Context, req string) (*int, error) {
			n := 1
			return &n, twirp.NewError(twirp.NotFound, "no such egress")
		}, "EG_x")
	assert.Nil(t, res, "no result comes back with an error")
	var e *errs.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "egress.Stop", e.Op)
	assert.ErrorIs(t, err, errs.ErrNotFound)
	assert.Equal(t, "no such egress", e.Message)
}

func TestDoKeepsAnEarlierDeadline(t *testing.T) {
	c := testClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	_, err := Do(ctx, c, "rooms.List", tokens.Grant{RoomList: true},
		func(ctx context.Context, _ struct{}) (struct{}, error) {
			got, _ := ctx.Deadline()
			assert.Equal(t, want, got)
			return struct{}{}, context.DeadlineExceeded
		}, struct{}{})
	assert.ErrorIs(t, err, errs.ErrUnavailable)
}

func TestCheckIDAndRelabel(t *testing.T) {
	assert.NoError(t, CheckID("egress.Stop", "egress", "EG_", "EG_abc"))
	err := CheckID("ingress.Get", "ingress", "IN_", "EG_abc")
	assert.ErrorIs(t, err, errs.ErrInvalidArgument)
	assert.EqualError(t, err, `ingress.Get: invalid argument: ingress id "EG_abc" is not an ingress id (IN_...)`)

	inner := errs.NotFound("rooms.List", "gone")
	out := errs.Relabel("rooms.Get", inner)
	assert.EqualError(t, out, "rooms.Get: not found: gone")
	assert.Equal(t, "rooms.List", inner.(*errs.Error).Op, "the inner error is not changed")
}
