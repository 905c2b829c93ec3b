// The dashboard page: plain JavaScript over the same JSON API as every client.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { room: null, tokens: [] };

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
    forbidden: "You need the admin group for this",
    livekit_unavailable: "LiveKit cannot be reached right now",
    rate_limited: "Too many requests; wait a moment",
    not_configured: "This feature is not configured on the server",
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
  await refreshIngress(ingresses);
  await refreshRecordings();
}

function openRoom(name) {
  state.room = name;
  $("#detail").hidden = false;
  $("#detail-name").textContent = name;
  guard(refreshRoom);
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
  $("#participants").replaceChildren(...detail.participants.map((p) => el("li", { class: "card", "data-identity": p.identity },
    el("strong", {}, p.name || p.identity), " ", el("span", { class: "muted" }, p.identity),
    p.permission.canPublish ? el("span", { class: "badge ok" }, "on stage") : el("span", { class: "badge" }, "listening"),
    el("ul", { class: "tracks" }, p.tracks.map((t) => el("li", { "data-track": t.sid },
      `${t.kind} · ${t.source} · ${t.codec || "?"}${t.stereo ? " · stereo" : ""} · `,
      el("span", { class: t.muted ? "badge bad" : "badge ok" }, t.muted ? "muted" : "live"), " ",
      el("button", { onclick: () => act(p.identity, t.muted ? "unmute" : "mute", t.sid) }, t.muted ? "Unmute" : "Mute")))),
    el("div", { class: "row" },
      el("button", { onclick: () => act(p.identity, "mute") }, "Mute all audio"),
      el("button", { onclick: () => act(p.identity, p.permission.canPublish ? "demote" : "promote") }, p.permission.canPublish ? "Demote" : "Promote"),
      el("button", { class: "danger", onclick: () => confirm("Remove " + p.identity + "?") && act(p.identity, "remove") }, "Kick")))));
  const ing = await api("GET", "/api/ingress?room=" + encodeURIComponent(name)).catch(() => []);
  $("#room-ingress").replaceChildren(...ing.map(ingressCard));
  const eg = await api("GET", "/api/egress?room=" + encodeURIComponent(name)).catch(() => []);
  $("#room-egress").replaceChildren(...eg.map((e) => el("li", { class: "card", "data-egress": e.id },
    `${e.kind} · `, el("span", { class: "badge " + (e.status === "active" ? "rec" : e.status === "failed" ? "bad" : "") }, e.status),
    e.error ? el("p", { class: "error" }, e.error) : "",
    ["starting", "active"].includes(e.status) ? el("button", { onclick: () => guard(async () => {
      await api("DELETE", "/api/egress?id=" + encodeURIComponent(e.id));
      await refreshRoom();
    }) }, "Stop") : "")));
}

function ingressCard(i) {
  return el("li", { class: "card", "data-ingress": i.id },
    el("strong", {}, i.name || i.identity), ` · ${i.kind} → ${i.room} · `,
    el("span", { class: "badge " + (i.state === "publishing" ? "ok" : i.state === "error" ? "bad" : "") }, i.state),
    i.error ? el("p", { class: "error" }, i.error) : "",
    el("dl", { class: "settings" },
      el("dt", {}, i.kind === "url" ? "Source" : "Server"), el("dd", {}, el("code", {}, i.serverUrl), copyButton(i.serverUrl, "server URL")),
      i.streamKey ? [el("dt", {}, "Stream key"), el("dd", {}, el("code", { class: "secret" }, i.streamKey), copyButton(i.streamKey, "stream key"))] : [],
      i.encoder ? [el("dt", {}, "OBS"), el("dd", {}, `${i.encoder.audioCodec} ${i.encoder.audioBitrateKbps} kbps ${i.encoder.audioSampleRate / 1000} kHz ${i.encoder.audioChannels}` +
        (i.encoder.videoCodec ? ` · ${i.encoder.videoCodec} ${i.encoder.rateControl || ""} keyframe ${i.encoder.keyframeInterval || ""}` : ""))] : []),
    el("button", { class: "danger", onclick: () => guard(async () => {
      if (!confirm("Delete this ingress? Its stream key stops working.")) return;
      await api("DELETE", "/api/ingress?id=" + encodeURIComponent(i.id));
      await refreshRooms();
    }) }, "Delete"));
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
      await api("POST", "/api/ingress", formJSON(ev.target));
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
  poll();
});

// poll keeps the page live without reloads: a refresh 3 s after the last one
// ended, never while one is still waiting (a slow bucket listing must not pile
// requests up).
async function poll() {
  await guard(refreshRooms);
  setTimeout(poll, 3000);
}
