package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/livekit/protocol/livekit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/audit"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// fakeMic gives Chromium its fake capture device (a beep) and grants the
// microphone without asking: getUserMedia answers as on a laptop.
func fakeMic(testenv.TB, string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", true)}
}

// loadLiveKit is the start of an async page script that joins a room: LK is
// the LiveKit web SDK the dashboard serves (the monitor's, when loaded).
const loadLiveKit = `  const LK = window.LivekitClient || await new Promise((ok, no) => {
    const s = document.createElement("script");
    s.src = "/static/vendor/livekit-client.umd.js";
    s.onload = () => ok(window.LivekitClient); s.onerror = no;
    document.head.append(s);
  });`

// publishBoth has the page's browser join twice through LiveKit's web SDK:
// ada on a voice call's defaults (getUserMedia's defaults, the SDK's publish
// defaults: DTX on, voice processing on), bea with the music preset.
const publishBoth = `(async () => {
` + loadLiveKit + `
  const join = async (jwt) => { const r = new LK.Room(); await r.connect(%q, jwt); return r; };
  const ada = await join(%q);
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  await ada.localParticipant.publishTrack(mic.getAudioTracks()[0], { source: LK.Track.Source.Microphone });
  const bea = await join(%q);
  const music = await LK.createLocalAudioTrack({ channelCount: 2, echoCancellation: false, noiseSuppression: false, autoGainControl: false });
  await bea.localParticipant.publishTrack(music, { source: LK.Track.Source.Microphone,
    audioPreset: LK.AudioPresets.musicHighQualityStereo, dtx: false, red: false });
  window.__published = "yes";
})().catch((e) => { window.__published = "failed: " + e; })`

