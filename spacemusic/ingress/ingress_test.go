package ingress_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

const wait, tick = 60 * time.Second, 100 * time.Millisecond

type show struct {
	env     *testenv.Env
	ing     *testenv.IngressEnv
	ingress *ingress.Service
	rooms   *rooms.Service
	issuer  *tokens.Issuer
}

func newShow(t testing.TB) *show {
	t.Helper()
	testenv.RequireNetNS(t)
	env, ing := testenv.Ingress(t)
	cfg := ingress.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret}
	is, err := ingress.New(cfg)
	require.NoError(t, err)
	rs, err := rooms.New(cfg)
	require.NoError(t, err)
	issuer, err := tokens.NewIssuer(env.APIKey, env.APISecret)
	require.NoError(t, err)
	return &show{env: env, ing: ing, ingress: is, rooms: rs, issuer: issuer}
}

// listen joins the room as a listener and returns the packet counter.
func (s *show) listen(t testing.TB, room string) *testenv.Listener {
	t.Helper()
	l := testenv.NewListener()
	tok, err := s.issuer.Listener(room, "listener-"+room)
	require.NoError(t, err)
	s.env.Join(t, tok.JWT, l.Callback())
	return l
}

// trackOf waits for the ingress participant to publish a track of that kind.
func (s *show) trackOf(t testing.TB, room, identity, kind string) rooms.Track {
	t.Helper()
	var found rooms.Track
	require.Eventually(t, func() bool {
		p, err := s.rooms.Participant(context.Background(), room, identity)
		if err != nil {
			return false
		}
		for _, tr := range p.Tracks {
			if tr.Kind == kind {
				found = tr
				return true
			}
		}
		return false
	}, wait, tick, "no %s track from %s", kind, identity)
	return found
}

// OBS pushes over RTMP: the stream appears in the room as stereo Opus (and
// video), listeners hear it, and the ingress goes back to inactive afterwards.
func TestRTMPFromOBS(t *testing.T) {
	s := newShow(t)
	ctx := context.Background()
	in, err := s.ingress.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "stage", Identity: "obs-main", Name: "Main mix"}, AudioBitrate: 192_000})
	require.NoError(t, err)
	assert.Equal(t, ingress.RTMP, in.Kind)
	assert.Equal(t, s.ing.RTMPBase, in.ServerURL)
	assert.NotEmpty(t, in.StreamKey)
	assert.Equal(t, in.ServerURL+"/"+in.StreamKey, in.PublishURL)
	assert.Equal(t, ingress.Inactive, in.State)
	assert.Equal(t, "CBR", in.Encoder.RateControl)
	assert.NotContains(t, in.String(), in.StreamKey)
	// RateControl is our advice for OBS and never reaches LiveKit; what LiveKit
	// keeps is the transcoding it was asked for: stereo Opus at the bitrate, DTX
	// off, and the 1080p three-layer preset.
	stored := s.rawIngress(t, in.ID)
	opus := stored.GetAudio().GetOptions()
	require.NotNil(t, opus, "LiveKit keeps no audio encoding options")
	assert.Equal(t, livekit.AudioCodec_OPUS, opus.AudioCodec)
	assert.Equal(t, uint32(192_000), opus.Bitrate)
	assert.Equal(t, uint32(2), opus.Channels)
	assert.True(t, opus.DisableDtx, "DTX off as LiveKit keeps it")
	assert.Equal(t, livekit.IngressVideoEncodingPreset_H264_1080P_30FPS_3_LAYERS, stored.GetVideo().GetPreset())

	listener := s.listen(t, "stage")
	push := testenv.PushRTMP(t, in.PublishURL, 40*time.Second, false)

	audio := s.trackOf(t, "stage", "obs-main", "audio")
	assert.Equal(t, "opus", audio.Codec)
	assert.True(t, audio.Stereo, "music is stereo")
	assert.False(t, audio.DTX, "DTX must be off for music")
	video := s.trackOf(t, "stage", "obs-main", "video")
	assert.Equal(t, 1920, video.Width, "the 1080p source keeps its size")
	assert.Equal(t, 1080, video.Height)
	// Three simulcast layers, as LiveKit announces them to subscribers.
	var layers []string
	for _, l := range s.rawTrack(t, "stage", "obs-main", video.SID).Layers {
		layers = append(layers, fmt.Sprintf("%s %dx%d", l.Quality, l.Width, l.Height))
	}
	assert.Equal(t, []string{"LOW 480x270", "MEDIUM 960x540", "HIGH 1920x1080"}, layers)
	require.Eventually(t, func() bool { return listener.Packets() > 50 }, wait, tick, "listener heard nothing")
	live, err := s.ingress.Get(ctx, in.ID)
	require.NoError(t, err)
	assert.Equal(t, ingress.Publishing, live.State)
	// What OBS sends, as Ingress read it: AAC stereo and the 1080p pattern.
	require.NotNil(t, live.Input, "the encoder's stream is described once live")
	assert.Equal(t, &ingress.InputAudio{Codec: "audio/aac", Channels: 2, SampleRate: 48000}, live.Input.Audio)
	if assert.NotNil(t, live.Input.Video) {
		assert.Equal(t, "video/H264", live.Input.Video.Codec)
		assert.Equal(t, [2]int{1920, 1080}, [2]int{live.Input.Video.Width, live.Input.Video.Height})
		assert.InDelta(t, 15, live.Input.Video.FPS, 0.5)
	}

	push.Stop()
	// Ingress v1.5.0 lets go of the stream either way: inactive, or, when its
	// handler exits on "room disconnected" before its last state update (once
	// in a loaded CI), error. Either ends the publishing; which one is logged.
	ended, err := s.ingress.WaitFor(testenv.Within(t, wait), in.ID, ingress.Inactive, ingress.Failed)
	if err != nil {
		last, _ := s.ingress.Get(ctx, in.ID)
		require.NoError(t, err, "the ingress must stop publishing once the push ends; it is %s %q", last.State, last.Error)
	}
	t.Logf("after the push: %s %q", ended.State, ended.Error)

	list, err := s.ingress.List(ctx, ingress.ListOptions{Room: "stage"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, in.ID, list[0].ID)

	require.NoError(t, s.ingress.Delete(ctx, in.ID))
	_, err = s.ingress.Get(ctx, in.ID)
	assert.ErrorIs(t, err, errs.ErrNotFound)
}

