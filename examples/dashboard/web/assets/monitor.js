// The monitor: an operator hears the open room from the page, through LiveKit's
// official web SDK (vendored, loaded on the first Listen), as a hidden,
// subscribe-only participant; every audio track gets a level meter (peak and RMS
// from WebAudio, clipping, silence), its loudness and true peak (EBU R128, from
// the loudness worklet: loudness.js) and its receive health (WebRTC stats).
"use strict";

// It uses the page's el() and api() (app.js, loaded before it).
(() => {
  const box = document.getElementById("monitor");
  if (!box) return;
  const silenceAfter = Number(box.dataset.silenceAfter || 5) * 1000; // ms
  const SILENT_DB = -60; // RMS below this is silence (a live mic's room tone is well above)
  const CLIP = 0.999; // |sample| at full scale
  const FLOOR_DB = -90; // what a meter shows for digital silence
  const button = document.getElementById("listen");
  const status = document.getElementById("monitor-state");
  const meters = document.getElementById("meters");
  let mon = null; // the running monitor: { room, ctx, name, tracks: Map(sid → meter), timers, started }

  const dB = (x) => (x > 0 ? Math.max(FLOOR_DB, 20 * Math.log10(x)) : FLOOR_DB);

  function say(text, cls) {
    status.textContent = text;
    status.className = "badge" + (cls ? " " + cls : "");
  }

  // The SDK is 600 KB: fetched once, when someone first listens.
  function loadSDK() {
    if (window.LivekitClient) return Promise.resolve(window.LivekitClient);
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = "/static/vendor/livekit-client.umd.js";
      s.onload = () => resolve(window.LivekitClient);
      s.onerror = () => reject(new Error("the LiveKit web SDK did not load"));
      document.head.append(s);
    });
  }

  async function start() {
    const name = document.getElementById("detail-name").textContent;
    if (!name) return;
    // The AudioContext is made in the click itself: browsers let a page play
    // sound only from a user's gesture.
    // At 48 kHz, WebRTC's own rate: the loudness worklet measures the sound as
    // decoded, not resampled to the sound card's rate.
    const ctx = new AudioContext({ sampleRate: 48000 });
    // AudioWorklet exists only on secure pages (HTTPS, or localhost).
    const loudness = ctx.audioWorklet ? ctx.audioWorklet.addModule("/static/loudness.js")
      : Promise.reject(new Error("loudness needs a secure page (HTTPS)"));
    loudness.catch(() => {}); // each track says why, below
    mon = { name, ctx, loudness, tracks: new Map(), timers: [], started: performance.now(), room: null, publishing: new Set() };
    box.dataset.room = name;
    delete box.dataset.firstAudioMs;
    button.textContent = "Stop listening";
    button.setAttribute("aria-pressed", "true");
    say("connecting…");
    try {
      const [LK, tok] = await Promise.all([loadSDK(), api("POST", "/api/rooms/" + encodeURIComponent(name) + "/monitor")]);
      if (!mon || mon.ctx !== ctx) return; // stopped meanwhile
      const room = new LK.Room({ adaptiveStream: false, dynacast: false });
      mon.room = room;
      room.on(LK.RoomEvent.TrackSubscribed, (track, pub, who) => { if (track.kind === "audio") addTrack(track, pub, who); });
      room.on(LK.RoomEvent.TrackUnsubscribed, (track) => removeTrack(track.sid));
      room.on(LK.RoomEvent.TrackMuted, (pub) => mark(pub.trackSid, "muted", true));
      room.on(LK.RoomEvent.TrackUnmuted, (pub) => mark(pub.trackSid, "muted", false));
      room.on(LK.RoomEvent.Disconnected, () => { if (mon && mon.room === room) stop("disconnected"); });
      // ?relay=1 listens through LiveKit's TURN only, as a listener behind a
      // firewall would: the operator's check that TURN carries the show.
      const relay = new URLSearchParams(location.search).get("relay") === "1";
      await room.connect(tok.wsUrl, tok.token, { autoSubscribe: true, rtcConfig: relay ? { iceTransportPolicy: "relay" } : undefined });
      await ctx.resume();
      await room.startAudio().catch(() => {});
      say("listening to " + name + (relay ? " through TURN only" : ""), "ok");
      mon.timers.push(setInterval(measure, 100), setInterval(() => stats().catch(() => {}), 1000),
        setInterval(() => ingests().catch(() => {}), 2000));
      ingests().catch(() => {});
    } catch (err) {
      stop();
      say(err.message, "bad");
    }
  }

  function stop(why) {
    const m = mon;
    mon = null;
    if (m) {
      m.timers.forEach(clearInterval);
      if (m.room) m.room.disconnect();
      m.ctx.close().catch(() => {});
    }
    meters.replaceChildren();
    button.textContent = "Listen";
    button.setAttribute("aria-pressed", "false");
    say(why || "off");
  }

  function addTrack(track, pub, who) {
    const audio = track.attach(); // plays it; Chrome also feeds WebAudio only from a playing remote track
    audio.hidden = true;
    const source = mon.ctx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack]));
    const analyser = mon.ctx.createAnalyser();
    analyser.fftSize = 8192; // 5.9 Hz bins at 48 kHz
    analyser.smoothingTimeConstant = 0;
    source.connect(analyser);
    const peak = el("meter", { min: FLOOR_DB, max: 0, low: -20, high: -6, optimum: -12, value: FLOOR_DB, class: "peak" });
    const rms = el("meter", { min: FLOOR_DB, max: 0, low: -20, high: -6, optimum: -12, value: FLOOR_DB, class: "rms" });
    // Momentary loudness, its scale around R128's -23 LUFS target.
    const lufs = el("meter", { min: -60, max: 0, low: -30, high: -16, optimum: -23, value: -60, class: "lufs" });
    const card = el("li", { class: "card meter", "data-track": track.sid, "data-identity": who.identity },
      el("strong", {}, who.name || who.identity), " ", el("span", { class: "muted" }, pub.trackName || pub.source),
      el("div", { class: "levels" }, el("label", {}, "peak", peak), el("label", {}, "RMS", rms), el("label", {}, "LUFS", lufs)),
      el("p", { class: "readout" }, "–"), el("p", { class: "loudness" }, "–"), el("p", { class: "health muted" }, "–"),
      el("p", { class: "delay muted" }, "delay —"), audio);
    meters.append(card);
    const t = { track, audio, source, analyser, card, peak, rms, lufs, silentSince: null, clipUntil: 0, quietSince: null, onsets: [],
      time: new Float32Array(analyser.fftSize), freq: new Float32Array(analyser.frequencyBinCount), last: null, loud: null,
      ingress: who.kind === window.LivekitClient.ParticipantKind.INGRESS };
    mon.tracks.set(track.sid, t);
    listenLoudness(mon, t);
  }

  // listenLoudness taps the track into its own loudness worklet, which posts
  // its figures every 100 ms of sound.
  function listenLoudness(m, t) {
    m.loudness.then(() => {
      if (mon !== m || m.tracks.get(t.track.sid) !== t) return; // gone meanwhile
      const node = new AudioWorkletNode(m.ctx, "loudness", { numberOfOutputs: 0 });
      node.port.onmessage = (e) => { t.loud = e.data; };
      t.source.connect(node);
    }).catch((err) => { t.card.querySelector(".loudness").textContent = err.message; });
  }

  // showLoudness puts the worklet's last figures on the card: in words, and as
  // data- attributes for tests (LUFS and dBTP, one decimal; absent until measured).
  function showLoudness(t) {
    const f = t.loud;
    if (!f) return;
    const fix = (x) => (x === null ? "" : x.toFixed(1));
    Object.assign(t.card.dataset, { lufsM: fix(f.m), lufsS: fix(f.s), lufsI: fix(f.i), dbtp: fix(f.tp), lufsSeconds: f.seconds.toFixed(1) });
    t.lufs.value = f.m === null ? -60 : f.m;
    const say = (x, unit) => (x === null ? "–" : x.toFixed(1) + " " + unit);
    t.card.querySelector(".loudness").textContent = `momentary ${say(f.m, "LUFS")} · short-term ${say(f.s, "LUFS")} · ` +
      `integrated ${say(f.i, "LUFS")} · true peak ${say(f.tp, "dBTP")}`;
  }

  function removeTrack(sid) {
    const t = mon && mon.tracks.get(sid);
    if (!t) return;
    t.source.disconnect();
    t.track.detach(t.audio);
    t.card.remove();
    mon.tracks.delete(sid);
  }

  function mark(sid, key, on) {
    const t = mon && mon.tracks.get(sid);
    if (t) t.card.dataset[key] = String(on);
  }

  // measure reads every track's last 170 ms of sound: levels, clipping, the
  // loudest frequency, and how long it has been silent.
  function measure() {
    const now = performance.now();
    for (const t of mon.tracks.values()) {
      t.analyser.getFloatTimeDomainData(t.time);
      let max = 0, sum = 0;
      for (const x of t.time) { const a = Math.abs(x); if (a > max) max = a; sum += x * x; }
      const peakDB = dB(max), rmsDB = dB(Math.sqrt(sum / t.time.length));
      if (max >= CLIP) t.clipUntil = now + 2000;
      // Onsets: the first loud sample after 200 ms of quiet, as epoch ms (the
      // delay benchmark compares them with when the sound was made).
      if (max >= 0.1 && t.quietSince !== null && now - t.quietSince >= 200) {
        const at = t.time.findIndex((x) => Math.abs(x) >= 0.1);
        t.onsets.push(Math.round(performance.timeOrigin + now - ((t.time.length - at) / mon.ctx.sampleRate) * 1000));
        if (t.onsets.length > 50) t.onsets.shift();
        t.card.dataset.onsets = t.onsets.join(",");
      }
      t.quietSince = max < 0.01 ? (t.quietSince ?? now) : max >= 0.1 ? null : t.quietSince;
      const silent = rmsDB < SILENT_DB;
      if (!silent && !box.dataset.firstAudioMs) box.dataset.firstAudioMs = String(Math.round(now - mon.started));
      t.silentSince = silent ? (t.silentSince ?? now) : null;
      const silentFor = silent ? now - t.silentSince : 0;
      let hz = 0;
      if (!silent) {
        t.analyser.getFloatFrequencyData(t.freq);
        hz = dominant(t.freq, mon.ctx.sampleRate, t.analyser.fftSize);
      }
      t.peak.value = peakDB;
      t.rms.value = rmsDB;
      Object.assign(t.card.dataset, { peak: peakDB.toFixed(1), rms: rmsDB.toFixed(1), hz: hz.toFixed(1),
        clipping: String(now < t.clipUntil), silent: String(silentFor >= silenceAfter) });
      const words = [`peak ${peakDB.toFixed(1)} dBFS`, `RMS ${rmsDB.toFixed(1)} dBFS`];
      if (hz) words.push(`${Math.round(hz)} Hz`);
      if (now < t.clipUntil) words.push("CLIPPING");
      if (silentFor >= silenceAfter) words.push(`silent for ${Math.floor(silentFor / 1000)} s`);
      t.card.querySelector(".readout").textContent = words.join(" · ");
      t.card.classList.toggle("silent", silentFor >= silenceAfter);
      t.card.classList.toggle("clipping", now < t.clipUntil);
      showLoudness(t);
    }
  }

  // dominant is the loudest frequency above 20 Hz, between bins by a parabola
  // through the peak and its neighbours (in dB).
  function dominant(spectrum, rate, size) {
    const lo = Math.ceil((20 * size) / rate);
    let best = lo;
    for (let i = lo; i < spectrum.length - 1; i++) if (spectrum[i] > spectrum[best]) best = i;
    const a = spectrum[best - 1], b = spectrum[best], c = spectrum[best + 1];
    const shift = a - 2 * b + c === 0 ? 0 : (0.5 * (a - c)) / (a - 2 * b + c);
    return ((best + shift) * rate) / size;
  }

  // ingests learns which participants are ingresses that LiveKit says are
  // publishing: their silence on the wire is a stalled encoder.
  async function ingests() {
    const m = mon;
    const list = await api("GET", "/api/ingress?room=" + encodeURIComponent(m.name));
    if (mon !== m) return;
    m.publishing = new Set(list.filter((i) => i.state === "publishing").map((i) => i.identity));
  }

  // stats turns each track's receiver statistics into bitrate, loss and jitter
  // over the last second.
  async function stats() {
    // One track's failure (no receiver yet) must not hide the others' figures.
    await Promise.all([...mon.tracks.values()].map((t) => trackStats(t).catch(() => {})));
  }

  async function trackStats(t) {
    const report = await t.track.getRTCStatsReport();
    if (!report) return;
    let rtp = null, transport = null;
    report.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "audio") rtp = r; else if (r.type === "transport") transport = r; });
    // The path: the selected candidate pair's local end, "relay/tls" through TURN over TLS.
    const pair = transport && report.get(transport.selectedCandidatePairId);
    const local = pair && report.get(pair.localCandidateId);
    if (local) t.card.dataset.path = local.candidateType + (local.relayProtocol ? "/" + local.relayProtocol : "");
    // No inbound-rtp yet: not a packet has arrived (timestamps are epoch ms).
    const cur = rtp ? { at: rtp.timestamp, bytes: rtp.bytesReceived || 0, lost: rtp.packetsLost || 0, got: rtp.packetsReceived || 0 }
      : { at: performance.timeOrigin + performance.now(), bytes: 0, lost: 0, got: 0 };
    const prev = t.last;
    t.last = cur;
    showDelay(t, report, rtp, pair);
    if (!prev || cur.at <= prev.at) return;
    const kbps = ((cur.bytes - prev.bytes) * 8) / (cur.at - prev.at); // bits per ms = kbit/s
    const lost = cur.lost - prev.lost, got = cur.got - prev.got;
    const loss = lost + got > 0 ? (100 * Math.max(0, lost)) / (lost + got) : 0;
    const jitter = ((rtp && rtp.jitter) || 0) * 1000;
    // An ingest LiveKit calls publishing that sends nothing for 2 s: OBS
    // froze or lost its network (Ingress still says publishing and reports
    // no bitrate), or it sends digital silence, which reaches listeners as
    // no packets at all (measured: LiveKit forwards nothing for it).
    const ingest = mon.publishing.has(t.card.dataset.identity) && t.card.dataset.muted !== "true";
    t.quietFor = ingest && kbps < 1 ? (t.quietFor || 0) + (cur.at - prev.at) : 0;
    const stalled = t.quietFor >= 2000;
    Object.assign(t.card.dataset, { kbps: kbps.toFixed(1), loss: loss.toFixed(1), jitter: jitter.toFixed(1), stalled: String(stalled) });
    t.card.querySelector(".health").textContent = `${Math.round(kbps)} kbit/s · loss ${loss.toFixed(1)} % · jitter ${jitter.toFixed(1)} ms` +
      (local && local.candidateType === "relay" ? ` · through TURN (${local.relayProtocol})` : "") +
      (stalled ? ` · nothing arriving for ${Math.floor(t.quietFor / 1000)} s while LiveKit says the ingest is publishing` : "");
    t.card.classList.toggle("stalled", stalled);
  }

  // showDelay puts on the card the part of the track's delay this end can
  // measure, over the last second: the network's one way (half the ICE round
  // trip to LiveKit), the time its sound waited in the jitter buffer, and the
  // playout path's own delay where Chrome reports it. What it cannot see is
  // the sender's side (capture, encoding and, for an ingest, Ingress and the
  // encoder before it), so it is a lower bound of sender to ear. Chrome's
  // estimatedPlayoutTimestamp, the sender's clock for the sound played now,
  // would give it all, but Chrome sets it only for an audio track it syncs
  // with a video one (measured: absent for the monitor's audio-only tracks).
  function showDelay(t, report, rtp, pair) {
    const prev = t.buffered;
    const play = rtp && rtp.playoutId ? report.get(rtp.playoutId) : null;
    t.buffered = rtp && { delay: rtp.jitterBufferDelay || 0, emitted: rtp.jitterBufferEmittedCount || 0,
      played: (play && play.totalPlayoutDelay) || 0, samples: (play && play.totalSamplesCount) || 0 };
    const rtt = pair && pair.currentRoundTripTime;
    const emitted = prev && t.buffered ? t.buffered.emitted - prev.emitted : 0;
    if (!emitted || typeof rtt !== "number") {
      delete t.card.dataset.delayMs;
      t.card.querySelector(".delay").textContent = prev ? "delay — (nothing played in the last second)" : "delay — (measuring)";
      return;
    }
    const buffer = (t.buffered.delay - prev.delay) / emitted;
    const samples = t.buffered.samples - prev.samples;
    const playout = samples > 0 ? (t.buffered.played - prev.played) / samples : 0;
    const ms = Math.round((rtt / 2 + buffer + playout) * 1000);
    t.card.dataset.delayMs = String(ms);
    t.card.querySelector(".delay").textContent = `delay at least ${ms} ms: network ${Math.round(rtt * 500)} + jitter buffer ` +
      `${Math.round(buffer * 1000)} + playout ${Math.round(playout * 1000)} ms, ` +
      `without the ${t.ingress ? "ingest's encoder and Ingress" : "sender's capture and encoding"}`;
  }

  window.loadLiveKit = loadSDK; // the connection test (conntest.js) loads it the same way
  button.addEventListener("click", () => (mon ? stop() : start()));
  // Another room opened (or the room closed): the monitor listens to one room.
  const away = new MutationObserver(() => {
    if (mon && (document.getElementById("detail").hidden || document.getElementById("detail-name").textContent !== mon.name)) stop();
  });
  away.observe(document.getElementById("detail"), { attributes: true, attributeFilter: ["hidden"] });
  away.observe(document.getElementById("detail-name"), { childList: true, characterData: true, subtree: true });
})();
