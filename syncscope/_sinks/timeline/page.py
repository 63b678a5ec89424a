"""
The HTML report's page: style and script, inline (the file must open without a network).
``__TITLE__`` and ``__DATA__`` are replaced by ``html``. Plain JavaScript, no library.
"""

from __future__ import annotations


PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
:root { --hold:#4c8bd6; --hold2:#9dbfe8; --wait:#e0533d; --cwait:#f0a030; --flow:#222;
        --find:#b00020; --grid:#e6e6e6; font-family: system-ui, sans-serif; }
body { margin: 0 1.5em 2em; color: #1b1b1b; background: #fafafa; }
h1 { font-size: 1.4em; margin: .8em 0 .2em; } h2 { font-size: 1.15em; margin: 1.4em 0 .4em; }
.summary span { display: inline-block; margin-right: 1.4em; }
.notes { color: #555; font-size: .9em; }
table { border-collapse: collapse; background: #fff; font-size: .88em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \25B2"; } th.sorted-desc::after { content: " \25BC"; }
td.text, th.text { text-align: left; }
.finding { border-left: 4px solid var(--find); background: #fff; padding: .4em .8em;
           margin: .6em 0; }
.finding h3 { margin: .1em 0 .3em; font-size: 1em; color: var(--find); }
pre { margin: 0; font-size: .85em; white-space: pre-wrap; }
#timeline-box { background: #fff; border: 1px solid #ccc; overflow: hidden; position: relative; }
#timeline { display: block; cursor: grab; }
.controls button { margin-right: .3em; }
.legend span { display: inline-block; margin-right: 1.2em; font-size: .85em; }
.legend i { display: inline-block; width: 1.4em; height: .8em; margin-right: .3em;
            vertical-align: middle; }
#tip { position: absolute; pointer-events: none; background: #fffbe6; border: 1px solid #bbb;
       padding: .3em .5em; font-size: .8em; display: none; max-width: 40em; z-index: 2; }
</style>
</head>
<body>
<h1 id="title"></h1>
<div class="summary" id="summary"></div>
<div class="notes" id="notes"></div>
<section id="findings-section"><h2>Findings</h2><div id="findings"></div></section>
<section id="timeline-section">
<h2>Timeline <small id="window"></small></h2>
<div class="legend">
<span><i style="background:var(--hold)"></i>hold (contended: darker)</span>
<span><i style="background:var(--wait)"></i>wait for a lock</span>
<span><i style="background:var(--cwait)"></i>other wait (Condition, Event, queue)</span>
<span><i style="background:var(--flow);height:2px"></i>what let a wait go on</span>
<span><i style="background:var(--find)"></i>finding</span>
</div>
<div class="controls">
<button id="zoom-in" type="button">zoom in</button>
<button id="zoom-out" type="button">zoom out</button>
<button id="zoom-reset" type="button">whole window</button>
<small>wheel: zoom, drag: pan, hover: details</small>
</div>
<div id="timeline-box"><svg id="timeline" xmlns="http://www.w3.org/2000/svg"></svg>
<div id="tip"></div></div>
</section>
<section id="tables-section"><h2>Primitives</h2><div id="tables"></div>
<details><summary>The report as text</summary><pre id="report-text"></pre></details>
</section>
<script id="syncscope-data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("syncscope-data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function sv(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
function ms(us) { return us >= 1000 ? (us / 1000).toFixed(3) + " ms" : us.toFixed(1) + " µs"; }

document.getElementById("title").textContent = "syncscope: " + D.run;
const summary = document.getElementById("summary");
summary.append(el("span", {}, "run: " + D.duration_ms.toFixed(1) + " ms"));
summary.append(el("span", {}, "operations: " + D.operations));
summary.append(el("span", {}, "threads: " + D.tracks.length));
if (D.report) {
  const s = D.report.summary;
  for (const k of ["primitives", "contended", "deadlocks", "hangs", "inversions", "slow"])
    summary.append(el("span", {}, k + ": " + s[k]));
}
const notes = document.getElementById("notes");
for (const n of D.notes) notes.append(el("div", {}, n));

// -- findings ---------------------------------------------------------------------------------
const findings = document.getElementById("findings");
if (!D.findings.length) findings.append(el("p", {}, D.report ? "No findings." :
  "No diagnosis ran: findings need the recorder (on by default under python -m syncscope)."));
for (const f of D.findings) {
  const box = el("div", {class: "finding"});
  box.append(el("h3", {}, f.kind.toUpperCase() + (f.threads ? " — " + f.threads : "")));
  box.append(el("pre", {}, f.text));
  findings.append(box);
}

// -- tables -----------------------------------------------------------------------------------
function makeTable(rows) {
  const skip = new Set(["sites", "type", "file", "line", "id"]);
  const cols = ["name", "kind", "created_at"];
  for (const r of rows) for (const k in r)
    if (!skip.has(k) && !cols.includes(k) && typeof r[k] !== "object") cols.push(k);
  const table = el("table", {class: "sortable"});
  const head = el("tr");
  cols.forEach((c, i) => {
    const th = el("th", {class: i < 3 ? "text" : ""}, c);
    th.addEventListener("click", () => sortBy(table, i, th));
    head.append(th);
  });
  const thead = el("thead"); thead.append(head); table.append(thead);
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    cols.forEach((c, i) => {
      let v = r[c];
      if (v === undefined || v === null) v = "";
      const td = el("td", {class: i < 3 ? "text" : ""}, String(v));
      td.dataset.v = typeof v === "number" ? String(v) : "";
      tr.append(td);
    });
    body.append(tr);
  }
  table.append(body);
  return table;
}
function sortBy(table, col, th) {
  const desc = !th.classList.contains("sorted-desc");
  table.querySelectorAll("th").forEach(h => h.classList.remove("sorted-asc", "sorted-desc"));
  th.classList.add(desc ? "sorted-desc" : "sorted-asc");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = a.cells[col], y = b.cells[col];
    const nx = x.dataset.v === "" ? NaN : Number(x.dataset.v);
    const ny = y.dataset.v === "" ? NaN : Number(y.dataset.v);
    let c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny :
      x.textContent.localeCompare(y.textContent);
    return desc ? -c : c;
  });
  rows.forEach(r => body.append(r));
}
const tables = document.getElementById("tables");
if (D.report && D.report.primitives.length) {
  tables.append(makeTable(D.report.primitives));
  document.getElementById("report-text").textContent = D.report.text || "";
} else {
  tables.append(el("p", {}, "No statistics were gathered."));
}

// -- timeline ---------------------------------------------------------------------------------
const svg = document.getElementById("timeline");
const box = document.getElementById("timeline-box");
const tip = document.getElementById("tip");
const LABEL = 150, LANE = 13, PAD = 6, AXIS = 22;
document.getElementById("window").textContent = D.whole ? "(the whole run)" :
  "(the busiest stretch: " + ms(D.window[0]) + " to " + ms(D.window[1]) + ")";
// Lanes: overlapping slices of one thread (a hold inside a hold, a wait while holding).
const lanesOf = {};
const ordered = D.slices.map((s, i) => i).sort((a, b) => D.slices[a][1] - D.slices[b][1]);
const laneOfSlice = new Array(D.slices.length);
for (const i of ordered) {
  const s = D.slices[i];
  const ends = lanesOf[s[0]] || (lanesOf[s[0]] = []);
  let lane = ends.findIndex(e => e <= s[1]);
  if (lane < 0) { lane = ends.length; ends.push(0); }
  ends[lane] = s[2];
  laneOfSlice[i] = lane;
}
const rowTop = {}; let y = AXIS;
const rowOf = {};
for (const t of D.tracks) {
  const lanes = Math.max((lanesOf[t.id] || []).length, 1);
  rowTop[t.id] = y; rowOf[t.id] = {lanes: lanes};
  y += lanes * LANE + 2 * PAD + 4;
}
const HEIGHT = y + 4;
let view = [D.window[0], Math.max(D.window[1], D.window[0] + 1)];
function width() { return Math.max(box.clientWidth, 400); }
function xOf(us) { return LABEL + (us - view[0]) / (view[1] - view[0]) * (width() - LABEL - 10); }
function midY(track) {
  return rowTop[track] + PAD + rowOf[track].lanes * LANE / 2;
}
function showTip(evt, text) {
  tip.textContent = text; tip.style.display = "block";
  const r = box.getBoundingClientRect();
  tip.style.left = Math.min(evt.clientX - r.left + 12, r.width - 300) + "px";
  tip.style.top = (evt.clientY - r.top + 12) + "px";
}
function describe(name, args) {
  let t = name;
  for (const k in args) t += "\n" + k + ": " + args[k];
  return t;
}
function draw() {
  const W = width();
  svg.setAttribute("width", W); svg.setAttribute("height", HEIGHT);
  svg.replaceChildren();
  const defs = sv("defs", {});
  const marker = sv("marker", {id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse"});
  marker.append(sv("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "#222"}));
  defs.append(marker); svg.append(defs);
  // axis and grid
  const span = view[1] - view[0];
  const step = Math.pow(10, Math.floor(Math.log10(span / 6)));
  const nice = span / step > 30 ? step * 5 : span / step > 12 ? step * 2 : step;
  for (let v = Math.ceil(view[0] / nice) * nice; v <= view[1]; v += nice) {
    const x = xOf(v);
    svg.append(sv("line", {x1: x, x2: x, y1: AXIS - 4, y2: HEIGHT, stroke: "#e6e6e6"}));
    const label = sv("text", {x: x + 2, y: 12, "font-size": 10, fill: "#555"});
    label.textContent = ms(v); svg.append(label);
  }
  for (const t of D.tracks) {
    const top = rowTop[t.id], h = rowOf[t.id].lanes * LANE + 2 * PAD;
    svg.append(sv("rect", {x: 0, y: top, width: W, height: h, fill: "#f7f9fc",
      "class": "track", "data-thread": t.name}));
    const name = sv("text", {x: 4, y: top + h / 2 + 4, "font-size": 12, fill: "#111"});
    name.textContent = t.name; svg.append(name);
  }
  const clip = sv("clipPath", {id: "plot"});
  clip.append(sv("rect", {x: LABEL, y: 0, width: W - LABEL, height: HEIGHT}));
  defs.append(clip);
  const plot = sv("g", {"clip-path": "url(#plot)"}); svg.append(plot);
  D.slices.forEach((s, i) => {
    if (s[2] < view[0] || s[1] > view[1]) return;
    const x1 = xOf(s[1]), x2 = xOf(s[2]);
    const yy = rowTop[s[0]] + PAD + laneOfSlice[i] * LANE;
    let fill = s[4] === "hold" ? (s[6] ? "var(--hold)" : "var(--hold2)") :
      (s[3].startsWith("wait for") ? "var(--wait)" : "var(--cwait)");
    const r = sv("rect", {x: x1, y: yy, width: Math.max(x2 - x1, 1), height: LANE - 2,
      fill: fill, "class": "slice " + s[4]});
    r.addEventListener("mousemove", e => showTip(e, describe(s[3] + "  (" + ms(s[2] - s[1]) +
      ")", s[5])));
    r.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    plot.append(r);
    if (x2 - x1 > 60) {
      const t = sv("text", {x: x1 + 3, y: yy + LANE - 4, "font-size": 9, fill: "#fff",
        "pointer-events": "none"});
      t.textContent = s[3]; plot.append(t);
    }
  });
  for (const i of D.instants) {
    if (i[1] < view[0] || i[1] > view[1]) continue;
    const x = xOf(i[1]), top = rowTop[i[0]];
    const finding = i[3] === "finding";
    const h = rowOf[i[0]].lanes * LANE + 2 * PAD;
    const m = finding ?
      sv("path", {d: `M ${x} ${top} l 6 ${h} l -12 0 z`, fill: "var(--find)",
        "fill-opacity": "0.85", "class": "finding-mark"}) :
      sv("rect", {x: x - 1, y: top + 1, width: 2, height: PAD + 2, fill: "#333",
        "class": "instant"});
    m.addEventListener("mousemove", e => showTip(e, describe(i[2], i[4])));
    m.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    plot.append(m);
  }
  for (const f of D.flows) {
    if (Math.max(f[1], f[3]) < view[0] || Math.min(f[1], f[3]) > view[1]) continue;
    const x1 = xOf(f[1]), y1 = midY(f[0]), x2 = xOf(f[3]), y2 = midY(f[2]);
    const mx = (x1 + x2) / 2;
    const p = sv("path", {d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`,
      fill: "none", stroke: "#222", "stroke-width": 1.2, "marker-end": "url(#arrow)",
      "class": "flow"});
    p.addEventListener("mousemove", e => showTip(e, f[4]));
    p.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    plot.append(p);
  }
}
function zoom(factor, at) {
  const span = view[1] - view[0];
  const c = at === undefined ? (view[0] + view[1]) / 2 : at;
  const s = Math.max(span * factor, 0.01);
  view = [c - (c - view[0]) * s / span, c + (view[1] - c) * s / span];
  draw();
}
svg.addEventListener("wheel", e => {
  e.preventDefault();
  const x = e.clientX - svg.getBoundingClientRect().left;
  const at = view[0] + (x - LABEL) / (width() - LABEL - 10) * (view[1] - view[0]);
  zoom(e.deltaY < 0 ? 0.8 : 1.25, at);
}, {passive: false});
let drag = null;
svg.addEventListener("mousedown", e => { drag = {x: e.clientX, view: view.slice()}; });
window.addEventListener("mouseup", () => { drag = null; });
window.addEventListener("mousemove", e => {
  if (!drag) return;
  const d = (e.clientX - drag.x) / (width() - LABEL - 10) * (drag.view[1] - drag.view[0]);
  view = [drag.view[0] - d, drag.view[1] - d]; draw();
});
document.getElementById("zoom-in").addEventListener("click", () => zoom(0.5));
document.getElementById("zoom-out").addEventListener("click", () => zoom(2));
document.getElementById("zoom-reset").addEventListener("click", () => {
  view = [D.window[0], Math.max(D.window[1], D.window[0] + 1)]; draw(); });
window.addEventListener("resize", draw);
draw();
document.body.dataset.rendered = "yes";
</script>
</body>
</html>
"""
