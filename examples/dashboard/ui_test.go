package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/access"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// browser drives the dashboard page in headless Chromium, signed in as a user
// of the forward-auth proxy, accepting every confirm() as a person would.
type browser struct {
	*testenv.Browser
	t testing.TB
}

func openDashboard(t testing.TB, url, user string, with ...testenv.BrowserOption) *browser {
	b := &browser{Browser: testenv.NewBrowser(t, with...), t: t}
	chromedp.ListenTarget(b.Ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() { _ = chromedp.Run(b.Ctx, page.HandleJavaScriptDialog(true)) }()
		}
	})
	b.run(network.Enable(), signedIn(user, "crew|"+adminGroup), chromedp.Navigate(url), chromedp.WaitVisible("#rooms", chromedp.ByQuery))
	return b
}

// signedIn is what Traefik adds after Authentik let user in: who they are,
// their groups, and the secret that proves the headers come from the proxy.
func signedIn(user, groups string) chromedp.Action {
	return network.SetExtraHTTPHeaders(network.Headers{"X-authentik-username": user, "X-authentik-groups": groups,
		access.ProxySecretHeader: testProxySecret})
}

// signInAs reloads the page as another person.
func (b *browser) signInAs(user, groups string) {
	b.t.Helper()
	b.run(signedIn(user, groups), chromedp.Reload(), chromedp.WaitVisible("#rooms", chromedp.ByQuery))
	b.until("the role in the header", `!!document.querySelector("#role")`)
}

// run performs actions with a bound, failing the test with what the page showed.
func (b *browser) run(actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 45*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Run(ctx, actions...))
}

// until waits for a JavaScript condition on the page (which refreshes itself).
func (b *browser) until(what, js string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()
	err := chromedp.Run(ctx, chromedp.Poll(js, nil, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(55*time.Second)))
	require.NoError(b.t, err, "the page never showed: %s", what)
}

// click clicks sel once it is on the page. The page re-renders its lists on
// every event, so the element is found and clicked in one turn of the page's
// script: a node one CDP call found may be gone by the next ("Could not find
// node with given id", seen in CI).
func (b *browser) click(sel string) {
	b.t.Helper()
	q, err := json.Marshal(sel)
	require.NoError(b.t, err)
	b.until("something to click at "+sel, `(() => { const e = document.querySelector(`+string(q)+`); if (!e) return false; e.click(); return true })()`)
}

// text is sel's visible text, read in one turn of the page's script (see click).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return b.read(sel, "e.innerText")
}

// attr is sel's attribute name, read in one turn of the page's script.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	q, err := json.Marshal(name)
	require.NoError(b.t, err)
	return b.read(sel, "e.getAttribute("+string(q)+") ?? ''")
}

