package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
// its connection selected: a relay, of the protocol it had left.
func TestListenersBehindNATHearTheShowThroughTURN(t *testing.T) {
	testenv.RequireNetNS(t)
	env := testenv.LiveKit(t, testenv.WithTURN())
	s := newStageAt(t, env, egress.Storage{}, func(s *settings) {
		s.TrustedProxies, s.ProxySecret = mustPrefixes("127.0.0.0/8"), testProxySecret
		s.AdminGroup = adminGroup
	}, false, env.WSURL)
	code, out := s.call(t, "POST", "/api/rooms", map[string]any{"name": "friday-jam"})
	require.Equal(t, http.StatusCreated, code, "%s", out)
	ada := s.token(t, "performer", "ada")
	_, err := testenv.PublishTone(t, env.Join(t, ada.Token, nil), testenv.Tone(t, 440, 2*time.Minute))
	require.NoError(t, err)

	b := openDashboard(t, s.srv.URL+"/", "mia", testenv.TrustCA(env.TURN.CAFile))
	start := time.Now()
	heard := b.listenRelayed(s.token(t, "listener", "lou"))
	t.Logf("relayed listener over %s: %.0f Hz after %d ms (test clock %s)", heard.Protocol, heard.Hz, heard.MS, time.Since(start).Round(time.Millisecond))
	assert.Equal(t, "relay", heard.Type, "the selected pair's local candidate is TURN's")
	assert.Equal(t, "udp", heard.Protocol, "TURN over UDP when UDP flows")
	assert.InDelta(t, 440, heard.Hz, 20, "the show's tone")

	// New UDP flows are dropped (to TURN/UDP and to the SFU's media port alike),
	// except the relay's, which leave from TURN's relay ports; the performer's
	// flow is older than the rule. (Everything here shares loopback, so the
	// rule tells the listener from the server by source port.)
	testenv.Firewall(t, "-A", "OUTPUT", "-p", "udp", "-d", "127.0.0.1", "-m", "conntrack", "--ctstate", "NEW",
		"-m", "multiport", "!", "--sports", stack.TURNRelayPorts, "-j", "DROP")
	start = time.Now()
	heard = b.listenRelayed(s.token(t, "listener", "lin"))
	t.Logf("relayed listener without UDP over %s: %.0f Hz after %d ms (test clock %s)", heard.Protocol, heard.Hz, heard.MS, time.Since(start).Round(time.Millisecond))
	assert.Equal(t, "relay", heard.Type)
	assert.Equal(t, "tls", heard.Protocol, "TURN over TLS when UDP is blocked")
	assert.InDelta(t, 440, heard.Hz, 20, "the show's tone")
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
	})(...`+string(args)+`)`, &got, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true).WithUserGesture(true) // a gesture lets the page play sound
	}))
	require.Empty(b.t, got.Error, "the listener's page")
	return got
}