// A browser or OBS 30+ publishes over WHIP; passthrough keeps its Opus.
func TestWHIPPassthrough(t *testing.T) {
	s := newShow(t)
	ctx := context.Background()
	in, err := s.ingress.WHIP(ctx, ingress.WHIPOptions{Participant: ingress.Participant{Room: "stage", Identity: "whip-guest"}})
	require.NoError(t, err)
	assert.Equal(t, ingress.WHIP, in.Kind)
	assert.False(t, in.Transcoded)
	assert.True(t, strings.HasPrefix(in.PublishURL, s.ing.WHIPBase), in.PublishURL)

	listener := s.listen(t, "stage")
	tone := testenv.Tone(t, 523, 40*time.Second)
	heard := s.listenPackets(t, "stage", opusPackets(t, tone))
	testenv.PublishWHIP(t, in.PublishURL, tone)
	audio := s.trackOf(t, "stage", "whip-guest", "audio")
	assert.Equal(t, "opus", audio.Codec)
	require.Eventually(t, func() bool { return listener.Packets() > 50 }, wait, tick, "listener heard nothing")

	// Transcoding would give Opus too; untouched means the listener gets the very
	// packets the publisher encoded (ffmpeg's, at 128 kb/s), byte for byte.
	require.Eventually(t, func() bool { _, n := heard(); return n >= 100 }, wait, tick, "the packet listener heard nothing")
	same, n := heard()
	assert.Equal(t, n, same, "%d of %d packets differ from the publisher's: the Opus was re-encoded", n-same, n)
}

// rawIngress is the ingress as LiveKit keeps it, settings and all.
func (s *show) rawIngress(t testing.TB, id string) *livekit.IngressInfo {
	t.Helper()
	res, err := lksdk.NewIngressClient(s.env.URL, s.env.APIKey, s.env.APISecret).
		ListIngress(testenv.Within(t, 10*time.Second), &livekit.ListIngressRequest{IngressId: id})
	require.NoError(t, err)
	require.Len(t, res.Items, 1)
	return res.Items[0]
}

