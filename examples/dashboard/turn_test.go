package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cdp "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/internal/stack"
	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// Listeners behind NAT reach the show through LiveKit's embedded TURN, as the
// seed's stack serves it. A real Chromium listener, allowed only relayed
// candidates (iceTransportPolicy "relay"), joins with the dashboard's listener
// token and hears the performer's 440 Hz tone over TURN/UDP. Then the
// listener's network refuses every new UDP flow (a café's firewall): a second
// listener still hears the tone, over TURN/TLS. Each reads the candidate pair
// its connection selected: a relay, of the protocol it had left. And the
// operator checks the same from the page: the monitor opened with ?relay=1.
func TestListenersBehindNATHearTheShowThroughTURN(t *testing.T) {
	testenv.HoldMediaSlot(t) // Chromium decodes and analyses the show: not beside another binary's transcodes
	env, s := turnStage(t)
	ada := s.token(t, "performer", "ada")
	_, err := testenv.PublishTone(t, env.Join(t, ada.Token, nil), testenv.Tone(t, 440, 2*time.Minute))
	require.NoError(t, err)

	b := openDashboard(t, s.srv.URL+"/", "mia", testenv.TrustCA(env.TURN.CAFile))
	start := time.Now()
	heard := b.listenRelayed(s.token(t, "listener", "lou"))
	t.Logf("relayed listener over %s: %.0f Hz after %d ms (test clock %s)", heard.Protocol, heard.Hz, heard.MS, time.Since(start).Round(time.Millisecond))
	if heard.Protocol == "tls" {
		// Chrome nominates the first relayed pair whose checks succeed: on the
		// loaded 2-core machine, TURN/TLS's once answered before TURN/UDP's (in
		// CI, with LiveKit reporting "high cpu load"). With UDP flowing, a
		// second listener must still get UDP.
		heard = b.listenRelayed(s.token(t, "listener", "lou-again"))
		t.Logf("the second relayed listener over %s: %.0f Hz after %d ms", heard.Protocol, heard.Hz, heard.MS)
	}
	require.Equal(t, "relay", heard.Type, "the selected pair's local candidate is TURN's")
	require.Equal(t, "udp", heard.Protocol, "TURN over UDP when UDP flows")
	require.InDelta(t, 440, heard.Hz, 20, "the show's tone")

	// The listener's UDP is blocked: to TURN/UDP, and new flows to the SFU's
	// media port unless they leave from TURN's relay ports (the relay's own;
	// the performer's flow is older than the rule). Only this node's ports:
	// other test binaries share the namespace.
	testenv.Firewall(t, "-A", "OUTPUT", "-p", "udp", "-d", "127.0.0.1", "--dport", fmt.Sprint(env.TURN.UDPPort), "-j", "DROP")
	testenv.Firewall(t, "-A", "OUTPUT", "-p", "udp", "-d", "127.0.0.1", "--dport", fmt.Sprint(env.UDPPort),
		"-m", "conntrack", "--ctstate", "NEW", "-m", "multiport", "!", "--sports", stack.TURNRelayPorts, "-j", "DROP")
	start = time.Now()
	heard = b.listenRelayed(s.token(t, "listener", "lin"))
	t.Logf("relayed listener without UDP over %s: %.0f Hz after %d ms (test clock %s)", heard.Protocol, heard.Hz, heard.MS, time.Since(start).Round(time.Millisecond))
	require.Equal(t, "relay", heard.Type)
	require.Equal(t, "tls", heard.Protocol, "TURN over TLS when UDP is blocked")
	require.InDelta(t, 440, heard.Hz, 20, "the show's tone")

	// The operator checks the same from the page: the monitor with ?relay=1
	// listens through TURN only, and says which way the show reaches it.
	b.run(chromedp.Navigate(s.srv.URL + "/?relay=1"))
	b.click(`#rooms tr[data-room="friday-jam"] button.link`)
	b.run(chromedp.Click("#listen", chromedp.ByQuery))
	meter := `#meters li[data-identity="ada"]`
	b.until("the monitor's path", `document.querySelector('`+meter+`')?.dataset.path === "relay/tls"`)
	b.until("ada heard through TURN", `+document.querySelector('`+meter+`')?.dataset.rms > -40`)
	b.until("the show's tone", `Math.abs(document.querySelector('`+meter+`').dataset.hz - 440) < 20`)
	require.Contains(t, b.text("#monitor-state"), "through TURN only")
	b.until("the card says so", `document.querySelector('`+meter+` .health').textContent.includes("through TURN (tls)")`)
}

