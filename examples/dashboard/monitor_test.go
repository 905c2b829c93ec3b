package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// An operator hears the show from the page, in a real browser, through
// LiveKit's web SDK: OBS pushes a 440 Hz tone over RTMP and ada plays 660 Hz
// from her browser. Each gets a meter that hears its own tone; the monitor is
// hidden (LiveKit does not count it, the page does not list it); muting ada
// from the page silences her meter and unmuting brings it back; a second
// encoder sending silence is called silent; a performer overdriven past full
// scale is called clipping; OBS freezing is called out while
// LiveKit still says it publishes; and the monitor fits a phone.
func TestOperatorHearsTheShow(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	env, _ := testenv.Ingress(t, hook.option())
	s := newStageAt(t, env, egress.Storage{}, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup, s.OperatorGroup = adminGroup, operatorGroup
		s.MonitorSilence = 2 * time.Second
	}, true, env.WSURL)
	hook.to(s)
	ctx := t.Context()

	code, out := s.call(t, "POST", "/api/rooms", map[string]any{"name": "friday-jam"})
	require.Equal(t, http.StatusCreated, code, "%s", out)
	obs, err := s.sm.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "friday-jam", Identity: "obs-main"}, AudioOnly: true})
	require.NoError(t, err)
	s.keepOutOfLogs(obs.StreamKey)
	tone := testenv.PushRTMPSound(t, obs.PublishURL, "sine=frequency=440:sample_rate=48000", 2*time.Minute)
	tok, err := s.sm.Tokens.Performer("friday-jam", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, tok.JWT, nil), testenv.Tone(t, 660, 2*time.Minute))
	require.NoError(t, err)

	b := openDashboard(t, s.srv.URL+"/", "mia")
	b.click(`#rooms tr[data-room="friday-jam"] button.link`)
	b.until("OBS and ada on stage", `document.querySelectorAll('#participants li[data-identity] li[data-track]').length === 2`)

	// Listen: a real click, the gesture that lets a page play sound.
	b.run(chromedp.Click("#listen", chromedp.ByQuery))
	obsMeter, adaMeter := `#meters li[data-identity="obs-main"]`, `#meters li[data-identity="ada"]`
	b.until("OBS heard", `+document.querySelector('`+obsMeter+`')?.dataset.rms > -40`)
	b.until("ada heard", `+document.querySelector('`+adaMeter+`')?.dataset.rms > -40`)
	joinToAudio, err := strconv.Atoi(b.attr("#monitor", "data-first-audio-ms"))
	require.NoError(t, err)
	t.Logf("the monitor's join to first audio: %d ms", joinToAudio)
	assert.Contains(t, b.text("#monitor-state"), "listening to friday-jam")

	// Each meter hears its own tone (the analyser's loudest frequency).
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err, "a number on the page: %q", s)
		return v
	}
	hz := func(meter string) float64 { return num(b.attr(meter, "data-hz")) }
	assert.InDelta(t, 440, hz(obsMeter), 20, "OBS's tone")
	assert.InDelta(t, 660, hz(adaMeter), 20, "ada's tone")
	assert.Greater(t, num(b.read(obsMeter+" meter.rms", "String(e.value)")), -40.0, "the meter moved up from the floor")
	assert.Equal(t, "false", b.attr(obsMeter, "data-clipping"), "a -6 dBFS tone does not clip")
	b.until("receive health", `+document.querySelector('`+obsMeter+`')?.dataset.kbps > 0`)
	t.Logf("OBS as the monitor receives it: %s", b.text(obsMeter+" .health"))
	// The timeline tells the story in words, each person with what they are to
	// the show, in the order it happened (LiveKit's track webhooks carry no
	// role: the page once read "ada (listener) started playing audio").
	b.until("the timeline tells ada playing", `document.querySelector('#timeline').textContent.includes('ada (performer) started playing audio')`)
	story := b.text("#timeline")
	for _, line := range []string{"ada (performer) joined", "obs-main (ingest) joined", "obs-main (ingest) started playing audio"} {
		assert.Contains(t, story, line)
	}
	assert.Less(t, strings.Index(story, "ada (performer) joined"), strings.Index(story, "ada (performer) started playing audio"), story)
	assert.NotContains(t, story, "(listener)", "nobody here listens but the hidden monitor")
	// The room with the monitor playing, its loudness meters running, for the
	// README (STREAMKIT_MONITOR_SHOT=path keeps it).
	for _, m := range []string{obsMeter, adaMeter} {
		b.until("loudness measured", `+document.querySelector('`+m+`')?.dataset.lufsSeconds >= 3`)
		assert.Contains(t, b.text(m+" .loudness"), "LUFS", "the card shows its loudness")
	}
	require.NoError(t, os.MkdirAll(testenv.Artifacts(), 0o755))
	shot := filepath.Join(testenv.Artifacts(), "monitor.png")
	if p := os.Getenv("STREAMKIT_MONITOR_SHOT"); p != "" {
		shot = p
	}
	var png []byte
	b.run(chromedp.Screenshot("#detail", &png, chromedp.ByQuery))
	require.NoError(t, os.WriteFile(shot, png, 0o644))

	// A second encoder goes live while the monitor listens, sending only
	// silence (a mixer with its faders down). The page notes when its meter
	// appears and when it is called silent.
	hushMeter := `#meters li[data-identity="obs-hush"]`
	b.run(chromedp.Evaluate(`(() => {
		const w = window.__hush = {appeared: 0, silent: 0};
		const iv = setInterval(() => {
			const el = document.querySelector('`+hushMeter+`');
			if (el && !w.appeared) w.appeared = performance.now();
			if (el && el.dataset.silent === "true") { w.silent = performance.now(); clearInterval(iv); }
		}, 10);
		setTimeout(() => clearInterval(iv), 120000);
	})()`, nil))
	hush, err := s.sm.Ingress.RTMP(ctx, ingress.RTMPOptions{Participant: ingress.Participant{Room: "friday-jam", Identity: "obs-hush"}, AudioOnly: true})
	require.NoError(t, err)
	s.keepOutOfLogs(hush.StreamKey)
	testenv.PushRTMPSound(t, hush.PublishURL, "anullsrc=r=48000:cl=stereo", 2*time.Minute)

	// The monitor is hidden: LiveKit lists it as hidden and does not count it;
	// the page lists only the show.
	ps, err := s.sm.Rooms.Participants(ctx, "friday-jam")
	require.NoError(t, err)
	var monitor int
	for _, p := range ps {
		if strings.HasPrefix(p.Identity, "monitor-") {
			monitor++
			assert.True(t, p.Permission.Hidden, "the monitor is hidden")
			assert.False(t, p.Permission.CanPublish, "the monitor may only listen")
		}
	}
	assert.Equal(t, 1, monitor, "LiveKit has the monitor in the room: %+v", ps)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, body, _ := s.read(c, "/api/rooms/friday-jam")
		assert.Contains(c, string(body), `"identity":"monitor-`)
		assert.Contains(c, string(body), `"identity":"obs-hush"`)
	}, wait, tick, "the dashboard's model heard the monitor and the hushed encoder join")
	_, body, _ := s.read(t, "/api/rooms")
	listed := decodeAs[[]rooms.Room](t, body)
	require.Len(t, listed, 1)
	assert.Equal(t, 3, listed[0].NumParticipants, "the dashboard counts ada and the encoders, not the monitor")
	// The page draws the room afresh (from the API, which has the monitor now).
	b.run(chromedp.Evaluate(`document.querySelector("#participants").replaceChildren()`, nil))
	b.click(`#rooms tr[data-room="friday-jam"] button.link`)
	b.until("the room drawn again", `document.querySelectorAll("#participants > li").length > 0`)
	assert.Zero(t, b.count(`#participants li[data-identity^="monitor-"]`), "the page does not list the monitor")
	assert.Equal(t, 3, b.count(`#participants > li`))

	// Mute ada from the page: her meter falls silent, measured in the page from
	// the click; unmute: her tone is back.
	adaButton := `#participants li[data-identity="ada"] li[data-track] button`
	silentAfter := b.afterClick(adaButton, `+document.querySelector('`+adaMeter+`')?.dataset.rms < -60`)
	t.Logf("mute click to silence in the monitor: %.0f ms", silentAfter)
	assert.Less(t, silentAfter, 1000.0, "the monitor is silent within a second of the mute")
	assert.Greater(t, num(b.attr(obsMeter, "data-rms")), -40.0, "OBS still sounds")
	b.until("the unmute button", `document.querySelector('`+adaButton+`')?.textContent === "Unmute"`)
	b.click(adaButton)
	b.until("ada heard again", `+document.querySelector('`+adaMeter+`')?.dataset.rms > -40`)
	assert.InDelta(t, 660, hz(adaMeter), 20, "ada's tone is back")

	// The hushed encoder, live after the monitor joined, has its meter too, and
	// sends silence: after the configured 2 s the monitor says so, while OBS
	// and ada still sound.
	b.until("the hushed encoder called silent", `document.querySelector('`+hushMeter+`')?.dataset.silent === "true"`)
	// Not before the configured 2 s: from its meter's first appearance (its
	// silence cannot have begun earlier), by the page's own clock.
	var hushed struct{ Appeared, Silent float64 }
	b.run(chromedp.Evaluate(`window.__hush`, &hushed))
	require.Positive(t, hushed.Appeared, "the page watched the hushed encoder's meter appear")
	t.Logf("the hushed encoder's meter called silent %.0f ms after it appeared", hushed.Silent-hushed.Appeared)
	assert.GreaterOrEqual(t, hushed.Silent-hushed.Appeared, 1980.0, "silent only after DASHBOARD_MONITOR_SILENCE (2 s)")
	assert.Regexp(t, `silent for \d+ s`, b.text(hushMeter+" .readout"))
	assert.Equal(t, "false", b.attr(adaMeter, "data-silent"), "ada still plays")
	assert.Equal(t, "false", b.attr(obsMeter, "data-silent"), "OBS still plays")
	assert.Equal(t, "aac 2 ch 48 kHz", b.text(`#room-ingress li[data-ingress="`+obs.ID+`"] .input`), "what OBS sends, as Ingress read it")

	// A second performer plays with her gain far too high: a 330 Hz sine at
	// twice full scale, which the decoder clips flat. The monitor calls it
	// clipping, in its data and in words; OBS's quieter tone it does not.
	tok, err = s.sm.Tokens.Performer("friday-jam", "bo")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, tok.JWT, nil), testenv.OverdrivenTone(t, 330, 2*time.Minute))
	require.NoError(t, err)
	hotMeter := `#meters li[data-identity="bo"]`
	b.until("bo heard", `+document.querySelector('`+hotMeter+`')?.dataset.rms > -40`)
	b.until("bo called clipping", `document.querySelector('`+hotMeter+`')?.dataset.clipping === "true"`)
	t.Logf("bo as the monitor hears her: %s", b.text(hotMeter+" .readout"))
	assert.Contains(t, b.text(hotMeter+" .readout"), "CLIPPING", "the card says it in words")
	assert.Equal(t, "false", b.attr(obsMeter, "data-clipping"), "OBS's tone does not clip")

	// OBS freezes (the connection stays, nothing is sent): Ingress still says
	// publishing; the monitor hears silence and says nothing arrives.
	assert.Equal(t, "false", b.attr(obsMeter, "data-stalled"))
	require.NoError(t, tone.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = tone.Signal(syscall.SIGCONT) })
	b.until("the stall called", `document.querySelector('`+obsMeter+`')?.dataset.stalled === "true"`)
	assert.Contains(t, b.text(obsMeter+" .health"), "while LiveKit says the ingest is publishing")
	in, err := s.sm.Ingress.Get(ctx, obs.ID)
	require.NoError(t, err)
	assert.Equal(t, ingress.Publishing, in.State, "LiveKit still says publishing: only the monitor can tell")
	assert.Equal(t, "false", b.attr(adaMeter, "data-stalled"), "ada is no ingest")

	// On a phone: nothing wider than the screen, the meters still there.
	b.run(chromedp.EmulateViewport(390, 844))
	b.until("the page fits 390 px", `document.documentElement.scrollWidth <= 390`)
	b.until("Listen within the screen", `document.querySelector("#listen").getBoundingClientRect().right <= 390`)
	b.until("meters within the screen", `[...document.querySelectorAll("#meters meter")].every(m => m.getBoundingClientRect().right <= 390)`)

	// Stop listening: the monitor leaves the room.
	b.click("#listen")
	require.Eventually(t, func() bool {
		ps, err := s.sm.Rooms.Participants(ctx, "friday-jam")
		if err != nil {
			return false
		}
		for _, p := range ps {
			if strings.HasPrefix(p.Identity, "monitor-") {
				return false
			}
		}
		return true
	}, wait, tick, "the monitor left when the operator stopped listening")
}