// rawTrack is a published track as LiveKit lists it, with its simulcast layers.
func (s *show) rawTrack(t testing.TB, room, identity, sid string) *livekit.TrackInfo {
	t.Helper()
	res, err := lksdk.NewRoomServiceClient(s.env.URL, s.env.APIKey, s.env.APISecret).
		ListParticipants(testenv.Within(t, 10*time.Second), &livekit.ListParticipantsRequest{Room: room})
	require.NoError(t, err)
	for _, p := range res.Participants {
		for _, tr := range p.Tracks {
			if p.Identity == identity && tr.Sid == sid {
				return tr
			}
		}
	}
	t.Fatalf("LiveKit lists no track %s of %s", sid, identity)
	return nil
}

// opusPackets is the set of Opus packets in an Ogg file from testenv.Tone (one
// packet per page).
func opusPackets(t testing.TB, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	ogg, _, err := oggreader.NewWith(f)
	require.NoError(t, err)
	set := map[string]bool{}
	for range 100_000 { // bound: a 40 s tone has 2000 pages
		page, _, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		set[string(page)] = true
	}
	return set
}

// listenPackets joins the room as a second listener and reports how many audio
// packets it received, and how many of them are in known.
func (s *show) listenPackets(t testing.TB, room string, known map[string]bool) func() (same, total int) {
	t.Helper()
	var mu sync.Mutex
	var same, total int
	tok, err := s.issuer.Listener(room, "checker-"+room)
	require.NoError(t, err)
	s.env.Join(t, tok.JWT, &lksdk.RoomCallback{ParticipantCallback: lksdk.ParticipantCallback{
		OnTrackSubscribed: func(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
			if track.Kind() != webrtc.RTPCodecTypeAudio {
				return
			}
			go func() {
				for {
					pkt, _, err := track.ReadRTP()
					if err != nil {
						return
					}
					mu.Lock()
					total++
					if known[string(pkt.Payload)] {
						same++
					}
					mu.Unlock()
				}
			}()
		},
	}})
	return func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return same, total
	}
}

// The engineer deletes ingresses while they are live, again and again: each one
// goes (stopped, then deleted), its guest leaves the stage, and LiveKit keeps
// answering. Deleting a live ingress outright races its last state report, and
// livekit-server then crashes (nil State in UpdateIngressState, livekit/livekit#4806);
// our CI hit that twice under load, with an RTMP and a URL ingress. The race is
// too narrow to provoke here on demand (15 WHIP and 10 URL deletes without the
// stop-first step did not crash), so this checks the stop-then-delete path works,
// not that the race is gone; the reasoning for that is in Delete's comment.
func TestDeletingLiveIngressesKeepsLiveKitUp(t *testing.T) {
	s := newShow(t)
	ctx := context.Background()
	tone := testenv.Tone(t, 523, 60*time.Second)
	for round := range 5 {
		identity := fmt.Sprintf("guest-%d", round)
		in, err := s.ingress.WHIP(ctx, ingress.WHIPOptions{Participant: ingress.Participant{Room: "stage", Identity: identity}})
		require.NoError(t, err)
		testenv.PublishWHIP(t, in.PublishURL, tone)
		live, err := s.ingress.WaitFor(testenv.Within(t, wait), in.ID, ingress.Publishing)
		require.NoError(t, err, "round %d", round)
		require.Equal(t, ingress.Publishing, live.State)

		require.NoError(t, s.ingress.Delete(ctx, in.ID), "round %d", round)
		_, err = s.ingress.Get(ctx, in.ID)
		assert.ErrorIs(t, err, errs.ErrNotFound, "round %d: the ingress is gone", round)
		_, err = s.rooms.List(ctx)
		require.NoError(t, err, "round %d: LiveKit must still answer", round)
		require.Eventually(t, func() bool {
			_, err := s.rooms.Participant(ctx, "stage", identity)
			return errors.Is(err, errs.ErrNotFound)
		}, wait, tick, "round %d: the guest stayed on stage", round)
	}
}