// turnStage is a dashboard before a LiveKit with its TURN (and ICE/TCP),
// inside the private network namespace, with friday-jam open.
func turnStage(t *testing.T) (*testenv.Env, *stage) {
	t.Helper()
	testenv.RequireNetNS(t)
	env := testenv.LiveKit(t, testenv.WithTURN())
	return env, pageStage(t, env, "friday-jam")
}

// pageStage is a dashboard before env for the page's monitor (signed in through
// the proxy, handing out LiveKit's own URL), with the room open.
func pageStage(t *testing.T, env *testenv.Env, room string) *stage {
	t.Helper()
	s := newStageAt(t, env, egress.Storage{}, func(s *config.Settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup = adminGroup
	}, false, env.WSURL)
	code, out := s.call(t, "POST", "/api/rooms", map[string]any{"name": room})
	require.Equal(t, http.StatusCreated, code, "%s", out)
	return s
}

// token asks the dashboard for a role's token in friday-jam.
func (s *stage) token(t *testing.T, role, identity string) tokenResponse {
	t.Helper()
	code, out := s.call(t, "POST", "/api/tokens", map[string]any{"role": role, "room": "friday-jam", "identity": identity})
	require.Equal(t, http.StatusCreated, code, "%s", out)
	return decodeAs[tokenResponse](t, out)
}

// relayed is what a relay-only listener heard, and through what.
type relayed struct {
	Hz       float64 // the loudest frequency of the first audio track
	MS       int64   // from connect to hearing it
	Type     string  // the selected candidate pair's local candidate type
	Protocol string  // its relay protocol (udp, tcp, tls)
	Error    string
}

// listenRelayed joins with tok through LiveKit's web SDK (the dashboard's
// vendored copy) allowing relayed candidates only, waits for sound, and
// reads the frequency and the selected candidate pair; then leaves.
func (b *browser) listenRelayed(tok tokenResponse) relayed {
	b.t.Helper()
	var got relayed
	args, err := json.Marshal([]string{tok.WSURL, tok.Token})
	require.NoError(b.t, err)
	b.run(chromedp.Evaluate(`(async (wsUrl, token) => {
		const out = {};
		try {
			if (!window.LivekitClient) await new Promise((ok, bad) => {
				const s = document.createElement("script");
				s.src = "/static/vendor/livekit-client.umd.js"; s.onload = ok; s.onerror = bad;
				document.head.append(s);
			});
			const LK = window.LivekitClient, t0 = performance.now();
			const room = new LK.Room({ adaptiveStream: false, dynacast: false });
			const subscribed = new Promise((ok) => room.on(LK.RoomEvent.TrackSubscribed, (tr) => { if (tr.kind === "audio") ok(tr); }));
			await room.connect(wsUrl, token, { autoSubscribe: true, rtcConfig: { iceTransportPolicy: "relay" } });
			const track = await subscribed;
			document.body.append(track.attach());
			const ctx = new AudioContext();
			await ctx.resume();
			const an = ctx.createAnalyser();
			an.fftSize = 8192;
			ctx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack])).connect(an);
			const f = new Float32Array(an.frequencyBinCount);
			for (let i = 0; i < 200; i++) {
				await new Promise((ok) => setTimeout(ok, 100));
				an.getFloatFrequencyData(f);
				let best = 1;
				for (let j = 1; j < f.length; j++) if (f[j] > f[best]) best = j;
				if (f[best] > -60) { out.Hz = best * ctx.sampleRate / an.fftSize; break; }
			}
			out.MS = Math.round(performance.now() - t0);
			const stats = [...(await track.receiver.getStats()).values()];
			const transport = stats.find((s) => s.type === "transport");
			const pair = stats.find((s) => s.id === transport?.selectedCandidatePairId);
			const local = stats.find((s) => s.id === pair?.localCandidateId);
			out.Type = local?.candidateType || "";
			out.Protocol = local?.relayProtocol || "";
			await room.disconnect();
			ctx.close();
		} catch (e) { out.Error = String(e); }
		return out;
	})(...`+string(args)+`)`, &got, func(p *cdp.EvaluateParams) *cdp.EvaluateParams {
		return p.WithAwaitPromise(true).WithUserGesture(true) // a gesture lets the page play sound
	}))
	require.Empty(b.t, got.Error, "the listener's page")
	return got
}

