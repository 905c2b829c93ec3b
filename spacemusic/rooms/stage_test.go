package rooms_test

import (
	"context"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

const wait, tick = 15 * time.Second, 50 * time.Millisecond

// A performer goes on stage and plays; a listener hears it but cannot publish; the
// moderator mutes and unmutes the performer, brings the listener on stage, and
// finally shows the listener out.
func TestShowOnStage(t *testing.T) {
	testenv.RequireNetNS(t)
	env := testenv.LiveKit(t)
	svc := newService(t, env)
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	ctx := context.Background()
	tone := testenv.Tone(t, 440, 60*time.Second)

	_, err = svc.Create(ctx, "stage", rooms.CreateOptions{})
	require.NoError(t, err)

	// The performer joins with the seed's grant and publishes stereo Opus, DTX off.
	perfTok, err := issuer.Performer("stage", "ada", tokens.WithName("Ada"))
	require.NoError(t, err)
	performer := env.Join(t, perfTok.JWT, nil)
	pub, err := testenv.PublishTone(t, performer, tone)
	require.NoError(t, err)

	// The listener joins and receives the performer's audio.
	// Data messages it receives are kept, with their topic, for the end of the show.
	listener := testenv.NewListener()
	lisTok, err := issuer.Listener("stage", "bob", tokens.WithTTL(10*time.Minute))
	require.NoError(t, err)
	received := make(chan *lksdk.UserDataPacket, 4)
	cb := listener.Callback()
	cb.OnDataPacket = func(p lksdk.DataPacket, _ lksdk.DataReceiveParams) {
		if u, ok := p.(*lksdk.UserDataPacket); ok {
			select {
			case received <- u:
			default: // more than the test sends: the assertion below sees the first
			}
		}
	}
	audience := env.Join(t, lisTok.JWT, cb)
	require.Eventually(t, func() bool { return listener.Packets() >= 50 }, wait, tick, "listener received no audio")

	// LiveKit reports the track as the music settings made it.
	ada, err := svc.Participant(ctx, "stage", "ada")
	require.NoError(t, err)
	require.Len(t, ada.Tracks, 1)
	track := ada.Tracks[0]
	assert.Equal(t, pub.SID(), track.SID)
	assert.Equal(t, "audio", track.Kind)
	assert.Equal(t, "microphone", track.Source)
	assert.Equal(t, "opus", track.Codec)
	assert.True(t, track.Stereo, "stereo")
	assert.False(t, track.DTX, "DTX must be off for music")
	assert.True(t, ada.OnStage())

	// The listener's attempt to publish is refused by the SFU.
	_, err = testenv.PublishTone(t, audience, tone)
	assert.Error(t, err, "a listener must not be able to publish")
	bob, err := svc.Participant(ctx, "stage", "bob")
	require.NoError(t, err)
	assert.Empty(t, bob.Tracks)
	assert.False(t, bob.OnStage())

	// Muting every audio track of the performer reaches the listener.
	muted, err := svc.Mute(ctx, "stage", "ada")
	require.NoError(t, err)
	require.Len(t, muted, 1)
	assert.True(t, muted[0].Muted)
	require.Eventually(t, func() bool { m, _ := listener.Muted(pub.SID()); return m }, wait, tick, "listener did not see the mute")

	// A track the performer does not publish is not found, rather than timing out.
	_, err = svc.Mute(ctx, "stage", "ada", "TR_not_hers")
	require.ErrorIs(t, err, errs.ErrNotFound)

	// Unmuting works because the test server enables remote unmute.
	unmuted, err := svc.Unmute(ctx, "stage", "ada", pub.SID())
	require.NoError(t, err)
	assert.False(t, unmuted[0].Muted)
	require.Eventually(t, func() bool { m, known := listener.Muted(pub.SID()); return known && !m }, wait, tick, "listener did not see the unmute")

	// Promoted, the listener can now publish without reconnecting.
	promoted, err := svc.Promote(ctx, "stage", "bob")
	require.NoError(t, err)
	assert.True(t, promoted.OnStage())
	require.Eventually(t, func() bool { return audience.LocalParticipant.Permissions().GetCanPublish() }, wait, tick)
	_, err = testenv.PublishTone(t, audience, tone)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := svc.Participant(ctx, "stage", "bob")
		return err == nil && len(p.Tracks) == 1
	}, wait, tick, "promoted listener's track never appeared")

	// Demoted again, the track is gone: LiveKit itself lists bob without tracks.
	demoted, err := svc.Demote(ctx, "stage", "bob")
	require.NoError(t, err)
	assert.False(t, demoted.OnStage())
	lkRooms := lksdk.NewRoomServiceClient(env.URL, env.APIKey, env.APISecret)
	require.Eventually(t, func() bool {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second) // server-sdk-go sets no deadline
		defer cancel()
		res, err := lkRooms.ListParticipants(callCtx, &livekit.ListParticipantsRequest{Room: "stage"})
		if err != nil {
			return false
		}
		for _, p := range res.Participants {
			if p.Identity == "bob" {
				return len(p.Tracks) == 0
			}
		}
		return false
	}, wait, tick, "the demoted listener's track is still published in LiveKit")

	// A data message reaches the room: bob receives its payload under its topic.
	require.NoError(t, svc.Send(ctx, "stage", []byte(`{"song":"next"}`), rooms.SendOptions{Topic: "setlist", To: []string{"bob"}}))
	select {
	case got := <-received:
		assert.Equal(t, `{"song":"next"}`, string(got.Payload))
		assert.Equal(t, "setlist", got.Topic)
	case <-time.After(wait):
		t.Fatal("the listener never received the data message")
	}

	// Kicked, the listener is disconnected and gone.
	require.NoError(t, svc.Kick(ctx, "stage", "bob"))
	require.Eventually(t, listener.Disconnected, wait, tick, "kicked listener still connected")
	require.Eventually(t, func() bool {
		ps, err := svc.Participants(ctx, "stage")
		return err == nil && len(ps) == 1 && ps[0].Identity == "ada"
	}, wait, tick)
}

// A server that keeps remote unmute off refuses it, and the error says what to change.
func TestUnmuteRefusedByServerConfig(t *testing.T) {
	testenv.RequireNetNS(t)
	env := testenv.LiveKit(t, testenv.WithoutRemoteUnmute())
	svc := newService(t, env)
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	ctx := context.Background()

	tok, err := issuer.Performer("stage", "ada")
	require.NoError(t, err)
	performer := env.Join(t, tok.JWT, nil)
	_, err = testenv.PublishTone(t, performer, testenv.Tone(t, 440, 20*time.Second))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := svc.Participant(ctx, "stage", "ada")
		return err == nil && len(p.Tracks) == 1
	}, wait, tick)

	_, err = svc.Mute(ctx, "stage", "ada")
	require.NoError(t, err)
	_, err = svc.Unmute(ctx, "stage", "ada")
	require.ErrorIs(t, err, errs.ErrFailedPrecondition)
	assert.Contains(t, err.Error(), "enable_remote_unmute")
}
