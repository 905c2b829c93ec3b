// The dashboard page: plain JavaScript over the same JSON API as every client.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
// keys holds stream keys this page was given (on creating an ingress, or an
// admin's reveal) until it reloads: lists never carry them.
const state = { room: null, tokens: [], keys: {}, me: { role: "viewer" }, live: false };

// api calls the JSON API and turns its {"error":{code,message}} into a thrown Error
// with words a person understands.
async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new Error(explain(res.status, e.code, e.message));
  }
  return data;
}

function explain(status, code, message) {
  const plain = {
    invalid_argument: "That input was not accepted",
    not_found: "It no longer exists",
    unauthenticated: "You are not signed in",
    forbidden: "Your role does not allow this",
    livekit_unavailable: "LiveKit cannot be reached right now",
    rate_limited: "Too many requests; wait a moment",
    not_configured: "This feature is not configured on the server",
    pull_not_allowed: "This dashboard may not pull from that address",
    destination_not_allowed: "This dashboard may not stream to that address",
    too_many_destinations: "A restream has at most 10 destinations",
    show_spec_changed: "This show is open with other settings",
    not_a_show: "A room of that name exists and is not a show",
    show_closing: "This show is closing",
    show_tampered: "This show's settings were changed outside streamkit; an admin closes it",
  }[code];
  const detail = message ? message.replace(/^[a-z.]+[A-Za-z]*: /, "") : "";
  return (plain || "Something went wrong (" + status + ")") + (detail ? ": " + detail : "");
}

// guard runs an action and shows its error in place of failing silently.
async function guard(fn) {
  const box = $("#error");
  try {
    await fn();
    box.hidden = true;
  } catch (err) {
    box.textContent = err.message;
    box.hidden = false;
  }
}

function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return n;
}

function copyButton(text, label) {
  return el("button", { type: "button", class: "copy", "aria-label": "Copy " + label,
    onclick: async (ev) => {
      await navigator.clipboard.writeText(text).catch(() => {});
      ev.target.textContent = "Copied";
      setTimeout(() => (ev.target.textContent = "Copy"), 1500);
    } }, "Copy");
}

const when = (t) => (t ? new Date(t).toLocaleString() : "–");
const bytes = (n) => (n > 1 << 20 ? (n / (1 << 20)).toFixed(1) + " MiB" : Math.ceil(n / 1024) + " KiB");

async function refreshHeader(rooms) {
  try {
    const h = await api("GET", "/api/health");
    $("#livekit").textContent = "ok";
    $("#livekit").className = "badge ok";
  } catch (err) {
    $("#livekit").textContent = "unreachable";
    $("#livekit").className = "badge bad";
  }
  if (rooms) {
    $("#room-count").textContent = rooms.length;
    $("#participant-count").textContent = rooms.reduce((n, r) => n + r.numParticipants, 0);
  }
}

async function refreshRooms() {
  const [rooms, ingresses] = await Promise.all([api("GET", "/api/rooms"), api("GET", "/api/ingress").catch(() => [])]);
  await refreshHeader(rooms);
  const body = $("#rooms tbody");
  body.replaceChildren(...rooms.map((r) => {
    const live = ingresses.filter((i) => i.room === r.name && i.state === "publishing").length;
    return el("tr", { "data-room": r.name },
      el("td", {}, el("button", { class: "link", onclick: () => openRoom(r.name) }, r.name)),
      el("td", {}, r.numParticipants),
      el("td", {}, when(r.createdAt)),
      el("td", {}, r.activeRecording ? el("span", { class: "badge rec" }, "recording") : "",
        live ? el("span", { class: "badge ok" }, "ingest live") : ""),
      el("td", {}, el("button", { class: "danger", "aria-label": "Delete room " + r.name,
        onclick: () => guard(async () => {
          if (!confirm("Close room " + r.name + "? Everyone in it is disconnected.")) return;
          await api("DELETE", "/api/rooms/" + encodeURIComponent(r.name));
          if (state.room === r.name) closeRoom();
          await refreshRooms();
        }) }, "Delete")));
  }));
  if (state.room) await refreshRoom();
  await refreshShows();
  await refreshIngress(ingresses);
  await refreshRecordings();
}