// A DJ set recorded earlier is pulled from a web server into the room: the pull
// appears as a participant with a stereo Opus track, listeners hear it, and the
// ingress reports publishing. (Ingress v1.5.0 needs the stack's decodebin patch on
// Debian's GStreamer 1.22: see patch_ingress_urlpull in scripts/stack.)
func TestURLPullOfADJSet(t *testing.T) {
	s := newShow(t)
	ctx := context.Background()
	for _, file := range []string{"set.ogg", "set.m4a"} {
		t.Run(file, func(t *testing.T) {
			room := "afterparty-" + strings.TrimPrefix(file, "set.")
			listener := s.listen(t, room)
			opts := ingress.URLOptions{Participant: ingress.Participant{Room: room, Identity: "dj-set", Name: "Friday's set"},
				URL: testenv.MediaFile(t, file, 30*time.Second)}
			in, err := s.ingress.PullURL(ctx, opts)
			// Ingress admits a URL pull only with a whole core idle (its minimum
			// cost, 1 CPU, overrides ours); on a busy 2-core machine LiveKit may
			// answer "no response from servers" or "server capacity exceeded" for
			// a moment. Try again, at most 30 s.
			busy := func(err error) bool {
				return errors.Is(err, errs.ErrResourceExhausted) ||
					(errors.Is(err, errs.ErrUnavailable) && strings.Contains(err.Error(), "no response from servers"))
			}
			for deadline := time.Now().Add(30 * time.Second); busy(err) && time.Now().Before(deadline); {
				time.Sleep(time.Second)
				in, err = s.ingress.PullURL(ctx, opts)
			}
			require.NoError(t, err)
			assert.Equal(t, ingress.URL, in.Kind)
			audio := s.trackOf(t, room, "dj-set", "audio")
			assert.Equal(t, "opus", audio.Codec)
			assert.True(t, audio.Stereo, "music stays stereo")
			require.Eventually(t, func() bool { return listener.Packets() > 50 }, wait, tick, "the listener heard nothing")
			live, err := s.ingress.Get(ctx, in.ID)
			require.NoError(t, err)
			assert.Equal(t, ingress.Publishing, live.State, live.Error)

			// Deleting a live pull could crash livekit-server (livekit/livekit#4806):
			// it is refused with a typed error, and the pull goes on.
			err = s.ingress.Delete(ctx, in.ID)
			require.ErrorIs(t, err, ingress.ErrLive)
			require.ErrorIs(t, err, errs.ErrFailedPrecondition)
			assert.Contains(t, err.Error(), "wait until the pull ends")
			still, err := s.ingress.Get(ctx, in.ID)
			require.NoError(t, err, "the refused delete left the ingress")
			assert.True(t, still.State == ingress.Publishing || still.State == ingress.Buffering, still.State)
		})
	}
}

// Bad input is refused before any request, or mapped from LiveKit's answer.
func TestBadInput(t *testing.T) {
	env := testenv.LiveKit(t)
	svc, err := ingress.New(ingress.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	ctx := context.Background()
	p := ingress.Participant{Room: "stage", Identity: "obs"}
	for name, call := range map[string]func() error{
		"room with a space": func() error {
			_, err := svc.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "a b", Identity: "obs"}})
			return err
		},
		"no identity": func() error {
			_, err := svc.WHIP(ctx, ingress.WHIPOptions{Participant: ingress.Participant{Room: "r"}})
			return err
		},
		"bitrate too high": func() error {
			_, err := svc.RTMP(ctx, ingress.RTMPOptions{Participant: p, AudioBitrate: 600_000})
			return err
		},
		"unknown preset": func() error {
			_, err := svc.RTMP(ctx, ingress.RTMPOptions{Participant: p, VideoPreset: "8K"})
			return err
		},
		"bitrate on passthrough WHIP": func() error {
			_, err := svc.WHIP(ctx, ingress.WHIPOptions{Participant: p, AudioBitrate: 128_000})
			return err
		},
		"ftp url": func() error {
			_, err := svc.PullURL(ctx, ingress.URLOptions{Participant: p, URL: "ftp://127.0.0.1/set.ogg"})
			return err
		},
		"malformed url": func() error {
			_, err := svc.PullURL(ctx, ingress.URLOptions{Participant: p, URL: "http//nope"})
			return err
		},
		"bad id":        func() error { _, err := svc.Get(ctx, "nope"); return err },
		"bad id delete": func() error { return svc.Delete(ctx, "IN_ has spaces") },
	} {
		t.Run(name, func(t *testing.T) { assert.ErrorIs(t, call(), errs.ErrInvalidArgument) })
	}
	// This LiveKit has no Ingress service: the error says what is missing.
	_, err = svc.Get(ctx, "IN_doesnotexist")
	require.ErrorIs(t, err, errs.ErrUnavailable)
	assert.Contains(t, err.Error(), "Ingress service")
}