// afterClick clicks sel and answers how many milliseconds later cond held, as
// the page measures it (its own clock: no round trips in the figure).
func (b *browser) afterClick(sel, cond string) float64 {
	b.t.Helper()
	var ms float64
	b.run(chromedp.Evaluate(`new Promise((done) => {
		const t0 = performance.now();
		document.querySelector('`+sel+`').click();
		const iv = setInterval(() => { if (`+cond+`) { clearInterval(iv); done(performance.now() - t0); } }, 10);
		setTimeout(() => { clearInterval(iv); done(-1); }, 20000);
	})`, &ms, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	require.GreaterOrEqual(b.t, ms, 0.0, "the page never showed %s after clicking %s", cond, sel)
	return ms
}

// Who may listen, and to what: an operator gets a hidden, subscribe-only token
// for ten minutes for a room that exists; a viewer or a stranger gets nothing;
// a room that does not exist is a 404 and is not opened by asking; a hostile
// name is a 400.
func TestOnlyOperatorsListenUnseen(t *testing.T) {
	s, out := askForRoomTokens(t, "monitor")
	tok := decodeAs[tokenResponse](t, out)
	assert.Equal(t, "monitor", tok.Role)
	assert.Equal(t, publicWS, tok.WSURL)
	assert.True(t, strings.HasPrefix(tok.Identity, "monitor-"), tok.Identity)
	assert.WithinDuration(t, time.Now().Add(10*time.Minute), tok.ExpiresAt, 5*time.Second)
	claims, err := s.sm.Tokens.Verify(tok.Token)
	require.NoError(t, err)
	g := claims.Grant
	assert.True(t, g.Hidden, "not counted, not shown")
	assert.Equal(t, "friday-jam", g.Room)
	assert.False(t, *g.CanPublish, "a monitor never publishes")
	assert.False(t, *g.CanPublishData, "nor sends data")
	assert.True(t, *g.CanSubscribe)
	assert.False(t, g.RoomAdmin)
	_, again := s.as(t, testOperatorKey, "POST", "/api/rooms/friday-jam/monitor", nil)
	assert.NotEqual(t, tok.Identity, decodeAs[tokenResponse](t, again).Identity, "each monitor is someone new")
	onlyOperatorsGetRoomTokens(t, s, "monitor")
}

// askForRoomTokens opens friday-jam on a fresh stage and asks a room's token
// route (POST /api/rooms/friday-jam/<route>) as an operator: its 201 answer.
func askForRoomTokens(t *testing.T, route string) (*stage, []byte) {
	t.Helper()
	s := newStage(t, nil)
	_, err := s.sm.Rooms.Create(t.Context(), "friday-jam", rooms.CreateOptions{})
	require.NoError(t, err)
	code, out := s.as(t, testOperatorKey, "POST", "/api/rooms/friday-jam/"+route, nil)
	require.Equal(t, http.StatusCreated, code, "%s", out)
	return s, out
}

// onlyOperatorsGetRoomTokens: a room's token route answers a viewer 403 and
// a stranger 401, without a token; a room that does not exist 404, and
// asking opens none; a hostile name 400.
func onlyOperatorsGetRoomTokens(t *testing.T, s *stage, route string) {
	t.Helper()
	for key, want := range map[string]int{testViewerKey: http.StatusForbidden, "": http.StatusUnauthorized} {
		code, out := s.as(t, key, "POST", "/api/rooms/friday-jam/"+route, nil)
		assert.Equal(t, want, code, "%s", out)
		assert.NotContains(t, string(out), `"token":`, "no token for a viewer or a stranger")
	}

	code, out := s.as(t, testOperatorKey, "POST", "/api/rooms/never-was/"+route, nil)
	assert.Equal(t, http.StatusNotFound, code, "%s", out)
	assert.Equal(t, "not_found", errorCode(t, out))
	listed, err := s.sm.Rooms.List(t.Context(), "never-was")
	require.NoError(t, err)
	assert.Empty(t, listed, "asking opened no room")

	for _, bad := range []string{"%20", strings.Repeat("x", 300), "%00", "a%0Ab"} {
		code, out := s.as(t, testOperatorKey, "POST", "/api/rooms/"+bad+"/"+route, nil)
		assert.Equal(t, http.StatusBadRequest, code, "%q: %s", bad, out)
	}
}