function openRoom(name) {
  state.room = name;
  $("#detail").hidden = false;
  $("#detail-name").textContent = name;
  guard(refreshRoom);
  loadTimeline(name);
  document.dispatchEvent(new CustomEvent("streamkit:room", { detail: name })); // rehearsal.js
}

function closeRoom() {
  state.room = null;
  $("#detail").hidden = true;
}

async function act(identity, action, trackSid) {
  await guard(async () => {
    await api("POST", "/api/rooms/" + encodeURIComponent(state.room) + "/participants", { action, identity, trackSid });
    await refreshRoom();
  });
}

async function refreshRoom() {
  const name = state.room;
  let detail;
  try {
    detail = await api("GET", "/api/rooms/" + encodeURIComponent(name));
  } catch (err) {
    closeRoom();
    throw err;
  }
  // Hidden participants (monitors like this page's own) are not part of the show.
  $("#participants").replaceChildren(...detail.participants.filter((p) => !p.permission.hidden).map((p) => el("li", { class: "card", "data-identity": p.identity },
    el("strong", {}, p.name || p.identity), " ", el("span", { class: "muted" }, p.identity),
    p.permission.canPublish ? el("span", { class: "badge ok" }, "on stage") : el("span", { class: "badge" }, "listening"),
    warnings(p),
    el("ul", { class: "tracks" }, p.tracks.map((t) => el("li", { "data-track": t.sid },
      `${t.kind} · ${t.source} · ${t.codec || "?"}${t.stereo ? " · stereo" : ""} · `,
      el("span", { class: t.muted ? "badge bad" : "badge ok" }, t.muted ? "muted" : "live"), " ",
      el("button", { onclick: () => act(p.identity, t.muted ? "unmute" : "mute", t.sid) }, t.muted ? "Unmute" : "Mute")))),
    el("div", { class: "row" },
      el("button", { onclick: () => act(p.identity, "mute") }, "Mute all audio"),
      el("button", { onclick: () => act(p.identity, p.permission.canPublish ? "demote" : "promote") }, p.permission.canPublish ? "Demote" : "Promote"),
      // Whoever sends video (the OBS ingest, a camera) can be recorded as MP4.
      p.tracks.some((t) => t.kind === "video") ? el("button", { "data-record-video": p.identity, onclick: () => guard(async () => {
        await api("POST", "/api/egress", { kind: "video", room: state.room, identity: p.identity });
        await refreshRoom();
      }) }, "Record video") : "",
      el("button", { class: "danger", onclick: () => confirm("Remove " + p.identity + "?") && act(p.identity, "remove") }, "Kick")))));
  const ing = await api("GET", "/api/ingress?room=" + encodeURIComponent(name)).catch(() => []);
  $("#room-ingress").replaceChildren(...ing.map(ingressCard));
  const eg = await api("GET", "/api/egress?active=true&room=" + encodeURIComponent(name)).catch(() => []);
  $("#room-egress").replaceChildren(...eg.map((e) => el("li", { class: "card", "data-egress": e.id },
    `${e.kind} · `, el("span", { class: "badge " + (e.status === "active" ? "rec" : e.status === "failed" ? "bad" : "") }, e.status),
    e.error ? el("p", { class: "error" }, e.error) : "",
    ["starting", "active"].includes(e.status) ? el("button", { onclick: () => guard(async () => {
      await api("DELETE", "/api/egress?id=" + encodeURIComponent(e.id));
      await refreshRoom();
    }) }, "Stop") : "")));
}

// warnings are where a performer's audio fails the music profile, each with
// its fix (docs/audit.md); the server judges, the page only shows.
function warnings(p) {
  if (!p.warnings || !p.warnings.length) return "";
  return el("ul", { class: "warnings" }, p.warnings.map((w) => el("li", { "data-warning": w.code, "data-of-track": w.track },
    el("span", { class: "badge warn" }, "⚠ " + w.problem), " ", el("span", { class: "fix" }, w.fix))));
}