// read evaluates expr on the element e at sel once sel is on the page.
func (b *browser) read(sel, expr string) string {
	b.t.Helper()
	q, err := json.Marshal(sel)
	require.NoError(b.t, err)
	var got struct {
		V string `json:"v"`
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()
	err = chromedp.Run(ctx, chromedp.Poll(`(() => { const e = document.querySelector(`+string(q)+`); return e ? {v: `+expr+`} : null })()`,
		&got, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(55*time.Second)))
	require.NoError(b.t, err, "the page never showed %s", sel)
	return got.V
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	var n int
	b.run(chromedp.Evaluate(`document.querySelectorAll('`+sel+`').length`, &n))
	return n
}

func (b *browser) fill(form string, fields map[string]string) {
	b.t.Helper()
	for name, v := range fields {
		b.run(chromedp.SetValue(form+` [name="`+name+`"]`, v, chromedp.ByQuery))
	}
	b.click(form + ` button[type="submit"]`)
}

// An operator runs a show from the web page in a real browser, against real
// LiveKit, Ingress, Egress and MinIO: creates the stage, watches a performer
// arrive, mutes and kicks her, hands out a listener token, sets up OBS and sees
// it go live, records the show and downloads the recording.
func TestOperatorRunsTheShowInTheBrowser(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t) // the page is live from LiveKit's webhooks, as deployed
	m := testenv.MinIO(t)   // before the media slot, which Ingress takes
	env, _ := testenv.Ingress(t, hook.option())
	testenv.Egress(t, env)
	storage := egress.Storage{Endpoint: m.Endpoint, Bucket: "recordings", AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	s := newStageWith(t, env, storage, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup, s.OperatorGroup = adminGroup, operatorGroup
		s.LiveKitTimeout = 10 * time.Second
	})
	hook.to(s)
	ctx := t.Context()
	require.NoError(t, s.sm.Recordings.EnsureBucket(ctx))

	b := openDashboard(t, s.srv.URL+"/", "mia")
	assert.Contains(t, b.text("#user"), "mia", "the header names who is signed in")
	b.until("her role in the header", `document.querySelector("#role")?.textContent === "admin"`)
	b.until("LiveKit is reachable", `document.querySelector("#livekit").textContent === "ok"`)

	// The stage is created from the form and listed.
	b.fill("#create-room", map[string]string{"name": "friday-jam", "departureTimeout": "120"})
	b.until("the new room in the list", `!!document.querySelector('#rooms tr[data-room="friday-jam"]')`)
	room, err := s.sm.Rooms.Get(ctx, "friday-jam")
	require.NoError(t, err)
	assert.Equal(t, 120, room.DepartureTimeoutSec)

	// A performer joins and plays; she shows up in the room with her track.
	tok, err := s.sm.Tokens.Performer("friday-jam", "ada")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, tok.JWT, nil), testenv.Tone(t, 440, 3*time.Minute))
	require.NoError(t, err)
	b.click(`#rooms tr[data-room="friday-jam"] button.link`)
	ada := `#participants li[data-identity="ada"]`
	b.until("ada's audio track", `!!document.querySelector('`+ada+` li[data-track]')`)
	assert.Contains(t, b.text(ada+` li[data-track]`), "audio · microphone · opus")

	// Mute from the page: LiveKit has her track muted.
	b.click(ada + ` li[data-track] button`)
	require.Eventually(t, func() bool {
		p, err := s.sm.Rooms.Participant(ctx, "friday-jam", "ada")
		return err == nil && len(p.Tracks) == 1 && p.Tracks[0].Muted
	}, wait, tick, "the mute never reached LiveKit")
	b.until("the muted badge", `document.querySelector('`+ada+` li[data-track] .badge').textContent === "muted"`)

	// Kick (after the confirmation): she is gone, on the page and in LiveKit.
	b.click(ada + ` button.danger`)
	b.until("ada gone from the room", `!document.querySelector('`+ada+`')`)
	_, err = s.sm.Rooms.Participant(ctx, "friday-jam", "ada")
	assert.True(t, errors.Is(err, spacemusic.ErrNotFound), "ada is still in the room: %v", err)

	// A listener token with a lifetime in seconds, shown with its expiry.
	b.fill("#create-token", map[string]string{"role": "listener", "room": "friday-jam", "identity": "bob", "ttl": "120"})
	bob := `#tokens li[data-token-identity="bob"]`
	b.until("bob's token", `!!document.querySelector('`+bob+`')`)
	expires := b.attr(bob+" time", "datetime")
	at, err := time.Parse(time.RFC3339, expires)
	require.NoError(t, err, "expiry %q", expires)
	assert.WithinDuration(t, time.Now().Add(2*time.Minute), at, 10*time.Second)
	assert.Contains(t, b.text(bob), "listener in friday-jam")

	// OBS: an RTMP ingress with its settings to paste, the stream key shown
	// right after creating it; ffmpeg pushes; it goes live.
	b.fill("#create-ingress", map[string]string{"kind": "rtmp", "room": "friday-jam", "identity": "obs-main"})
	card := `#ingress li[data-ingress]`
	b.until("the OBS settings", `!!document.querySelector('`+card+` code.secret')`)
	server, key := b.text(card+" dd code"), b.text(card+" code.secret")
	require.True(t, strings.HasPrefix(server, "rtmp://127.0.0.1:"), server)
	require.NotEmpty(t, key)
	testenv.PushRTMP(t, server+"/"+key, 3*time.Minute, true)
	b.until("the ingress publishing", `document.querySelector('`+card+` .badge').textContent === "publishing"`)

	// The show is recorded from the room's page, stopped, and listed with a
	// download link that serves the file.
	b.click(`[data-egress="audio"]`)
	b.until("the recording running", `[...document.querySelectorAll('#room-egress li .badge')].some(e => e.textContent === "active")`)
	time.Sleep(3 * time.Second) // some music on tape (not a timing assertion)
	b.click(`#room-egress li button`)
	b.until("the finished recording", `!!document.querySelector('#recordings tr[data-key] a[href]')`)
	link := b.attr(`#recordings tr[data-key] a`, "href")
	resp, err := http.Get(link)
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	// What downloads is the show: OBS's 440 Hz for the seconds recorded, as
	// long as the page says.
	file := filepath.Join(t.TempDir(), "show.ogg")
	require.NoError(t, os.WriteFile(file, got, 0o600))
	heard := testenv.Listen(t, file)
	assert.GreaterOrEqual(t, heard.Duration, 2*time.Second, "the seconds of music on tape")
	assert.InDelta(t, 440, heard.Frequency, 10, "OBS's tone")
	b.until("the recording's duration", `/^\d+:\d\d$/.test(document.querySelector('#recordings tr[data-key] td:nth-child(4)').textContent)`)
	shown := b.text(`#recordings tr[data-key] td:nth-child(4)`)
	var mins, secs int
	_, err = fmt.Sscanf(shown, "%d:%d", &mins, &secs)
	require.NoError(t, err, shown)
	assert.InDelta(t, heard.Duration.Seconds(), float64(60*mins+secs), 1.5, "the page says how long it plays: %s", shown)

	// The dashboard mid-show, for the README (STREAMKIT_SCREENSHOT=path to keep it).
	shot := filepath.Join(testenv.Artifacts(), "dashboard.png")
	if p := os.Getenv("STREAMKIT_SCREENSHOT"); p != "" {
		shot = p
	}
	require.NoError(t, b.Screenshot(shot))
	t.Logf("screenshot: %s", shot)

	// On a phone the page reflows: nothing runs off the side of the screen.
	b.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	// (Against the device's width: mobile emulation widens the layout viewport
	// to fit whatever overflows, so innerWidth would grow with the page.)
	var width int
	var wide []string
	b.run(chromedp.Evaluate(`document.documentElement.scrollWidth`, &width),
		chromedp.Evaluate(`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391 && ![...e.children].some(c => c.getBoundingClientRect().right > 391)).slice(0, 8).map(e => e.tagName + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "") + " " + Math.round(e.getBoundingClientRect().right))`, &wide))
	assert.LessOrEqual(t, width, 390, "the page is %d px wide on a 390 px phone; sticking out: %v", width, wide)
	require.NoError(t, b.Screenshot(filepath.Join(testenv.Artifacts(), "dashboard-phone.png")))
	b.run(chromedp.EmulateViewport(1280, 900))

	// After a reload the page no longer holds the key (lists never carry it);
	// mia, an admin, reveals it again.
	b.signInAs("mia", "crew|"+adminGroup)
	b.until("the ingest card", `!!document.querySelector('`+card+`')`)
	assert.Equal(t, 0, b.count(card+" code.secret"), "the key is hidden after a reload")
	assert.Equal(t, server, b.text(card+" dd code"), "the server stays visible")
	b.click(card + " button.reveal")
	b.until("the revealed key", `!!document.querySelector('`+card+` code.secret')`)
	assert.Equal(t, key, b.text(card+" code.secret"))
	assert.Contains(t, s.logs.String(), `"msg":"stream key revealed"`)
	// Olga, an operator, sees the ingest without its key, and no Reveal.
	b.signInAs("olga", "crew|"+operatorGroup)
	assert.Equal(t, "operator", b.text("#role"))
	b.until("the ingest card", `!!document.querySelector('`+card+`')`)
	assert.Equal(t, 0, b.count(card+" code.secret"))
	assert.Equal(t, 0, b.count(card+" button.reveal"))
	b.signInAs("mia", "crew|"+adminGroup)

	// A mistake is explained in place, in words.
	b.fill("#create-ingress", map[string]string{"kind": "url", "room": "friday-jam", "identity": "dj", "url": "ftp://files.example.test/set.ogg"})
	b.until("the error", `!document.querySelector("#error").hidden`)
	assert.Contains(t, b.text("#error"), "That input was not accepted")
	assert.NotContains(t, b.text("#error"), "invalid_argument", "words, not codes")

	// Delete the room (after the confirmation): it leaves the list and LiveKit.
	b.click(`#rooms tr[data-room="friday-jam"] button.danger`)
	b.until("the room gone", `!document.querySelector('#rooms tr[data-room="friday-jam"]')`)
	_, err = s.sm.Rooms.Get(ctx, "friday-jam")
	assert.True(t, errors.Is(err, spacemusic.ErrNotFound), fmt.Sprint(err))
}

