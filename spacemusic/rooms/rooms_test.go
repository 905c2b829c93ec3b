package rooms_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

func newService(t *testing.T, env *testenv.Env) *rooms.Service {
	t.Helper()
	svc, err := rooms.New(rooms.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	return svc
}

// A stage is opened with music settings, found, annotated and closed again.
func TestRoomLifecycle(t *testing.T) {
	env := testenv.LiveKit(t)
	svc := newService(t, env)
	ctx := context.Background()

	created, err := svc.Create(ctx, "friday-jam", rooms.CreateOptions{
		EmptyTimeout:     5 * time.Minute,
		DepartureTimeout: 30 * time.Second,
		MaxParticipants:  50,
		Metadata:         `{"set":"late"}`,
		MinPlayoutDelay:  100 * time.Millisecond,
		MaxPlayoutDelay:  400 * time.Millisecond,
		SyncStreams:      true,
	})
	require.NoError(t, err)
	assert.Equal(t, "friday-jam", created.Name)
	assert.NotEmpty(t, created.SID)
	assert.Equal(t, 300, created.EmptyTimeoutSec)
	assert.Equal(t, 30, created.DepartureTimeoutSec)
	assert.Equal(t, 50, created.MaxParticipants)
	assert.WithinDuration(t, time.Now(), created.CreatedAt, time.Minute)

	_, err = svc.Create(ctx, "other-stage", rooms.CreateOptions{})
	require.NoError(t, err)

	all, err := svc.List(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"friday-jam", "other-stage"}, names(all))

	some, err := svc.List(ctx, "friday-jam")
	require.NoError(t, err)
	assert.Equal(t, []string{"friday-jam"}, names(some))

	detail, err := svc.Get(ctx, "friday-jam")
	require.NoError(t, err)
	assert.Equal(t, created.SID, detail.SID)
	assert.Equal(t, `{"set":"late"}`, detail.Metadata)
	assert.Empty(t, detail.Participants)

	updated, err := svc.SetMetadata(ctx, "friday-jam", `{"set":"encore"}`)
	require.NoError(t, err)
	assert.Equal(t, `{"set":"encore"}`, updated.Metadata)

	require.NoError(t, svc.Delete(ctx, "friday-jam"))
	_, err = svc.Get(ctx, "friday-jam")
	assert.ErrorIs(t, err, errs.ErrNotFound)
	assert.ErrorIs(t, svc.Delete(ctx, "friday-jam"), errs.ErrNotFound)
}

// The playout delays and stream sync reach LiveKit. Its API never returns them
// (livekit.Room has no such fields), so they are read where livekit-server keeps
// them for the room: the RoomInternal record in its Redis, which it hands to
// every node that hosts the room.
func TestPlayoutSettingsReachLiveKit(t *testing.T) {
	env := testenv.LiveKit(t, testenv.WithRedis())
	svc := newService(t, env)
	ctx := context.Background()

	_, err := svc.Create(ctx, "slow-jam", rooms.CreateOptions{
		MinPlayoutDelay: 100 * time.Millisecond,
		MaxPlayoutDelay: 400 * time.Millisecond,
		SyncStreams:     true,
	})
	require.NoError(t, err)
	_, err = svc.Create(ctx, "plain-stage", rooms.CreateOptions{})
	require.NoError(t, err)

	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	stored := func(room string) *livekit.RoomInternal {
		t.Helper()
		b, err := rdb.HGet(ctx, "room_internal", room).Bytes()
		require.NoError(t, err, "livekit-server keeps no internal record for %s", room)
		var in livekit.RoomInternal
		require.NoError(t, proto.Unmarshal(b, &in))
		return &in
	}

	slow := stored("slow-jam")
	require.NotNil(t, slow.PlayoutDelay, "no playout delay stored")
	assert.True(t, slow.PlayoutDelay.Enabled)
	assert.Equal(t, uint32(100), slow.PlayoutDelay.Min, "min playout delay, ms")
	assert.Equal(t, uint32(400), slow.PlayoutDelay.Max, "max playout delay, ms")
	assert.True(t, slow.SyncStreams, "sync streams")

	plain := stored("plain-stage")
	assert.False(t, plain.GetPlayoutDelay().GetEnabled(), "no delay asked, none stored")
	assert.False(t, plain.SyncStreams)
}