// streamKeyRow shows a key this page holds, or, for an admin, a button that
// reveals it (the reveal is logged on the server).
function streamKeyRow(i) {
  if (i.kind === "url") return [];
  const k = state.keys[i.id];
  if (k && k.streamKey) {
    return [el("dt", {}, "Stream key"), el("dd", {}, el("code", { class: "secret" }, k.streamKey), copyButton(k.streamKey, "stream key"))];
  }
  return [el("dt", {}, "Stream key"), el("dd", {}, el("span", { class: "muted" }, "hidden"),
    state.me.role === "admin" ? el("button", { type: "button", class: "reveal", "aria-label": "Reveal the stream key of " + (i.name || i.identity),
      onclick: () => guard(async () => {
        state.keys[i.id] = await api("GET", "/api/ingress/" + encodeURIComponent(i.id) + "/stream-key");
        await refreshRooms();
      }) }, "Reveal") : "")];
}

function ingressCard(i) {
  const server = (state.keys[i.id] || i).serverUrl;
  return el("li", { class: "card", "data-ingress": i.id },
    el("strong", {}, i.name || i.identity), ` · ${i.kind} → ${i.room} · `,
    el("span", { class: "badge " + (i.state === "publishing" ? "ok" : i.state === "error" ? "bad" : "") }, i.state),
    i.error ? el("p", { class: "error" }, i.error) : "",
    el("dl", { class: "settings" },
      el("dt", {}, i.kind === "url" ? "Source" : "Server"), el("dd", {}, el("code", {}, server), copyButton(server, "server URL")),
      streamKeyRow(i),
      i.encoder ? [el("dt", {}, "OBS"), el("dd", {}, `${i.encoder.audioCodec} ${i.encoder.audioBitrateKbps} kbps ${i.encoder.audioSampleRate / 1000} kHz ${i.encoder.audioChannels}` +
        (i.encoder.videoCodec ? ` · ${i.encoder.videoCodec} ${i.encoder.rateControl || ""} keyframe ${i.encoder.keyframeInterval || ""}` : ""))] : [],
      i.input ? [el("dt", {}, "Receiving"), el("dd", { class: "input" }, inputText(i.input))] : []),
    el("button", { class: "danger", onclick: () => guard(async () => {
      if (!confirm("Delete this ingress? Its stream key stops working.")) return;
      await api("DELETE", "/api/ingress?id=" + encodeURIComponent(i.id));
      await refreshRooms();
    }) }, "Delete"));
}

// inputText says what the encoder sends, as Ingress read it.
function inputText(input) {
  const kbps = (b) => (b ? ` ${Math.round(b / 1000)} kbps` : "");
  const parts = [];
  if (input.audio) parts.push(`${input.audio.codec.replace(/^audio\//, "")} ${input.audio.channels} ch ${input.audio.sampleRate / 1000} kHz${kbps(input.audio.bitrate)}`);
  if (input.video) parts.push(`${input.video.codec.replace(/^video\//, "")} ${input.video.width}×${input.video.height} ${Math.round(input.video.fps)} fps${kbps(input.video.bitrate)}`);
  return parts.join(" · ");
}

async function refreshIngress(list) {
  $("#ingress").replaceChildren(...list.map(ingressCard));
}

// duration formats milliseconds as m:ss.
const duration = (ms) => (ms ? Math.floor(ms / 60000) + ":" + String(Math.round(ms / 1000) % 60).padStart(2, "0") : "–");

async function refreshRecordings() {
  let recs;
  try {
    recs = await api("GET", "/api/recordings");
  } catch (err) {
    $("#recordings-note").textContent = err.message;
    $("#recordings-note").hidden = false;
    return;
  }
  $("#recordings-note").hidden = true;
  $("#recordings tbody").replaceChildren(...recs.map((r) => el("tr", { "data-key": r.key },
    el("td", {}, el("code", {}, r.key)), el("td", {}, r.room || "–"), el("td", {}, bytes(r.size)),
    el("td", {}, duration(r.durationMs)), el("td", {}, when(r.lastModified)),
    el("td", {}, el("a", { href: r.downloadUrl, download: "", "aria-label": "Download " + r.key }, "Download")))));
}