// Without the proxy's headers the page is not served, like the API.
func TestThePageNeedsSignIn(t *testing.T) {
	s := newStage(t, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
	})
	code, body := s.call(t, "GET", "/", nil, noAuth...)
	assert.Equal(t, 401, code, "%s", body)
	code, body = s.call(t, "GET", "/", nil, "X-authentik-username", "mia")
	assert.Equal(t, 401, code, "the proxy's address without its secret: %s", body)
	resp := s.do(t, "GET", "/", nil, "X-authentik-username", "mia", access.ProxySecretHeader, testProxySecret)
	page := string(mustRead(t, resp))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, "mia")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	resp = s.do(t, "GET", "/static/app.js", nil, noAuth...)
	assert.Equal(t, 200, resp.StatusCode, "the page's script is public")
	assert.Contains(t, string(mustRead(t, resp)), "async function api(")
}

// An operator goes live from the page: the "Go live" form opens the show and
// shows OBS's settings with the stream key and the performer's token at once;
// the show is listed as armed; Close shows the report. (No media: OBS never
// pushes here; TestShowRecordsItselfAndReports records a show.)
func TestGoLiveFromThePage(t *testing.T) {
	testenv.RequireNetNS(t)
	hook := newHookFront(t)
	env := testenv.LiveKit(t, testenv.WithRedis(), hook.option())
	s := newStageWith(t, env, egress.Storage{Endpoint: "http://127.0.0.1:9", Bucket: "recordings",
		AccessKey: "show-stage-access", SecretKey: "show-stage-secret-0123456789"}, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup, s.OperatorGroup = adminGroup, operatorGroup
	})
	hook.to(s)
	b := openDashboard(t, s.srv.URL+"/", "mia")
	b.until("her role in the header", `document.querySelector("#role")?.textContent === "admin"`)

	b.fill("#go-live", map[string]string{"name": "friday-jam", "performers": "ada:Ada", "ingest": "rtmp"})
	b.until("the OBS settings", `!!document.querySelector("#show-opened code.obs-key")`)
	ins, err := s.sm.Ingress.List(t.Context(), ingress.ListOptions{Room: "friday-jam"})
	require.NoError(t, err)
	require.Len(t, ins, 1, "the form made the show's ingress")
	assert.Equal(t, ins[0].StreamKey, b.text("#show-opened code.obs-key"), "the stream key to paste into OBS")
	assert.Contains(t, b.text("#show-opened .obs-encoder"), "AAC")
	assert.Contains(t, b.text(`#show-opened dd[data-performer="ada"]`), publicWS, "ada's join URL and token")
	s.keepOutOfLogs(ins[0].StreamKey)

	row := `#shows tr[data-show="friday-jam"]`
	b.until("the show armed in the list", `document.querySelector('`+row+` .phase')?.textContent === "armed"`)
	b.click(row + " button.danger")
	b.until("the report", `!document.querySelector("#show-report").hidden`)
	assert.Contains(t, b.text("#show-report"), "friday-jam closed in")
	b.until("the show gone from the list", `!document.querySelector('`+row+`')`)
	rs, err := s.sm.Rooms.List(t.Context(), "friday-jam")
	require.NoError(t, err)
	assert.Empty(t, rs, "the stage is closed")
}