// Bad input is refused with a typed error before or by LiveKit, never a panic.
func TestBadInput(t *testing.T) {
	env := testenv.LiveKit(t)
	svc := newService(t, env)
	ctx := context.Background()

	for name, call := range map[string]func() error{
		"empty name":        func() error { _, err := svc.Create(ctx, "", rooms.CreateOptions{}); return err },
		"name with a space": func() error { _, err := svc.Create(ctx, "friday jam", rooms.CreateOptions{}); return err },
		"name too long":     func() error { _, err := svc.Create(ctx, strings.Repeat("a", 129), rooms.CreateOptions{}); return err },
		"invalid utf-8":     func() error { _, err := svc.Get(ctx, "\xff\xfe"); return err },
		"negative timeout": func() error {
			_, err := svc.Create(ctx, "x", rooms.CreateOptions{EmptyTimeout: -time.Second})
			return err
		},
		"playout min > max": func() error {
			_, err := svc.Create(ctx, "x", rooms.CreateOptions{MinPlayoutDelay: time.Second, MaxPlayoutDelay: time.Millisecond})
			return err
		},
		"huge metadata": func() error {
			_, err := svc.SetMetadata(ctx, "x", strings.Repeat("m", rooms.MaxMetadata+1))
			return err
		},
		"empty identity":      func() error { return svc.Kick(ctx, "x", "") },
		"empty data":          func() error { return svc.Send(ctx, "x", nil, rooms.SendOptions{}) },
		"oversized data":      func() error { return svc.Send(ctx, "x", make([]byte, rooms.MaxData+1), rooms.SendOptions{}) },
		"identity with space": func() error { _, err := svc.Promote(ctx, "x", "a b"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Empty(t, e.Code, "refused locally, before any request")
		})
	}

	t.Run("missing room", func(t *testing.T) {
		_, err := svc.Participants(ctx, "no-such-stage")
		assert.ErrorIs(t, err, errs.ErrNotFound)
		assert.ErrorIs(t, svc.Kick(ctx, "no-such-stage", "ada"), errs.ErrNotFound)
		_, err = svc.Mute(ctx, "no-such-stage", "ada")
		assert.ErrorIs(t, err, errs.ErrNotFound)
	})

	t.Run("missing participant", func(t *testing.T) {
		_, err := svc.Create(ctx, "empty-stage", rooms.CreateOptions{})
		require.NoError(t, err)
		_, err = svc.Participant(ctx, "empty-stage", "nobody")
		assert.ErrorIs(t, err, errs.ErrNotFound)
	})

	t.Run("wrong credentials", func(t *testing.T) {
		bad, err := rooms.New(rooms.Config{URL: env.URL, APIKey: env.APIKey, APISecret: strings.Repeat("x", 40)})
		require.NoError(t, err)
		_, err = bad.List(ctx)
		require.ErrorIs(t, err, errs.ErrUnauthorized)
		assert.NotContains(t, err.Error(), strings.Repeat("x", 40))
		assert.NotContains(t, err.Error(), env.APISecret)
	})

	t.Run("unreachable server", func(t *testing.T) {
		down, err := rooms.New(rooms.Config{URL: "http://127.0.0.1:1", APIKey: "k", APISecret: strings.Repeat("s", 32), Timeout: time.Second})
		require.NoError(t, err)
		_, err = down.List(ctx)
		assert.ErrorIs(t, err, errs.ErrUnavailable)
	})

	t.Run("invalid config", func(t *testing.T) {
		_, err := rooms.New(rooms.Config{URL: "ftp://x", APIKey: "k", APISecret: strings.Repeat("s", 32)})
		assert.ErrorIs(t, err, errs.ErrInvalidArgument)
		_, err = rooms.New(rooms.Config{URL: env.URL, APIKey: "k", APISecret: "short-secret"})
		require.ErrorIs(t, err, errs.ErrInvalidArgument)
		assert.NotContains(t, err.Error(), "short-secret")
	})
}

// Two livekit-server nodes sharing one Redis are one deployment: a stage opened
// through node A is listed through node B. Two stages go to two nodes (LiveKit
// places a new room on the node hosting the fewest), and Redis says which.
func TestMultiNode(t *testing.T) {
	nodes := testenv.Cluster(t, 2)
	a, b := newService(t, nodes[0]), newService(t, nodes[1])
	ctx := context.Background()

	_, err := a.Create(ctx, "shared-stage", rooms.CreateOptions{})
	require.NoError(t, err)
	listed, err := b.List(ctx)
	require.NoError(t, err)
	assert.Contains(t, names(listed), "shared-stage")

	first := nodes[0].RoomNode(t, "shared-stage")
	require.NotEmpty(t, first, "LiveKit placed the room")
	nodes[0].WaitNodeRooms(t, first, 1)
	_, err = a.Create(ctx, "second-stage", rooms.CreateOptions{})
	require.NoError(t, err)
	second := nodes[0].RoomNode(t, "second-stage")
	ids := []string{nodes[0].NodeID(t), nodes[1].NodeID(t)}
	assert.ElementsMatch(t, ids, []string{first, second}, "one stage on each node")

	require.NoError(t, b.Delete(ctx, "shared-stage"))
	_, err = a.Get(ctx, "shared-stage")
	assert.True(t, errors.Is(err, errs.ErrNotFound), "got %v", err)
}

func names(rs []rooms.Room) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}
