// The connection test: from the operator's browser to the open room's
// LiveKit, step by step, as LiveKit's public connection tester does for its
// own service: the signal WebSocket, ICE over UDP, ICE over TCP, ICE through
// TURN, and a tone published and heard back. Each step says ok or why not,
// and how long it took; window.connectionTest keeps the result as JSON.
// docs/monitor.md says what each step proves.
"use strict";

// It uses the page's el() and api() (app.js) and the monitor's SDK loader.
(() => {
  const button = document.getElementById("conntest");
  if (!button) return;
  const status = document.getElementById("conntest-state");
  const list = document.getElementById("conntest-steps");
  const STEP_MS = 5000; // a step that has not succeeded by then has failed
  const TONE_HZ = 880; // not a show's usual 440, so the test hears its own tone

  function say(text, cls) {
    status.textContent = text;
    status.className = "badge" + (cls ? " " + cls : "");
  }

  const within = (promise, ms, what) => Promise.race([promise,
    new Promise((_, bad) => setTimeout(() => bad(new Error("no " + what + " within " + ms + " ms")), ms))]);

  // capture makes the peer connections livekit-client creates while it
  // connects visible to the test (it exposes none), and, with a protocol,
  // direct-only over it: no STUN or TURN server, and the SFU's candidates of
  // other protocols dropped (trickled or in the SDP). Such a connection comes
  // up only if that protocol reaches the SFU directly. It lasts until undone,
  // which the test does as soon as the connect has settled.
  function capture(protocol) {
    const Native = window.RTCPeerConnection;
    const pcs = [];
    const keep = (cand) => !protocol || (cand.trim().split(/\s+/)[2] || "").toLowerCase() === protocol;
    const strip = (sdp) => sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate:") || keep(l.slice(2))).join("\r\n");
    const direct = (config) => (protocol ? { ...(config || {}), iceServers: [], iceTransportPolicy: "all" } : config);
    class Captured extends Native {
      constructor(config, ...rest) {
        super(direct(config), ...rest);
        pcs.push(this);
      }
      setConfiguration(config) { return super.setConfiguration(direct(config)); }
      addIceCandidate(c, ...rest) {
        if (c && c.candidate && !keep(c.candidate)) return Promise.resolve();
        return super.addIceCandidate(c, ...rest);
      }
      setRemoteDescription(d, ...rest) {
        return super.setRemoteDescription(d && d.sdp ? { type: d.type, sdp: strip(d.sdp) } : d, ...rest);
      }
    }
    window.RTCPeerConnection = Captured;
    return { pcs, undo: () => { window.RTCPeerConnection = Native; } };
  }

  // path is the selected candidate pair of the first connected peer
  // connection: "host/udp", "host/tcp", "relay/udp" (TURN over UDP), "relay/tls".
  async function path(pcs) {
    for (const pc of pcs) {
      const report = await pc.getStats();
      for (const r of report.values()) {
        const pair = r.type === "transport" && r.dtlsState === "connected" && report.get(r.selectedCandidatePairId);
        const local = pair && report.get(pair.localCandidateId);
        if (local) return local.candidateType + "/" + (local.relayProtocol || local.protocol);
      }
    }
    return "";
  }

  // join connects a room: signalMs when LiveKit's join answer arrived, iceMs
  // from then to the media connection being up, and the path it took.
  async function join(LK, url, token, protocol, rtcConfig) {
    const room = new LK.Room({ adaptiveStream: false, dynacast: false });
    const t0 = performance.now();
    const got = { room, signalMs: null, iceMs: null, path: "" };
    room.once(LK.RoomEvent.SignalConnected, () => { got.signalMs = Math.round(performance.now() - t0); });
    const pcs = capture(protocol);
    try {
      await within(room.connect(url, token, { autoSubscribe: true, peerConnectionTimeout: STEP_MS, rtcConfig }), STEP_MS + 1000, "connection");
      got.iceMs = Math.round(performance.now() - t0) - (got.signalMs || 0);
      got.path = await path(pcs.pcs);
    } catch (err) {
      got.error = err.message || String(err);
      got.iceMs = Math.round(performance.now() - t0) - (got.signalMs || 0); // how long it tried
      room.disconnect();
    } finally {
      pcs.undo();
    }
    return got;
  }

  // ice is one ICE step's outcome: up, and over the path it was meant to take.
  function ice(got, want, blurb) {
    if (got.error) return { ok: false, ms: got.iceMs, detail: blurb + " did not connect: " + got.error };
    const ok = want.test(got.path);
    return { ok, ms: got.iceMs, path: got.path, detail: ok ? "connected over " + got.path : "connected, but over " + got.path + ", not " + blurb };
  }

  // tone publishes a generated tone as the test's publisher, allowed to
  // reach the test's own listener only, and listens for its frequency.
  async function tone(LK, ctx, cfg) {
    const osc = ctx.createOscillator();
    const dest = ctx.createMediaStreamDestination();
    osc.frequency.value = TONE_HZ;
    osc.connect(dest);
    osc.start();
    const ear = new LK.Room({ adaptiveStream: false, dynacast: false });
    const mouth = new LK.Room({ adaptiveStream: false, dynacast: false });
    const heard = new Promise((ok) => ear.on(LK.RoomEvent.TrackSubscribed, (track, pub, who) => { if (who.identity === cfg.publisher.identity) ok(track); }));
    try {
      await within(ear.connect(cfg.wsUrl, cfg.listener.token, { autoSubscribe: true, peerConnectionTimeout: STEP_MS }), STEP_MS, "listener connection");
      await within(mouth.connect(cfg.wsUrl, cfg.publisher.token, { autoSubscribe: false, peerConnectionTimeout: STEP_MS }), STEP_MS, "publisher connection");
      // Only the test's listener may subscribe: the room's audience never hears it.
      mouth.localParticipant.setTrackSubscriptionPermissions(false, [{ participantIdentity: cfg.listener.identity, allowAll: true }]);
      const t0 = performance.now();
      await mouth.localParticipant.publishTrack(dest.stream.getAudioTracks()[0], { name: "connection test", source: LK.Track.Source.Microphone });
      const track = await within(heard, STEP_MS, "tone track");
      const hz = await within(listen(ctx, track), STEP_MS, TONE_HZ + " Hz heard");
      return { ok: true, ms: Math.round(performance.now() - t0), hz: Math.round(hz), detail: "published " + TONE_HZ + " Hz, heard " + Math.round(hz) + " Hz" };
    } catch (err) {
      return { ok: false, ms: null, detail: err.message || String(err) };
    } finally {
      osc.stop();
      ear.disconnect();
      mouth.disconnect();
    }
  }

  // listen resolves with the track's loudest frequency once it is the tone's.
  async function listen(ctx, track) {
    const audio = track.attach(); // Chrome feeds WebAudio only from a playing remote track
    audio.muted = true;
    audio.hidden = true;
    const an = ctx.createAnalyser();
    an.fftSize = 8192;
    ctx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack])).connect(an);
    const f = new Float32Array(an.frequencyBinCount);
    for (;;) {
      await new Promise((ok) => setTimeout(ok, 50));
      an.getFloatFrequencyData(f);
      let best = 1;
      for (let i = 1; i < f.length; i++) if (f[i] > f[best]) best = i;
      const hz = (best * ctx.sampleRate) / an.fftSize;
      if (f[best] > -60 && Math.abs(hz - TONE_HZ) < 20) {
        track.detach(audio);
        return hz;
      }
    }
  }

  function show(result) {
    list.replaceChildren(...result.steps.map((s) => el("li", { "data-step": s.name, "data-ok": String(s.ok), class: s.ok ? "ok" : "bad" },
      `${s.title}: ${s.ok ? "ok" : "failed"}${s.ms != null ? " · " + s.ms + " ms" : ""} · ${s.detail}`)));
  }

  async function run() {
    const name = document.getElementById("detail-name").textContent;
    if (!name) return;
    const ctx = new AudioContext(); // in the click: the gesture that lets a page make sound
    const result = { room: name, done: false, ok: false, steps: [] };
    window.connectionTest = result;
    const step = (name, title, outcome) => { result.steps.push({ name, title, ...outcome }); show(result); };
    button.disabled = true;
    list.replaceChildren();
    say("testing…");
    try {
      const [LK, cfg] = await Promise.all([window.loadLiveKit(), api("POST", "/api/rooms/" + encodeURIComponent(name) + "/connection-test")]);
      const udp = await join(LK, cfg.wsUrl, cfg.listener.token, "udp");
      step("signal", "WebSocket to LiveKit", udp.signalMs != null ? { ok: true, ms: udp.signalMs, detail: "joined through " + cfg.wsUrl }
        : { ok: false, ms: null, detail: udp.error });
      step("udp", "ICE over UDP", ice(udp, /^(host|srflx|prflx)\/udp$/, "directly over UDP"));
      if (udp.room) udp.room.disconnect();
      const tcp = await join(LK, cfg.wsUrl, cfg.listener.token, "tcp");
      step("tcp", "ICE over TCP", ice(tcp, /^(host|srflx|prflx)\/tcp$/, "directly over TCP"));
      tcp.room.disconnect();
      const turn = await join(LK, cfg.wsUrl, cfg.listener.token, "", { iceTransportPolicy: "relay" });
      step("turn", "ICE through TURN", ice(turn, /^relay\//, "through TURN"));
      turn.room.disconnect();
      step("tone", "A tone published and heard", await tone(LK, ctx, cfg));
      result.ok = result.steps.every((s) => s.ok);
      say(result.ok ? "all steps ok" : result.steps.filter((s) => !s.ok).length + " step(s) failed", result.ok ? "ok" : "bad");
    } catch (err) {
      result.error = err.message;
      say(err.message, "bad");
    } finally {
      result.done = true;
      button.disabled = false;
      ctx.close().catch(() => {});
    }
  }

  button.addEventListener("click", run);
})();