// Shows: the "Go live" form opens one and shows, at once and only here, what
// OBS and the performers need; the list follows the event stream; Close shows
// the report.
async function refreshShows() {
  let list;
  try {
    list = await api("GET", "/api/shows");
  } catch (err) {
    return; // shows not configured here: the section stays empty
  }
  const phase = { live: "ok", armed: "warn", ending: "warn" };
  $("#shows tbody").replaceChildren(...list.map((sh) => el("tr", { "data-show": sh.name },
    el("td", {}, el("button", { class: "link", onclick: () => openRoom(sh.name) }, sh.name)),
    el("td", {}, el("span", { class: "badge phase " + (phase[sh.phase] || "") }, sh.phase || "open")),
    el("td", {}, sh.recording ? el("span", { class: "badge rec" }, "recording") : "",
      // e.g. the recorder's spool is full: new audio is not being recorded.
      ...(sh.problems || []).map((p) => el("span", { class: "badge bad", title: p }, p))),
    el("td", {}, el("button", { class: "danger", "aria-label": "Close show " + sh.name,
      onclick: () => guard(async () => {
        if (!confirm("Close the show " + sh.name + "? Its recordings stop and the stage closes.")) return;
        showReport(await api("DELETE", "/api/shows/" + encodeURIComponent(sh.name)));
        if (state.room === sh.name) closeRoom();
        await refreshRooms();
      }) }, "Close")))));
}

function showOpened(sh) {
  const box = $("#show-opened");
  const rows = [];
  if (sh.obs) {
    state.keys[sh.obs.ingressId] = sh.obs; // the one answer that carries the key
    rows.push(el("dt", {}, "Server"), el("dd", {}, el("code", { class: "obs-server" }, sh.obs.serverUrl), copyButton(sh.obs.serverUrl, "server URL")));
    if (sh.obs.streamKey) rows.push(el("dt", {}, "Stream key"), el("dd", {}, el("code", { class: "secret obs-key" }, sh.obs.streamKey), copyButton(sh.obs.streamKey, "stream key")));
    const e = sh.obs.encoder;
    if (e) rows.push(el("dt", {}, "OBS"), el("dd", { class: "obs-encoder" }, `${e.audioCodec} ${e.audioBitrateKbps} kbps ${e.audioSampleRate / 1000} kHz ${e.audioChannels}` +
      (e.videoCodec ? ` · ${e.videoCodec} ${e.rateControl || ""} keyframe ${e.keyframeInterval || ""}` : "")));
  }
  for (const p of sh.performers.filter((p) => p.token)) {
    rows.push(el("dt", {}, p.name || p.identity), el("dd", { "data-performer": p.identity }, el("code", {}, p.wsUrl), " ",
      el("code", { class: "secret" }, p.token.slice(0, 24) + "…"), copyButton(p.token, "token of " + p.identity)));
  }
  rows.push(el("dt", {}, "Listeners"), el("dd", {}, `tokens for ${sh.listeners.room}, ${Math.round(sh.listeners.ttlSeconds / 60)} min: ${sh.listeners.mint}`));
  box.replaceChildren(el("strong", {}, sh.name), sh.created ? " is open: set OBS and hand out the tokens now (they are shown only here)" : " was open already",
    el("dl", { class: "settings" }, rows));
  box.hidden = false;
}

function showReport(rep) {
  const box = $("#show-report");
  const files = rep.parts.flatMap((p) => p.files.map((f) => el("li", { "data-file": f.key },
    `${p.kind} · ${duration(f.durationMs)} · ${bytes(f.size)} `, el("a", { href: f.downloadUrl, download: "" }, f.key))));
  box.replaceChildren(el("strong", {}, rep.name), ` closed in ${(rep.tookMs / 1000).toFixed(1)} s · ${rep.timeline.length} events · ${rep.parts.length} parts`,
    rep.problems ? el("ul", { class: "error" }, rep.problems.map((p) => el("li", {}, p))) : "",
    el("ul", { class: "files" }, files));
  box.hidden = false;
}