// /api/health says whether the TURN servers listeners are handed answer: the
// embedded TURN's UDP (a STUN binding answered) and TLS (a TCP connect), also
// through the 443 LiveKit hands out, are reachable; ports where nothing
// listens are not, at once. When TURN's UDP goes silent (dropped, no ICMP),
// health still answers within DASHBOARD_HEALTH_TIMEOUT, LiveKit still ok.
func TestHealthSaysWhetherTURNAnswers(t *testing.T) {
	testenv.RequireNetNS(t)
	env := testenv.LiveKit(t, testenv.WithTURN())
	const healthTimeout = 500 * time.Millisecond
	closedTCP, closedUDP := testenv.FreePort(t), testenv.FreeUDPPort(t)
	configured := []string{"turn:" + env.TURN.UDPAddr() + "?transport=udp", "turns:" + env.TURN.TLSAddr() + "?transport=tcp",
		"turns:127.0.0.1:443?transport=tcp", fmt.Sprintf("turn:127.0.0.1:%d", closedUDP), fmt.Sprintf("turns:127.0.0.1:%d", closedTCP)}
	servers, err := config.ParseTURN(strings.Join(configured, ","))
	require.NoError(t, err)
	s := newStageOn(t, env, func(s *config.Settings) { s.TURN, s.HealthTimeout = servers, healthTimeout })
	health := func() (healthResponse, time.Duration) {
		start := time.Now()
		code, body := s.call(t, "GET", "/api/health", nil)
		took := time.Since(start)
		require.Equal(t, http.StatusOK, code, "%s", body)
		return decodeAs[healthResponse](t, body), took
	}

	h, took := health()
	assert.Equal(t, []config.TURNHealth{{URL: configured[0], Check: "stun", Reachable: true}, {URL: configured[1], Check: "tcp", Reachable: true}, {URL: configured[2], Check: "tcp", Reachable: true},
		{URL: configured[3], Check: "stun", Reachable: false}, {URL: configured[4], Check: "tcp", Reachable: false}}, h.TURN)
	t.Logf("health with TURN up and two closed ports: %s", took)
	assert.Less(t, took, healthTimeout, "a closed port is refused at once, not waited for")

	// Dropped on the way in: the request leaves, nothing answers, no error.
	testenv.Firewall(t, "-A", "INPUT", "-p", "udp", "-d", "127.0.0.1", "--dport", fmt.Sprint(env.TURN.UDPPort), "-j", "DROP")
	time.Sleep(healthMaxAge + 100*time.Millisecond) // past the shared answer
	h, took = health()
	t.Logf("health with TURN's UDP dropped: %s", took)
	assert.Equal(t, "ok", h.Status, "TURN does not make the dashboard unhealthy")
	assert.False(t, h.TURN[0].Reachable, "no STUN answer through the firewall")
	assert.True(t, h.TURN[1].Reachable, "TLS still connects")
	assert.GreaterOrEqual(t, took, healthTimeout-50*time.Millisecond, "it waited for the answer that never came")
	assert.Less(t, took, healthTimeout+time.Second, "bounded by DASHBOARD_HEALTH_TIMEOUT")
}

