// The rehearsal of a show's audience, in the open room's detail (admins): a
// form that starts one (POST /api/shows/{name}/rehearsal, 202), its steps as
// the event stream tells them (rehearsal_stepped), and a chart drawn here in
// plain SVG: listeners across, loss %, jitter p95 and SFU CPU up, each on its
// own scale, the capacity marked. docs/rehearsal.md says how to read it.
"use strict";

// It uses the page's el(), api(), guard() and state (app.js).
(() => {
  const box = document.getElementById("rehearsal");
  if (!box) return;
  const form = document.getElementById("rehearse");
  const status = document.getElementById("rehearsal-state");
  const chart = document.getElementById("rehearsal-chart");
  const NS = "http://www.w3.org/2000/svg";
  const W = 480, H = 220, L = 40, R = 12, T = 12, B = 36;
  const SERIES = [
    { key: "lossPercent", name: "loss %", cls: "loss" },
    { key: "jitterP95Ms", name: "jitter p95 ms", cls: "jitter" },
    { key: "sfuCpu", name: "SFU CPU s", cls: "cpu" },
  ];
  let current = null; // the rehearsal shown: {id, show, steps, capacity, state}

  function svg(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function say(text, cls) {
    status.textContent = text;
    status.className = "badge" + (cls ? " " + cls : "");
  }

  // draw plots each series on its own scale (its largest value at the top),
  // one point per step, and a dashed line at the capacity.
  function draw() {
    chart.replaceChildren();
    const steps = current ? current.steps : [];
    chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
    chart.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }), svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
    if (!steps.length) return;
    const maxX = Math.max(...steps.map((s) => s.listeners), current.planned ? Math.max(...current.planned) : 0);
    const x = (n) => L + (n / maxX) * (W - L - R);
    for (const s of steps) {
      chart.append(svg("text", { x: x(s.listeners), y: H - B + 14, class: "tick" }, s.listeners));
    }
    chart.append(svg("text", { x: (W + L) / 2, y: H - 4, class: "label" }, "listeners"));
    SERIES.forEach((se, i) => {
      const pts = steps.filter((s) => typeof s[se.key] === "number");
      if (!pts.length) return;
      const max = Math.max(...pts.map((s) => s[se.key]));
      const top = max || 1; // all zero: drawn along the axis
      const y = (v) => H - B - (v / top) * (H - B - T);
      chart.append(svg("polyline", { class: "series " + se.cls, points: pts.map((s) => x(s.listeners) + "," + y(s[se.key])).join(" ") }));
      for (const s of pts) {
        const c = svg("circle", { cx: x(s.listeners), cy: y(s[se.key]), r: 3.5, class: "point " + se.cls, "data-series": se.key, "data-listeners": s.listeners });
        c.append(svg("title", {}, `${s.listeners} listeners: ${se.name} ${s[se.key].toFixed(2)}`));
        chart.append(c);
      }
      chart.append(svg("text", { x: L + 6 + i * 140, y: T + 10, class: "legend " + se.cls }, `${se.name} (max ${max.toFixed(2)})`));
    });
    if (current.capacity > 0) {
      const cx = x(current.capacity);
      chart.append(svg("line", { x1: cx, y1: T, x2: cx, y2: H - B, class: "capacity", "data-capacity": current.capacity }),
        svg("text", { x: cx - 4, y: H - B - 6, class: "capacity-label" }, "capacity " + current.capacity));
    }
  }

  function show(st) {
    current = { id: st.id, planned: st.planned, steps: st.steps || [], capacity: st.capacity || 0, state: st.state };
    if (st.state === "running") say(`running: ${current.steps.length} of ${(st.planned || []).length} steps`, "warn");
    else if (st.state === "failed") say("failed: " + st.error, "bad");
    else say(`capacity ${st.capacity} listeners` + (st.reason ? " (" + st.reason + ")" : ""), "ok");
    window.rehearsal = current; // for the browser test and the curious
    draw();
    // The events draw each step as it closes; while the stream is down, or
    // to catch the end, ask again every 2 s.
    if (st.state === "running") setTimeout(() => { if (current && current.id === st.id && current.state === "running") load(state.room, true); }, 2000);
  }

  // load shows the room's show's latest rehearsal, if this dashboard ran one.
  async function load(name, again) {
    if (!again) {
      current = null;
      say("not run");
      draw();
    }
    try {
      const st = await api("GET", "/api/shows/" + encodeURIComponent(name) + "/rehearsal");
      if (state.room === name) show(st);
    } catch (err) {
      // never rehearsed here, or not an admin
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    guard(async () => {
      const f = new FormData(form);
      const steps = String(f.get("steps")).split(",").map((s) => parseInt(s.trim(), 10)).filter((n) => n > 0);
      const body = { steps, holdSeconds: Number(f.get("hold")) || undefined, force: f.get("force") === "on" };
      show(await api("POST", "/api/shows/" + encodeURIComponent(state.room) + "/rehearsal", body));
    });
  });

  // The event stream (app.js hands each event on): a step, and the end.
  document.addEventListener("streamkit:event", (e) => {
    const ev = e.detail;
    if (!ev.rehearsal || !current || ev.rehearsal.id !== current.id) return;
    if (ev.kind === "rehearsal_stepped") {
      current.steps.push(ev.rehearsal.step);
      if (ev.rehearsal.step.passed) current.capacity = ev.rehearsal.step.listeners;
      show({ ...current, planned: current.planned, state: "running" });
    } else if (ev.kind === "rehearsal_ended") {
      load(state.room); // the whole result, as GET answers it
    }
  });
  document.addEventListener("streamkit:room", (e) => {
    box.hidden = state.me.role !== "admin";
    if (!box.hidden) load(e.detail);
  });
})();