function goLiveBody(form) {
  const f = new FormData(form);
  const body = { name: f.get("name"), record: f.getAll("record") };
  const performers = String(f.get("performers") || "").split(",").map((p) => p.trim()).filter(Boolean);
  if (performers.length) body.performers = performers.map((p) => { const [identity, name] = p.split(":"); return name ? { identity, name } : { identity }; });
  body.ingest = { kind: f.get("ingest") };
  const restream = String(f.get("restream") || "").split(",").map((u) => u.trim()).filter(Boolean);
  if (restream.length) body.restream = restream;
  return body;
}

function formJSON(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) {
    if (v === "") continue;
    out[k] = form.elements[k].type === "number" ? Number(v) : v;
  }
  return out;
}

document.addEventListener("DOMContentLoaded", () => {
  $("#create-room").addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      await api("POST", "/api/rooms", formJSON(ev.target));
      ev.target.reset();
      await refreshRooms();
    });
  });
  $("#go-live").addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      showOpened(await api("POST", "/api/shows", goLiveBody(ev.target)));
      await refreshRooms();
    });
  });
  $("#create-token").addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      const t = await api("POST", "/api/tokens", formJSON(ev.target));
      state.tokens.unshift(t);
      $("#tokens").replaceChildren(...state.tokens.map((t) => el("li", { class: "card", "data-token-identity": t.identity },
        el("strong", {}, t.identity), ` · ${t.role} in ${t.room} · expires `, el("time", { datetime: t.expiresAt }, when(t.expiresAt)),
        el("dl", { class: "settings" },
          el("dt", {}, "Join URL"), el("dd", {}, el("code", {}, t.wsUrl), copyButton(t.wsUrl, "join URL")),
          el("dt", {}, "Token"), el("dd", {}, el("code", { class: "secret" }, t.token.slice(0, 24) + "…"), copyButton(t.token, "token"))))));
    });
  });
  $("#create-ingress").addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      const created = await api("POST", "/api/ingress", formJSON(ev.target));
      state.keys[created.id] = created; // the one answer that carries the key
      await refreshRooms();
    });
  });
  for (const b of document.querySelectorAll("[data-egress]")) {
    b.addEventListener("click", () => guard(async () => {
      const body = { kind: b.dataset.egress, room: state.room };
      if (body.kind === "restream") body.urls = [$("#restream-url").value];
      await api("POST", "/api/egress", body);
      await refreshRoom();
    }));
  }
  // Who am I (the role decides which controls to show), then the live loop.
  guard(async () => {
    state.me = await api("GET", "/api/me");
    $("#user").append(" ", el("span", { class: "badge", id: "role" }, state.me.role));
  }).finally(live);
});

// The page is live from the event stream (/api/events): each event refreshes
// what it touches, and nothing is polled while the stream is up. When it drops,
// the browser reconnects with the last event's id (no gap) and, meanwhile, the
// page falls back to refreshing every 3 s.
let refreshing = false;
let again = false;
async function refresh() {
  if (refreshing) { again = true; return; } // one refresh at a time; coalesce the rest
  refreshing = true;
  try {
    do {
      again = false;
      await guard(refreshRooms);
    } while (again);
  } finally {
    refreshing = false;
  }
}

function live() {
  if (!window.EventSource) return poll();
  const stream = new EventSource("/api/events");
  stream.onopen = () => { state.live = true; $("#live").textContent = "live"; $("#live").className = "badge ok"; };
  stream.onerror = () => { state.live = false; $("#live").textContent = "reconnecting"; $("#live").className = "badge warn"; };
  stream.onmessage = (msg) => {
    let ev;
    try { ev = JSON.parse(msg.data); } catch { return; }
    if (ev.room && ev.room === state.room) addToTimeline(ev);
    alertFor(ev);
    document.dispatchEvent(new CustomEvent("streamkit:event", { detail: ev })); // rehearsal.js
    refresh();
  };
  poll();
}

// poll refreshes every 3 s only while the event stream is down.
async function poll() {
  if (!state.live) await refresh();
  setTimeout(poll, 3000);
}