// warned is each participant's finding codes, from the room as a viewer reads it.
func warned(t *testing.T, s *stage, room string) (map[string][]audit.Code, []byte) {
	code, body := s.as(t, testViewerKey, "GET", "/api/rooms/"+room, nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	out := map[string][]audit.Code{}
	for _, p := range decodeAs[rooms.Detail](t, body).Participants {
		if len(p.Tracks) == 0 {
			continue
		}
		out[p.Identity] = []audit.Code{}
		for _, w := range p.Warnings {
			out[p.Identity] = append(out[p.Identity], w.Code)
		}
	}
	return out, body
}

// Every published audio track is judged against the music profile, on the
// real stack: a browser on a voice call's defaults is flagged on each point,
// one with the music preset is not, and OBS (RTMP, transcoded by our ingress
// options) and a WHIP encoder are judged by what LiveKit says of their
// tracks. The page shows the warnings beside the performer; the event stream
// tells each finding once, however often the model lists LiveKit again; a
// viewer sees them, with nothing secret in them, and cannot change them.
func TestTheAuditFlagsAVoiceCallNotMusic(t *testing.T) {
	testenv.RequireNetNS(t)
	start := time.Now()
	lap := func(what string) { t.Logf("%5.1f s %s", time.Since(start).Seconds(), what) }
	hook := newHookFront(t)
	env, _ := testenv.Ingress(t, hook.option())
	s := newStageAt(t, env, egress.Storage{}, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup, s.OperatorGroup = adminGroup, operatorGroup
	}, true, env.WSURL)
	hook.to(s)
	ctx := t.Context()
	lap("stack up")
	code, out := s.call(t, "POST", "/api/rooms", map[string]any{"name": "friday-jam"})
	require.Equal(t, http.StatusCreated, code, "%s", out)
	stream := openStream(t, s.srv.URL+"/api/events?room=friday-jam", testViewerKey, "")

	obs, err := s.sm.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "friday-jam", Identity: "obs-rtmp"}, AudioOnly: true})
	require.NoError(t, err)
	whip, err := s.sm.Ingress.WHIP(ctx, ingress.WHIPOptions{Participant: ingress.Participant{Room: "friday-jam", Identity: "obs-whip"}})
	require.NoError(t, err)
	s.keepOutOfLogs(obs.StreamKey, whip.StreamKey)
	testenv.PushRTMP(t, obs.PublishURL, time.Minute, true)
	testenv.PublishWHIP(t, whip.PublishURL, testenv.Tone(t, 660, time.Minute))
	voice, err := s.sm.Tokens.Performer("friday-jam", "ada")
	require.NoError(t, err)
	music, err := s.sm.Tokens.Performer("friday-jam", "bea")
	require.NoError(t, err)
	lap("encoders pushing")
	b := openDashboard(t, s.srv.URL+"/", "mia", fakeMic)
	b.run(chromedp.Evaluate(fmt.Sprintf(publishBoth, env.WSURL, voice.JWT, music.JWT), nil))
	b.until("both browsers publishing", `window.__published === "yes" || (window.__published || "").startsWith("failed")`)
	require.Equal(t, "yes", b.read("body", "window.__published"), "the browser could not publish")
	lap("browsers publishing")

	var got map[string][]audit.Code
	var body []byte
	require.Eventually(t, func() bool {
		got, body = warned(t, s, "friday-jam")
		return len(got) == 4
	}, wait, tick, "four publishers in the model: %v", got)
	lap(fmt.Sprintf("findings: %v", got))
	assert.Equal(t, []audit.Code{audit.Mono, audit.DTX, audit.EchoCancellation, audit.NoiseSuppression, audit.AutoGainControl}, got["ada"],
		"a voice call's defaults fail on each point")
	assert.Empty(t, got["bea"], "the music preset passes")
	assert.Empty(t, got["obs-rtmp"], "RTMP is transcoded to stereo Opus, DTX off, from a 48 kHz stereo encoder")
	assert.Equal(t, []audit.Code{audit.Mono, audit.DTX}, got["obs-whip"],
		"a passthrough WHIP track as Ingress v1.5.0 publishes it: mono (pion's offer has no stereo=1), DTX on (Ingress says nothing of DTX)")
	for _, secret := range []string{obs.StreamKey, whip.StreamKey, voice.JWT, music.JWT, env.APISecret} {
		assert.NotContains(t, string(body), secret, "the room a viewer reads holds no secret")
	}

	// The page shows the warnings beside the performer, with the fix.
	b.click(`#rooms tr[data-room="friday-jam"] button.link`)
	b.until("ada's warnings", `!!document.querySelector('#participants li[data-identity="ada"] li[data-warning="dtx"]')`)
	assert.Contains(t, b.text(`#participants li[data-identity="ada"] .warnings`), "browser: publish with the music preset")
	assert.Equal(t, "0", b.read("body", `String(document.querySelectorAll('#participants li[data-identity="bea"] [data-warning]').length)`))

	lap("page shows them")
	// Told once per track and finding, however often the model lists LiveKit.
	for range 2 {
		_, err := s.live.(*events.Watch).Resync(ctx)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return len(flagsOf(stream.all())) >= 7 }, wait, tick, "the stream told the findings: %v", storyOf(stream.all()))
	told := flagsOf(stream.all())
	assert.Len(t, told, 7, "ada's five and the WHIP track's two, once each: %v", told)
	raw, _ := json.Marshal(stream.all())
	for _, secret := range []string{obs.StreamKey, whip.StreamKey, voice.JWT, music.JWT} {
		assert.NotContains(t, string(raw), secret, "the event stream holds no secret")
	}

	lap("stream told them once")
	viewerCannotChangeFindings(t, s, got)
	lap("attacker refused")
}

// viewerCannotChangeFindings: no route writes them, and a webhook that would
// say ada's track is stereo now, without LiveKit's signature, is refused.
func viewerCannotChangeFindings(t *testing.T, s *stage, got map[string][]audit.Code) {
	forged, _ := json.Marshal(&livekit.WebhookEvent{Event: "track_published", Id: "EV_forged", Room: &livekit.Room{Name: "friday-jam"},
		Participant: &livekit.ParticipantInfo{Identity: "ada"}, Track: &livekit.TrackInfo{Sid: "TR_forged", Type: livekit.TrackType_AUDIO, Stereo: true, DisableDtx: true}})
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+"/api/webhooks/livekit", bytes.NewReader(forged))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/webhook+json")
	req.Header.Set("X-API-Key", testViewerKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an unsigned webhook")
	code, _ := s.as(t, testViewerKey, "PUT", "/api/rooms/friday-jam", map[string]any{"warnings": []any{}})
	assert.Contains(t, []int{http.StatusMethodNotAllowed, http.StatusForbidden}, code, "no route writes warnings")
	after, _ := warned(t, s, "friday-jam")
	assert.Equal(t, got, after, "the findings are as LiveKit says")
}

// flagsOf is the findings the stream told, as "identity/track/code".
func flagsOf(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == events.AudioFlagged && e.Finding != nil && e.Participant != nil {
			out = append(out, e.Participant.Identity+"/"+e.Finding.Track+"/"+string(e.Finding.Code))
		}
	}
	slices.Sort(out)
	return out
}