// DASHBOARD_TURN takes RFC 7065 URIs and nothing else: a bad value stops
// start-up naming the setting, and what it takes is what the check dials.
func TestTURNSettingRefusesWhatIsNotATURNURI(t *testing.T) {
	got, err := config.ParseTURN(" turn:turn.example.org , turns:turn.example.org:443?transport=tcp,turn:[::1]:3478?transport=tcp")
	require.NoError(t, err)
	assert.Equal(t, []config.TURNServer{{URL: "turn:turn.example.org", Addr: "turn.example.org:3478", UDP: true},
		{URL: "turns:turn.example.org:443?transport=tcp", Addr: "turn.example.org:443", UDP: false},
		{URL: "turn:[::1]:3478?transport=tcp", Addr: "[::1]:3478", UDP: false}}, got)
	for _, bad := range []string{"stun:turn.example.org", "http://turn.example.org", "turn:", "turn:host:0", "turn:host:99999",
		"turns:host:5349?transport=udp", "turn:host?transport=sctp", "turn:user@host:3478", "turn:host:3478?transport=udp&x=1",
		"turn:host/path:3478", "turn:ho st", strings.Repeat("turn:h:1,", config.MaxTURNServers+1)} {
		_, err := config.Load([]string{"-turn", bad, "-allow-all-admin"}, func(string) string { return "" }, &testenv.Buffer{})
		assert.ErrorContains(t, err, "DASHBOARD_TURN", "%q", bad)
	}
}

// Anyone may ask /api/health, as often as they like: a crowd of anonymous
// callers makes one TURN probe per shared answer, not one each. A server that
// answers with another transaction's reply (a spoofer, a confused server) is
// not called reachable, and its replies are never answered with new requests.
func TestHealthsTURNCheckIsNoAmplifier(t *testing.T) {
	honest, liar := stunResponder(t, true), stunResponder(t, false)
	servers, err := config.ParseTURN("turn:" + honest.addr + ",turn:" + liar.addr)
	require.NoError(t, err)
	const healthTimeout = 600 * time.Millisecond
	s := newStage(t, func(s *config.Settings) { s.TURN, s.HealthTimeout = servers, healthTimeout })
	codes := make(chan int, 40)
	for range 40 {
		go func() {
			code, _, err := s.try(t, http.DefaultClient, "GET", "/api/health", nil, "X-API-Key", "")
			if err != nil {
				code = 0
			}
			codes <- code
		}()
	}
	for range 40 {
		assert.Equal(t, http.StatusOK, <-codes)
	}
	assert.Equal(t, int64(1), honest.asked.Load(), "one probe for 40 callers")
	// The liar is asked once per 250 ms of the probe's deadline, however fast it replies.
	assert.LessOrEqual(t, liar.asked.Load(), int64(healthTimeout/(250*time.Millisecond))+1)
	_, body, _ := s.read(t, "/api/health")
	h := decodeAs[healthResponse](t, body)
	require.Len(t, h.TURN, 2)
	assert.True(t, h.TURN[0].Reachable)
	assert.False(t, h.TURN[1].Reachable, "a reply to another transaction is no answer")
}

// stunAnswerer answers STUN binding requests on loopback, counting them: with
// the request's transaction ID when honest, with another one otherwise, ten
// times per request (a flood of wrong answers).
type stunAnswerer struct {
	addr  string
	asked atomic.Int64
}

func stunResponder(t *testing.T, honest bool) *stunAnswerer {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	a := &stunAnswerer{addr: c.LocalAddr().String()}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest {
				continue
			}
			a.asked.Add(1)
			id, times := req.TransactionID, 1
			if !honest {
				id, times = stun.NewTransactionID(), 10
			}
			res := stun.MustBuild(stun.NewTransactionIDSetter(id), stun.BindingSuccess, &stun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: 1})
			for range times {
				_, _ = c.WriteTo(res.Raw, from)
			}
		}
	}()
	return a
}
