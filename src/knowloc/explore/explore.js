// knowloc explore: draws the pages of a run or sweep report from the JSON embedded in the page.
// Vanilla JS, no network. Each section of DATA.sections has a `type`; RENDER[type] draws it.
"use strict";

const DATA = JSON.parse(document.getElementById("knowloc-data").textContent);
const PALETTE = ["#3565c8", "#d9534f", "#2e9e55", "#e08a1e", "#8a5ac8", "#1aa3b5", "#c34f9b", "#7f8c1f", "#555"];

// ---------- small helpers ----------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const SVGNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
function isNum(v) { return typeof v === "number" && isFinite(v); }
function fmt(v, digits) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "number") {
    if (!isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential((digits || 4) - 1);
    return v.toFixed(digits === undefined ? 4 : digits);
  }
  if (v === "nan") return "NaN";
  return String(v);
}
function fmtDuration(sec) {
  if (!isNum(sec)) return "—";
  if (sec < 60) return sec.toFixed(1) + " s";
  if (sec < 3600) return (sec / 60).toFixed(1) + " min";
  return (sec / 3600).toFixed(2) + " h";
}
function fmtBytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
  return (n / 1048576).toFixed(1) + " MB";
}
const tooltip = document.getElementById("tooltip");
function showTip(ev, text) {
  tooltip.textContent = text;
  tooltip.hidden = false;
  const x = Math.min(ev.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
  const y = Math.min(ev.clientY + 14, window.innerHeight - tooltip.offsetHeight - 8);
  tooltip.style.left = x + "px";
  tooltip.style.top = y + "px";
}
function hideTip() { tooltip.hidden = true; }
function select(options, value, onchange, attrs) {
  const el = h("select", attrs || {}, options.map(o => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    return h("option", { value: v, selected: String(v) === String(value) }, label);
  }));
  el.addEventListener("change", () => onchange(el.value));
  return el;
}
function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(p => p[1] !== null && p[1] !== undefined && p[1] !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v instanceof Node ? v : String(v))]));
}
function errorBox(title, message, detail) {
  return h("div", { class: "error-box" }, h("h2", {}, title), h("p", { class: "error-message" }, message),
    detail ? h("details", {}, h("summary", {}, "details"), h("pre", {}, detail)) : null);
}

// ---------- tables ----------
// cols: [{key, label, num, fmt}], rows: objects. Sortable by clicking a header.
function table(cols, rows, opts) {
  opts = opts || {};
  let sortKey = null, sortDir = 1;
  const tbody = h("tbody");
  const get = (r, c) => (typeof c.get === "function" ? c.get(r) : r[c.key]);
  function fill() {
    tbody.replaceChildren();
    let rs = rows.slice();
    if (sortKey !== null) {
      const c = cols[sortKey];
      rs.sort((a, b) => {
        const x = get(a, c), y = get(b, c);
        if (isNum(x) && isNum(y)) return sortDir * (x - y);
        return sortDir * String(x).localeCompare(String(y), undefined, { numeric: true });
      });
    }
    for (const r of rs) {
      const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(r) : {}, cols.map(c => {
        const v = get(r, c);
        const content = c.render ? c.render(v, r) : (c.fmt ? c.fmt(v) : fmt(v));
        return h("td", { class: c.num ? "num" : null, "data-col": c.key }, content);
      }));
      tbody.append(tr);
    }
  }
  const thead = h("thead", {}, h("tr", {}, cols.map((c, i) => h("th", {
    class: "sortable" + (c.num ? " num" : ""), title: "sort",
    onclick: () => { sortDir = sortKey === i ? -sortDir : 1; sortKey = i; fill(); },
  }, c.label || c.key))));
  fill();
  return h("table", opts.attrs || {}, thead, tbody);
}