// The stream key is a credential: neither a log line (slog, text or JSON) nor a
// printed Ingress carries it, while the ID that identifies it does.
func TestLogsNeverCarryTheStreamKey(t *testing.T) {
	in := ingress.Ingress{ID: "IN_abc", Kind: ingress.RTMP, Room: "stage", Identity: "obs-main",
		ServerURL: "rtmp://127.0.0.1/x", StreamKey: "sk_secret_key", PublishURL: "rtmp://127.0.0.1/x/sk_secret_key"}
	var buf strings.Builder
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("ingress created", "ingress", in)
	}
	logged := buf.String() + fmt.Sprint(in) + fmt.Sprintf("%+v %v", in, &in)
	assert.Contains(t, logged, "IN_abc")
	assert.NotContains(t, logged, "sk_secret_key")
}

// A LiveKit with Redis but no Ingress service: RTMP and WHIP ingresses are only
// records, so LiveKit creates them (they stay inactive: nothing will ever take
// the push), while a URL pull needs the service to start it and answers
// errs.ErrUnavailable once LiveKit gives up finding one.
func TestWithoutAnIngressService(t *testing.T) {
	env := testenv.LiveKit(t, testenv.WithRedis())
	svc, err := ingress.New(ingress.Config{URL: env.URL, APIKey: env.APIKey, APISecret: env.APISecret})
	require.NoError(t, err)
	ctx := context.Background()

	in, err := svc.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "stage", Identity: "obs"}})
	require.NoError(t, err)
	assert.Equal(t, ingress.Inactive, in.State)
	_, err = svc.WHIP(ctx, ingress.WHIPOptions{Participant: ingress.Participant{Room: "stage", Identity: "guest"}})
	require.NoError(t, err)

	_, err = svc.PullURL(ctx, ingress.URLOptions{Participant: ingress.Participant{Room: "stage", Identity: "dj"}, URL: "http://127.0.0.1:1/set.ogg"})
	require.ErrorIs(t, err, errs.ErrUnavailable)
}

// A pull's URL holds credentials: Redacted (lists, events, the shared log)
// hides its userinfo and query, also where an error quotes it; an admin's
// WithoutStreamKey keeps it whole. An RTMP ingress loses its key either way.
func TestRedactedHidesAPullsCredentials(t *testing.T) {
	src := "https://dj:pa55@cdn.example.test/sets/friday.ogg?token=s3cr3t"
	pull := ingress.Ingress{ID: "IN_pull", Kind: ingress.URL, ServerURL: src, State: ingress.Failed, Error: "cannot fetch " + src}
	red := pull.Redacted()
	assert.Equal(t, "https://cdn.example.test/sets/{redacted}", red.ServerURL)
	assert.Equal(t, "cannot fetch https://cdn.example.test/sets/{redacted}", red.Error)
	assert.Equal(t, pull, pull.WithoutStreamKey(), "an admin's list has it whole")
	obs := ingress.Ingress{ID: "IN_obs", Kind: ingress.RTMP, ServerURL: "rtmp://127.0.0.1/x", StreamKey: "sk_secret_key", PublishURL: "rtmp://127.0.0.1/x/sk_secret_key"}
	for _, in := range []ingress.Ingress{obs.Redacted(), obs.WithoutStreamKey()} {
		assert.Empty(t, in.StreamKey)
		assert.Equal(t, "rtmp://127.0.0.1/x", in.ServerURL)
		assert.Equal(t, "rtmp://127.0.0.1/x/{redacted}", in.PublishURL)
	}
}