// alertFor raises what an operator must see at once: a failed recording, a
// show whose audio the full spool holds back, an ingest in error.
function alertFor(ev) {
  let text = "";
  if (ev.kind === "recording_ended" && ev.recording && ev.recording.status !== "complete") {
    text = "Recording " + ev.recording.id + " in " + ev.room + " ended " + ev.recording.status + (ev.recording.error ? ": " + ev.recording.error : "");
  } else if (ev.kind === "show_tampered") {
    text = "Show " + ev.room + ": its settings were changed outside streamkit (a moderator's token?); it keeps its last good spec. An admin closes it.";
  } else if (ev.kind === "spool_full") {
    text = "The show " + ev.room + " is not being recorded: the recorder's spool is full" + (ev.spool && ev.spool.why ? " (" + ev.spool.why + ")" : "") +
      ". What was recorded is kept; recording goes on when parts are uploaded or space is freed.";
  } else if (ev.kind === "clipping_started") {
    text = "The show " + ev.room + " clips" + loudnessWords(ev.loudness) + ": ask the performer to lower their gain.";
  } else if (ev.ingest && ev.ingest.state === "error") {
    text = "Ingest " + (ev.ingest.name || ev.ingest.id) + " in " + ev.room + " failed" + (ev.ingest.error ? ": " + ev.ingest.error : "");
  }
  if (!text) return;
  const box = $("#alert");
  box.textContent = text;
  box.hidden = false;
}

const words = {
  room_opened: "stage opened", room_closed: "stage closed", participant_joined: "joined", participant_left: "left",
  track_published: "started playing", track_unpublished: "stopped playing", ingest_live: "ingest went live",
  ingest_ended: "ingest ended", recording_started: "recording started", recording_updated: "recording is",
  recording_ended: "recording ended", show_tampered: "show settings changed outside streamkit (not obeyed)",
  impostor: "joined under a reserved identity (an impostor: not streamkit's own)",
  spool_full: "recorder's spool full: new audio is not recorded",
  spool_resumed: "recorder's spool has room: recording goes on",
  audio_flagged: "plays audio that fails the music profile",
  clipping_started: "the show clips (true peak above -1 dBTP)", clipping_stopped: "the show stopped clipping",
  loudness_off_target: "the show is off its loudness target", loudness_on_target: "the show is back on its loudness target",
};

// loudnessWords is a loudness event's figures, in the page's words.
function loudnessWords(l) {
  if (!l) return "";
  if (l.shortTermLufs) return ": " + l.shortTermLufs.toFixed(1) + " LUFS short-term, target " + l.targetLufs.toFixed(1);
  const long = l.for ? ", " + (l.for / 1e9).toFixed(1) + " s" : "";
  return l.truePeakDbtp ? " (peak " + l.truePeakDbtp.toFixed(1) + " dBTP" + long + ")" : "";
}

function addToTimeline(ev) {
  // The role as the live model knows it (LiveKit's track webhooks carry none;
  // the model fills it in, and leaves it out when it does not know).
  const role = ev.participant && ev.participant.role ? " (" + ev.participant.role + ")" : "";
  const who = ev.participant ? ev.participant.identity + role + " " : "";
  let what = words[ev.kind] || ev.kind;
  if (ev.finding) what += ": " + ev.finding.problem + " → " + ev.finding.fix;
  else if (ev.loudness) what += loudnessWords(ev.loudness);
  else if (ev.track) what += " " + ev.track.kind;
  if (ev.recording) what += " " + ev.recording.status + (ev.recording.files ? " " + ev.recording.files.join(", ") : "");
  if (ev.ingest && ev.ingest.error) what += ": " + ev.ingest.error;
  $("#timeline").append(el("li", { "data-kind": ev.kind }, el("time", {}, new Date(ev.at).toLocaleTimeString()), " ", who + what,
    ev.resync ? el("span", { class: "badge", title: "found by comparing with LiveKit: its webhook was lost" }, "resync") : ""));
}

async function loadTimeline(name) {
  $("#timeline").replaceChildren();
  try {
    const tl = await api("GET", "/api/rooms/" + encodeURIComponent(name) + "/timeline");
    if (state.room === name) tl.events.forEach(addToTimeline);
  } catch (err) {
    // a room with no story yet: the stream adds it as it happens
  }
}