// ---------- charts ----------
function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const span = hi - lo, step0 = span / (n || 5);
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(st => st >= step0) || step0;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return { lo, hi, ticks };
}
function tickLabel(t) {
  if (Number.isInteger(t)) return Math.abs(t) >= 1e6 ? t.toExponential(1) : String(t);
  const a = Math.abs(t);
  if (a < 1e-3) return t.toExponential(1);
  return String(+t.toPrecision(4));
}
function extent(arrs) {
  let lo = Infinity, hi = -Infinity;
  for (const a of arrs) for (const v of a) if (isNum(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return lo === Infinity ? [0, 1] : [lo, hi];
}
function axes(g, W, H, m, xs, ys, xlabel, ylabel) {
  for (const t of ys.ticks) {
    const y = m.t + (1 - (t - ys.lo) / (ys.hi - ys.lo)) * (H - m.t - m.b);
    g.append(s("line", { class: "gridline", x1: m.l, x2: W - m.r, y1: y, y2: y }));
    g.append(s("text", { x: m.l - 5, y: y + 4, "text-anchor": "end" }, tickLabel(t)));
  }
  if (xs.ticks) for (const t of xs.ticks) {
    const x = m.l + (t - xs.lo) / (xs.hi - xs.lo) * (W - m.l - m.r);
    g.append(s("text", { x, y: H - m.b + 15, "text-anchor": "middle" }, tickLabel(t)));
  }
  g.append(s("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, stroke: "#999" }));
  g.append(s("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, stroke: "#999" }));
  if (xlabel) g.append(s("text", { x: (m.l + W - m.r) / 2, y: H - 4, "text-anchor": "middle" }, xlabel));
  if (ylabel) g.append(s("text", { x: 12, y: (m.t + H - m.b) / 2, transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})`, "text-anchor": "middle" }, ylabel));
}
// series: [{name, x: [...], y: [...]}]
function lineChart(series, opts) {
  opts = opts || {};
  const W = opts.width || 420, H = opts.height || 240, m = { l: 56, r: 12, t: 12, b: 36 };
  const xs = niceTicks(...extent(series.map(d => d.x)), 6), ys = niceTicks(...extent(series.map(d => d.y)), 5);
  if (series.every(d => d.x.every(v => v === null || Number.isInteger(v)))) xs.ticks = xs.ticks.filter(Number.isInteger);
  const X = v => m.l + (v - xs.lo) / (xs.hi - xs.lo) * (W - m.l - m.r);
  const Y = v => m.t + (1 - (v - ys.lo) / (ys.hi - ys.lo)) * (H - m.t - m.b);
  const svg = s("svg", { width: "100%", viewBox: `0 0 ${W} ${H}`, class: "chart line-chart", style: `max-width:${W}px;height:auto` });
  axes(svg, W, H, m, xs, ys, opts.xlabel, opts.ylabel);
  series.forEach((d, i) => {
    const color = d.color || PALETTE[i % PALETTE.length];
    let path = "", pen = false;
    for (let k = 0; k < d.x.length; k++) {
      if (!isNum(d.y[k]) || !isNum(d.x[k])) { pen = false; continue; }
      path += (pen ? "L" : "M") + X(d.x[k]).toFixed(1) + "," + Y(d.y[k]).toFixed(1);
      pen = true;
    }
    svg.append(s("path", { d: path, fill: "none", stroke: color, "stroke-width": 1.6 }));
    if (d.x.length <= 60) for (let k = 0; k < d.x.length; k++) if (isNum(d.y[k]))
      svg.append(s("circle", { cx: X(d.x[k]), cy: Y(d.y[k]), r: 2.4, fill: color }));
  });
  if (opts.marker !== undefined && opts.marker !== null && isNum(opts.marker))
    svg.append(s("line", { x1: X(opts.marker), x2: X(opts.marker), y1: m.t, y2: H - m.b, stroke: "#d9534f", "stroke-dasharray": "4 3", class: "marker" }));
  const cursor = s("line", { y1: m.t, y2: H - m.b, stroke: "#888", visibility: "hidden" });
  svg.append(cursor);
  svg.addEventListener("mousemove", ev => {
    const r = svg.getBoundingClientRect(), px = (ev.clientX - r.left) * W / r.width;
    const xv = xs.lo + (px - m.l) / (W - m.l - m.r) * (xs.hi - xs.lo);
    const lines = [];
    let best = null;
    series.forEach(d => {
      let bi = -1, bd = Infinity;
      d.x.forEach((x, k) => { if (isNum(d.y[k]) && Math.abs(x - xv) < bd) { bd = Math.abs(x - xv); bi = k; } });
      if (bi >= 0) { lines.push(`${d.name}: ${fmt(d.y[bi])}`); best = d.x[bi]; }
    });
    if (best === null) return;
    cursor.setAttribute("x1", X(best)); cursor.setAttribute("x2", X(best)); cursor.setAttribute("visibility", "visible");
    showTip(ev, `${opts.xlabel || "x"} ${fmt(best)}\n` + lines.join("\n"));
  });
  svg.addEventListener("mouseleave", () => { cursor.setAttribute("visibility", "hidden"); hideTip(); });
  const legend = series.length > 1 ? h("div", { class: "legend" }, series.map((d, i) =>
    h("span", {}, h("i", { style: `background:${d.color || PALETTE[i % PALETTE.length]}` }), d.name))) : null;
  return h("div", { class: "chart-box" }, opts.title ? h("h3", {}, opts.title) : null, svg, legend);
}
// bars with error bars: labels, means, lows, highs, ns
function barChart(labels, means, lows, highs, ns, opts) {
  opts = opts || {};
  const W = Math.max(320, 70 * labels.length + 80), H = opts.height || 280, m = { l: 60, r: 12, t: 12, b: 70 };
  const vals = [...means, ...lows, ...highs, 0];
  const ys = niceTicks(...extent([vals]), 5);
  const Y = v => m.t + (1 - (v - ys.lo) / (ys.hi - ys.lo)) * (H - m.t - m.b);
  const bw = (W - m.l - m.r) / Math.max(1, labels.length);
  const svg = s("svg", { width: W, height: H, class: "chart bar-chart" });
  axes(svg, W, H, m, { ticks: null }, ys, null, opts.ylabel);
  labels.forEach((lab, i) => {
    const cx = m.l + bw * (i + 0.5);
    if (isNum(means[i])) {
      const y0 = Y(Math.max(ys.lo, Math.min(ys.hi, 0))), y1 = Y(means[i]);
      const bar = s("rect", { x: cx - bw * 0.32, width: bw * 0.64, y: Math.min(y0, y1), height: Math.abs(y0 - y1) || 1, fill: "#88aadd", class: "bar" });
      bar.addEventListener("mousemove", ev => showTip(ev, `${lab}\nmean ${fmt(means[i])}\nCI [${fmt(lows[i])}, ${fmt(highs[i])}]\nn = ${ns[i]}`));
      bar.addEventListener("mouseleave", hideTip);
      svg.append(bar);
    }
    if (isNum(lows[i]) && isNum(highs[i])) {
      svg.append(s("line", { x1: cx, x2: cx, y1: Y(lows[i]), y2: Y(highs[i]), stroke: "#222", "stroke-width": 1.2 }));
      for (const v of [lows[i], highs[i]]) svg.append(s("line", { x1: cx - 6, x2: cx + 6, y1: Y(v), y2: Y(v), stroke: "#222" }));
    }
    svg.append(s("text", { x: cx, y: H - m.b + 14, "text-anchor": "middle" }, `n=${ns[i]}`));
    svg.append(s("text", { x: cx, y: H - m.b + 30, "text-anchor": "end", transform: `rotate(-25 ${cx} ${H - m.b + 30})` }, lab));
  });
  return svg;
}

// colour maps: t in [0, 1]
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function viridis(t) {
  t = Math.max(0, Math.min(1, isNum(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [0, 1, 2].map(k => Math.round(a[k] + f * (b[k] - a[k])));
}
function diverging(t) {  // t in [0,1], 0.5 = white
  t = Math.max(0, Math.min(1, isNum(t) ? t : 0.5));
  const c = t < 0.5 ? [59, 76, 192] : [180, 4, 38], f = Math.abs(t - 0.5) * 2;
  return [0, 1, 2].map(k => Math.round(255 + f * (c[k] - 255)));
}
// matrix: rows of numbers. opts: {cell, symmetric, rowLabel(i), colLabel(j), onclick(i,j), title}
function heatmap(matrix, opts) {
  opts = opts || {};
  const R = matrix.length, C = R ? matrix[0].length : 0;
  const cell = opts.cell || Math.max(3, Math.min(24, Math.floor(420 / Math.max(R, C, 1))));
  const cw = opts.cellW || cell, ch = opts.cellH || cell;
  const canvas = h("canvas", { width: C * cw, height: R * ch, class: "heatmap" });
  const [lo, hi] = extent(matrix);
  const amax = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  const ctx = canvas.getContext("2d");
  const colour = v => opts.symmetric ? diverging(v / amax / 2 + 0.5) : viridis(hi > lo ? (v - lo) / (hi - lo) : 0.5);
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) {
    const v = matrix[i][j];
    ctx.fillStyle = isNum(v) ? `rgb(${colour(v).join(",")})` : "#ccc";
    ctx.fillRect(j * cw, i * ch, cw, ch);
  }
  const overlay = h("div", { class: "hm-mark", style: "display:none" });
  canvas.addEventListener("mousemove", ev => {
    const r = canvas.getBoundingClientRect();
    const j = Math.floor((ev.clientX - r.left) / r.width * C), i = Math.floor((ev.clientY - r.top) / r.height * R);
    if (i < 0 || j < 0 || i >= R || j >= C) return;
    showTip(ev, `${opts.rowLabel ? opts.rowLabel(i) : "row " + i}, ${opts.colLabel ? opts.colLabel(j) : "col " + j}\n${opts.valueLabel || "value"} ${fmt(matrix[i][j])}`);
  });
  canvas.addEventListener("mouseleave", hideTip);
  if (opts.onclick) {
    canvas.style.cursor = "pointer";
    canvas.addEventListener("click", ev => {
      const r = canvas.getBoundingClientRect();
      const j = Math.floor((ev.clientX - r.left) / r.width * C), i = Math.floor((ev.clientY - r.top) / r.height * R);
      if (i >= 0 && j >= 0 && i < R && j < C) opts.onclick(i, j);
    });
  }
  const wrap = h("div", { class: "heatmap-box", style: "position:relative;display:inline-block" }, canvas, overlay);
  // outline row i or column j (the selected unit); null hides the outline
  wrap.mark = (i, j) => {
    const base = "position:absolute;outline:2px solid #e33;outline-offset:0;pointer-events:none;";
    overlay.style.cssText = i !== null && i !== undefined ? base + `left:0;top:${i * ch}px;width:${C * cw}px;height:${ch}px` :
      j !== null && j !== undefined ? base + `top:0;left:${j * cw}px;width:${cw}px;height:${R * ch}px` : "display:none";
  };
  const scale = h("div", { class: "muted", style: "font-size:12px" },
    opts.symmetric ? `blue −${fmt(amax)} · white 0 · red +${fmt(amax)}` : `dark ${fmt(lo)} → yellow ${fmt(hi)}`);
  const fig = h("div", { class: "figure" }, opts.title ? h("h3", {}, opts.title) : null, wrap, scale);
  fig.mark = wrap.mark;
  return fig;
}
// scatter on a canvas (handles 10^5 points); hover shows label(i) of the nearest point
function scatter(xs, ys, opts) {
  opts = opts || {};
  const W = opts.width || 420, H = opts.height || 380, m = { l: 56, r: 12, t: 12, b: 40 };
  const xt = niceTicks(...(opts.xrange || extent([xs])), 5), yt = niceTicks(...(opts.yrange || extent([ys])), 5);
  const X = v => m.l + (v - xt.lo) / (xt.hi - xt.lo) * (W - m.l - m.r);
  const Y = v => m.t + (1 - (v - yt.lo) / (yt.hi - yt.lo)) * (H - m.t - m.b);
  const svg = s("svg", { width: W, height: H, style: "position:absolute;left:0;top:0;pointer-events:none" });
  axes(svg, W, H, m, xt, yt, opts.xlabel, opts.ylabel);
  if (opts.diagonal) svg.append(s("line", { x1: X(Math.max(xt.lo, yt.lo)), y1: Y(Math.max(xt.lo, yt.lo)),
    x2: X(Math.min(xt.hi, yt.hi)), y2: Y(Math.min(xt.hi, yt.hi)), stroke: "#d9534f", "stroke-dasharray": "4 3" }));
  const canvas = h("canvas", { width: W, height: H, style: "position:absolute;left:0;top:0" });
  const ctx = canvas.getContext("2d");
  ctx.globalAlpha = xs.length > 5000 ? 0.25 : 0.6;
  const px = new Float32Array(xs.length), py = new Float32Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    px[i] = isNum(xs[i]) ? X(xs[i]) : NaN; py[i] = isNum(ys[i]) ? Y(ys[i]) : NaN;
    if (isNaN(px[i]) || isNaN(py[i])) continue;
    ctx.fillStyle = opts.color ? opts.color(i) : "#3565c8";
    ctx.fillRect(px[i] - 1.5, py[i] - 1.5, 3, 3);
  }
  // highlighted points (e.g. the weights leaving one pixel) drawn on top, opaque
  const hl = (opts.highlight || []).filter(i => !isNaN(px[i]) && !isNaN(py[i]));
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#e8590c";
  for (const i of hl) ctx.fillRect(px[i] - 2.5, py[i] - 2.5, 5, 5);
  const box = h("div", { class: "scatter", "data-highlighted": hl.length, style: `position:relative;width:${W}px;height:${H}px` }, canvas, svg);
  canvas.addEventListener("mousemove", ev => {
    const r = canvas.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
    let bi = -1, bd = 64;
    for (let i = 0; i < px.length; i++) {
      const d = (px[i] - mx) ** 2 + (py[i] - my) ** 2;
      if (d < bd) { bd = d; bi = i; }
    }
    if (bi < 0) { hideTip(); return; }
    showTip(ev, opts.label ? opts.label(bi) : `(${fmt(xs[bi])}, ${fmt(ys[bi])})`);
  });
  canvas.addEventListener("mouseleave", hideTip);
  return h("div", { class: "figure" }, opts.title ? h("h3", {}, opts.title) : null, box);
}
function figure(src, caption, attrs) {
  return h("figure", { class: "figure" }, h("img", Object.assign({ src, alt: caption || "" }, attrs || {})),
    caption ? h("figcaption", {}, caption) : null);
}

// ---------- pages every report has ----------
const RENDER = {};

RENDER.error = (el, sec) => el.append(errorBox(`Cannot show the ${sec.title} page`, sec.message, sec.detail));

RENDER.overview = (el, sec) => {
  if (sec.error) el.append(errorBox(`Run ${sec.status}`, sec.error));
  const choices = Object.entries(sec.choices).filter(([, v]) => v !== null)
    .map(([k, v]) => h("span", { class: "pill" }, `${k}=${v}`));
  const data = sec.data ? Object.entries(sec.data).filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}: ${v}`).join(", ") : null;
  el.append(h("div", { class: "row" },
    h("div", { class: "card", style: "flex:1 1 420px" }, h("h2", {}, "Run"), facts([
      ["folder", h("code", {}, sec.path)], ["status", h("span", { class: `badge ${sec.status}`, id: "run-status" }, sec.status)],
      ["started", sec.started], ["duration", fmtDuration(sec.duration_s)], ["seed", sec.seed],
      ["choices", h("span", {}, choices)], ["overrides", sec.overrides.length ? h("code", {}, sec.overrides.join(" ")) : "none"],
      ["data", data], ["git commit", sec.git_commit], ["W&B run folder", sec.wandb_dir],
      ["metrics history", sec.has_history ? "metrics/metrics.csv" : "none yet (no metrics/metrics.csv: no CSV logger, or nothing logged so far)"],
    ])),
    h("div", { class: "card", style: "flex:1 1 360px" }, h("h2", {}, `Final metrics (${sec.metrics.length})`),
      metricFilterTable(sec.metrics))));
  el.append(h("div", { class: "card" }, h("h2", {}, "Config"), configTree(sec.config)),
    h("details", { class: "card" }, h("summary", {}, "Package versions"),
      facts(Object.entries(sec.versions))));
};
function metricFilterTable(metrics) {
  const box = h("div", {});
  const input = h("input", { type: "search", placeholder: "filter metrics", id: "metric-filter" });
  const holder = h("div", { class: "scroll" });
  const draw = () => {
    const q = input.value.toLowerCase();
    holder.replaceChildren(table([{ key: "0", label: "metric" }, { key: "1", label: "value", num: true, fmt: v => fmt(v, 4) }],
      metrics.filter(r => r[0].toLowerCase().includes(q)), { attrs: { id: "final-metrics" } }));
  };
  input.addEventListener("input", draw);
  draw();
  box.append(input, holder);
  return box;
}
const isLeaf = v => v === null || typeof v !== "object" || (Array.isArray(v) && v.every(x => x === null || typeof x !== "object"));
function configTree(node) {
  if (isLeaf(node)) return h("code", {}, JSON.stringify(node));
  const entries = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
  return h("dl", { class: "facts" }, entries.map(([k, v]) => [
    h("dt", {}, String(k)),
    h("dd", {}, !isLeaf(v) ? h("details", { open: true }, h("summary", {}, Array.isArray(v) ? `[${v.length}]` : "…"), configTree(v)) : configTree(v)),
  ]));
}

RENDER.metrics = (el, sec) => {
  const names = Object.keys(sec.series);
  if (!names.length) { el.append(h("p", { class: "muted" }, `${sec.file} has no values yet.`)); return; }
  const wanted = /^(train|val)\/(loss|acc)(_epoch)?$/;
  let chosen = new Set(names.filter(n => wanted.test(n) && !(n === "train/loss" && names.includes("train/loss_epoch"))));
  if (!chosen.size) chosen = new Set(names.slice(0, 4));
  let xkey = "step";
  const charts = h("div", { class: "grid", id: "metric-charts" });
  const draw = () => {
    charts.replaceChildren(...[...chosen].map(n => {
      const d = sec.series[n];
      const xs = d[xkey].map((v, i) => (v === null ? d.step[i] : v));
      return h("div", { class: "card", "data-metric": n }, lineChart([{ name: n, x: xs, y: d.value }], { title: n, xlabel: xkey }),
        h("div", { class: "muted" }, `last ${fmt(d.value[d.value.length - 1])} at ${xkey} ${xs[xs.length - 1]} · ${d.value.length} values`));
    }));
  };
  const filter = h("input", { type: "search", placeholder: "filter" });
  const list = h("div", { class: "checklist" });
  const fillList = () => {
    const q = filter.value.toLowerCase();
    list.replaceChildren(...names.filter(n => n.toLowerCase().includes(q)).map(n => h("label", {},
      h("input", { type: "checkbox", checked: chosen.has(n), "data-metric": n,
        onchange: ev => { ev.target.checked ? chosen.add(n) : chosen.delete(n); draw(); } }), n)));
  };
  filter.addEventListener("input", fillList);
  fillList();
  draw();
  el.append(h("div", { class: "controls" }, h("span", { class: "muted" }, `from ${sec.file}`),
    h("label", {}, "x axis ", select(["step", "epoch"], xkey, v => { xkey = v; draw(); }, { id: "metric-x" }))));
  el.append(h("div", { class: "row" }, h("div", {}, filter, list), h("div", { style: "flex:1" }, charts)));
};

RENDER.files = (el, sec) => {
  el.append(h("div", { class: "card" }, h("h2", {}, `Files (${sec.files.length})`), h("div", { class: "scroll" },
    table([{ key: "0", label: "file" }, { key: "1", label: "size", num: true, fmt: fmtBytes }], sec.files))));
  const notEmbedded = sec.images_not_embedded || [];
  if (notEmbedded.length) el.append(h("div", { class: "card" }, h("h2", {}, "Large images (not embedded)"),
    h("ul", {}, notEmbedded.map(p => h("li", {}, SERVED ? h("a", { href: fileLink(p), target: "_blank" }, p) : h("code", {}, p))))));
  if (sec.images.length) el.append(h("div", { class: "card gallery" }, h("h2", {}, `Images (${sec.images.length})`),
    sec.images.map(im => figure(im.src, im.name))));
  for (const t of sec.tables) {
    el.append(h("details", { class: "card" }, h("summary", {}, `${t.name} (${t.rows.length}${t.truncated ? "+" : ""} rows)`),
      h("div", { class: "scroll" }, table(t.header.map((c, i) => ({ key: String(i), label: c })),
        t.rows.map(r => Object.fromEntries(r.map((v, i) => [String(i), v])))))));
  }
};

// a file of this run through the server's /file route
function fileLink(rel) {
  const base = DATA.link_base ? DATA.link_base + "/" : "";
  return "file?path=" + encodeURIComponent(base + rel);
}

// ---------- sweep pages ----------
function runLink(rel) {
  if (!SERVED) return h("code", { title: `knowloc explore ${DATA.path}/${rel}` }, rel);
  const base = DATA.link_base ? DATA.link_base + "/" : "";
  return h("a", { href: "?run=" + encodeURIComponent(base + rel) }, rel);
}
RENDER.runs = (el, sec) => {
  const cols = [{ key: "run", label: "run", render: v => runLink(v) },
    { key: "status", render: v => h("span", { class: `badge ${v}` }, v) }, { key: "seed", num: true },
    ...sec.factors.map(f => ({ key: f, label: f, get: r => r.factors[f] })),
    ...sec.headline.map(m => ({ key: m, label: m, num: true, get: r => r.metrics[m] })),
    { key: "duration_s", label: "duration", num: true, fmt: fmtDuration },
    { key: "error", label: "error", fmt: v => v || "" }];
  el.append(h("div", { class: "card" }, h("h2", {}, `Runs of ${DATA.path}`),
    SERVED ? null : h("p", { class: "muted" }, "Open a run with: knowloc explore SWEEP_DIR/RUN (or serve this sweep and click it)."),
    h("div", { class: "scroll" }, table(cols, sec.rows, { attrs: { id: "runs-table" } }))));
  if (sec.unreadable.length) el.append(h("div", { class: "error-box", id: "unreadable" },
    h("h2", {}, `${sec.unreadable.length} run record(s) cannot be read`),
    h("ul", {}, sec.unreadable.map(([p, msg]) => h("li", {}, h("code", {}, p), ": ", msg)))));
};
RENDER.compare = (el, sec) => {
  let by = sec.by_options[0], metric = sec.default_metric;
  const out = h("div", { id: "compare-out" });
  const draw = () => {
    const t = (sec.tables[by] || {})[metric];
    const keys = sec.by_keys[by];
    const cmd = `knowloc compare ${sec.path} ` + keys.map(k => `--by ${k}`).join(" ") + ` --metric ${metric}`;
    if (!t) { out.replaceChildren(h("p", { class: "muted" }, "no table for this choice")); return; }
    if (t.error) { out.replaceChildren(errorBox("No comparison", t.error)); return; }
    const rows = t.rows;
    const labels = rows.map(r => keys.map(k => r[k]).join(" / "));
    const num = v => (isNum(v) ? v : NaN);
    out.replaceChildren(
      h("p", {}, h("code", { id: "compare-command" }, cmd)),
      h("div", { class: "row" },
        h("div", { class: "card" }, table([...keys.map(k => ({ key: k })), { key: "n", num: true },
          { key: "mean", num: true }, { key: "ci_low", label: "CI low", num: true }, { key: "ci_high", label: "CI high", num: true },
          { key: "std", num: true }, { key: "n_skipped", label: "skipped", num: true }], rows, { attrs: { id: "compare-table" } }),
          h("p", { class: "muted" }, `mean and ${Math.round(sec.level * 100)}% t interval over the finished runs of each group; one run gives no interval (—).`)),
        h("div", { class: "card" }, barChart(labels, rows.map(r => num(r.mean)), rows.map(r => num(r.ci_low)),
          rows.map(r => num(r.ci_high)), rows.map(r => r.n), { ylabel: metric }))));
  };
  const mfilter = h("input", { type: "search", placeholder: "filter metrics" });
  let msel = select(sec.metrics, metric, v => { metric = v; draw(); }, { id: "compare-metric" });
  mfilter.addEventListener("input", () => {
    const q = mfilter.value.toLowerCase(), opts = sec.metrics.filter(m => m.toLowerCase().includes(q));
    const n = select(opts, metric, v => { metric = v; draw(); }, { id: "compare-metric" });
    msel.replaceWith(n); msel = n;
    if (opts.length && !opts.includes(metric)) { metric = opts[0]; draw(); }
  });
  el.append(h("div", { class: "controls" },
    h("label", {}, "--by ", select(sec.by_options, by, v => { by = v; draw(); }, { id: "compare-by" })),
    h("label", {}, "--metric ", mfilter, msel)));
  if (sec.omitted_metrics) el.append(h("p", { class: "muted" }, `${sec.omitted_metrics} more metrics are not tabulated here (a large folder); run the command above with that --metric.`));
  el.append(out);
  draw();
};

// ---------- layout: header, tabs, routing ----------
const RENDERED = new Set();
function show(id) {
  const sections = DATA.sections;
  if (!sections.some(x => x.id === id)) id = sections.length ? sections[0].id : null;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.id === id);
  for (const sec of sections) {
    const el = document.getElementById("page-" + sec.id);
    el.hidden = sec.id !== id;
    if (sec.id === id && !RENDERED.has(id)) {
      RENDERED.add(id);
      try { (RENDER[sec.type] || RENDER.unknown)(el, sec); }
      catch (e) { el.append(errorBox(`Cannot draw the ${sec.title} page`, String(e), e.stack)); console.error(e); }
    }
  }
  hideTip();
}
RENDER.unknown = (el, sec) => el.append(h("p", { class: "muted" }, `no viewer for ${sec.type}`));
function init() {
  document.getElementById("title").textContent = DATA.title;
  const st = DATA.kind === "run" ? (DATA.sections.find(x => x.type === "overview") || {}).status : null;
  const badge = document.getElementById("status");
  if (st) { badge.textContent = st; badge.className = "badge " + st; } else badge.remove();
  if (SERVED && st === "running") {  // a run in progress: reload its (rebuilt) page now and then
    badge.title = "running: this page reloads every 15 s";
    setTimeout(() => location.reload(), 15000);
  }
  const back = SERVED && DATA.link_base !== undefined && DATA.link_base !== "" ? h("a", { href: "./" }, "← served folder") : null;
  document.getElementById("subtitle").append(`${DATA.kind} ${DATA.path} · report built ${DATA.generated} `, back || "");
  const main = document.getElementById("main");
  main.replaceChildren();
  const tabs = document.getElementById("tabs");
  for (const sec of DATA.sections) {
    tabs.append(h("a", { href: "#" + sec.id, "data-id": sec.id, role: "tab" }, sec.title));
    main.append(h("section", { id: "page-" + sec.id, "data-type": sec.type, hidden: true }));
  }
  window.addEventListener("hashchange", () => show(location.hash.slice(1).split("?")[0]));
  show(location.hash.slice(1).split("?")[0]);
  document.body.dataset.ready = "1";
}
document.addEventListener("DOMContentLoaded", init);
