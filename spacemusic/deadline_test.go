package spacemusic_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"

	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// A hung LiveKit (it accepts connections and never answers) cannot hang a caller:
// every call of every service ends with spacemusic.ErrUnavailable once Config.Timeout has
// passed. The outer context is far longer than the timeout, so a call that
// ignores the timeout shows up as too slow instead of passing on the outer
// deadline, and the test still cannot hang.
func TestHungLiveKitEveryCallEndsByItsTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const limit = 2 * time.Second // timeout plus generous slack for a loaded machine
	hung := "http://" + testenv.HungServer(t)
	sm, err := spacemusic.New(spacemusic.Config{URL: hung, APIKey: "devkey", APISecret: testenv.Secret(), Timeout: timeout,
		Storage: egress.Storage{Endpoint: "http://" + testenv.HungServer(t), Bucket: "recordings", AccessKey: "ak", SecretKey: "sk"}})
	require.NoError(t, err)
	require.NotNil(t, sm.Egress)

	const room, who = "friday-jam", "ada"
	const inID, egID, rtmp = "IN_hung", "EG_hung", "rtmp://127.0.0.1/live/key"
	part := ingress.Participant{Room: room, Identity: who}
	calls := map[string]map[string]func(context.Context) error{
		"rooms": {
			"Create": func(ctx context.Context) error {
				_, err := sm.Rooms.Create(ctx, room, rooms.CreateOptions{})
				return err
			},
			"List":         func(ctx context.Context) error { _, err := sm.Rooms.List(ctx); return err },
			"Get":          func(ctx context.Context) error { _, err := sm.Rooms.Get(ctx, room); return err },
			"Delete":       func(ctx context.Context) error { return sm.Rooms.Delete(ctx, room) },
			"SetMetadata":  func(ctx context.Context) error { _, err := sm.Rooms.SetMetadata(ctx, room, "{}"); return err },
			"Participants": func(ctx context.Context) error { _, err := sm.Rooms.Participants(ctx, room); return err },
			"Participant":  func(ctx context.Context) error { _, err := sm.Rooms.Participant(ctx, room, who); return err },
			"Kick":         func(ctx context.Context) error { return sm.Rooms.Kick(ctx, room, who) },
			"Mute":         func(ctx context.Context) error { _, err := sm.Rooms.Mute(ctx, room, who); return err },
			"Unmute":       func(ctx context.Context) error { _, err := sm.Rooms.Unmute(ctx, room, who); return err },
			"Promote":      func(ctx context.Context) error { _, err := sm.Rooms.Promote(ctx, room, who); return err },
			"Demote":       func(ctx context.Context) error { _, err := sm.Rooms.Demote(ctx, room, who); return err },
			"Send":         func(ctx context.Context) error { return sm.Rooms.Send(ctx, room, []byte("hi"), rooms.SendOptions{}) },
		},
		"ingress": {
			"RTMP": func(ctx context.Context) error {
				_, err := sm.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: part})
				return err
			},
			"WHIP": func(ctx context.Context) error {
				_, err := sm.Ingress.WHIP(ctx, ingress.WHIPOptions{Participant: part})
				return err
			},
			"PullURL": func(ctx context.Context) error {
				_, err := sm.Ingress.PullURL(ctx, ingress.URLOptions{Participant: part, URL: "http://127.0.0.1/set.ogg"})
				return err
			},
			"List":   func(ctx context.Context) error { _, err := sm.Ingress.List(ctx, ingress.ListOptions{}); return err },
			"Get":    func(ctx context.Context) error { _, err := sm.Ingress.Get(ctx, inID); return err },
			"Delete": func(ctx context.Context) error { return sm.Ingress.Delete(ctx, inID) },
			"WaitFor": func(ctx context.Context) error {
				_, err := sm.Ingress.WaitFor(ctx, inID, ingress.Publishing)
				return err
			},
		},
		"egress": {
			"RecordAudio": func(ctx context.Context) error {
				_, err := sm.Egress.RecordAudio(ctx, room, egress.AudioOptions{})
				return err
			},
			"RecordVideo": func(ctx context.Context) error {
				_, err := sm.Egress.RecordVideo(ctx, room, egress.VideoOptions{Identity: who})
				return err
			},
			"RecordStems": func(ctx context.Context) error { _, err := sm.Egress.RecordStems(ctx, room); return err },
			"HLS":         func(ctx context.Context) error { _, err := sm.Egress.HLS(ctx, room, who); return err },
			"Restream":    func(ctx context.Context) error { _, err := sm.Egress.Restream(ctx, room, who, rtmp); return err },
			"AddDestinations": func(ctx context.Context) error {
				_, err := sm.Egress.AddDestinations(ctx, egID, rtmp)
				return err
			},
			"RemoveDestinations": func(ctx context.Context) error {
				_, err := sm.Egress.RemoveDestinations(ctx, egID, rtmp)
				return err
			},
			"RecordRoom": func(ctx context.Context) error {
				_, err := sm.Egress.RecordRoom(ctx, room, egress.RoomOptions{})
				return err
			},
			"Stop":    func(ctx context.Context) error { _, err := sm.Egress.Stop(ctx, egID); return err },
			"List":    func(ctx context.Context) error { _, err := sm.Egress.List(ctx, egress.ListOptions{}); return err },
			"Get":     func(ctx context.Context) error { _, err := sm.Egress.Get(ctx, egID); return err },
			"WaitFor": func(ctx context.Context) error { _, err := sm.Egress.WaitFor(ctx, egID, egress.Active); return err },
		},
	}
	unavailable := map[string]error{"rooms": spacemusic.ErrUnavailable, "ingress": spacemusic.ErrUnavailable, "egress": spacemusic.ErrUnavailable}

	// A method added to a service without a row here fails, rather than going untested.
	for svc, typ := range map[string]reflect.Type{
		"rooms":   reflect.TypeOf(sm.Rooms),
		"ingress": reflect.TypeOf(sm.Ingress),
		"egress":  reflect.TypeOf(sm.Egress),
	} {
		var methods []string
		for i := range typ.NumMethod() {
			methods = append(methods, typ.Method(i).Name)
		}
		var listed []string
		for m := range calls[svc] {
			listed = append(listed, m)
		}
		sort.Strings(listed)
		assert.Equal(t, methods, listed, "every exported method of %s.Service has a call below", svc)
	}

	for svc, methods := range calls {
		for name, call := range methods {
			t.Run(svc+"."+name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				err := call(testenv.Within(t, 5*time.Second))
				took := time.Since(start)
				require.Error(t, err)
				assert.ErrorIs(t, err, unavailable[svc])
				assert.Less(t, took, limit, "ended after %s: the %s timeout did not bound it", took, timeout)
			})
		}
	}

	// Health says which check failed: the readiness probe, which hangs first.
	t.Run("Health", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		err := sm.Health(testenv.Within(t, 5*time.Second))
		took := time.Since(start)
		var he *spacemusic.Error
		require.ErrorAs(t, err, &he)
		assert.Equal(t, spacemusic.OpHealthReadiness, he.Op)
		assert.True(t, errors.Is(err, spacemusic.ErrNotReady), "got %v", err)
		assert.ErrorIs(t, err, spacemusic.ErrUnavailable, "like every other call")
		assert.Contains(t, err.Error(), "no answer before the deadline", "the cause is the timeout")
		assert.Less(t, took, limit, "ended after %s: the %s timeout did not bound it", took, timeout)
	})
}
