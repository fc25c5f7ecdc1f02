// Family pages (neurons, localization, snapshots, alignment): RENDER[type] for their sections.
"use strict";

// ---------- sprites: many small images in one embedded PNG ----------
const SPRITES = new Map();  // src -> Promise of a canvas holding the decoded sprite
function spriteCanvas(src) {
  if (!SPRITES.has(src)) SPRITES.set(src, new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const c = document.createElement("canvas");
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      c.getContext("2d", { willReadFrequently: true }).drawImage(img, 0, 0);
      resolve(c);
    };
    img.onerror = () => reject(new Error("cannot decode an embedded image"));
    img.src = src;
  }));
  return SPRITES.get(src);
}
// signed8 (see embed.signed8): g = 128 + round(127 t); red for t > 0, blue for t < 0, white at 0; g = 0: no data
function signedColour(g) {
  if (g === 0) return [235, 235, 235];
  const t = (g - 128) / 127, c = t >= 0 ? [178, 24, 43] : [33, 102, 172], f = Math.abs(t);
  return [0, 1, 2].map(k => Math.round(255 + f * (c[k] - 255)));
}
// a canvas showing tile (r, c) of a sprite {src, encoding, h, w}, drawn `zoom` times larger (CSS)
function tile(sp, r, c, zoom, attrs) {
  const cv = h("canvas", Object.assign({ width: sp.w, height: sp.h, class: "tile",
    style: `width:${sp.w * (zoom || 2)}px;height:${sp.h * (zoom || 2)}px` }, attrs || {}));
  spriteCanvas(sp.src).then(full => {
    const data = full.getContext("2d", { willReadFrequently: true }).getImageData(c * sp.w, r * sp.h, sp.w, sp.h);
    if (sp.encoding === "signed8") {
      const px = data.data;
      for (let i = 0; i < px.length; i += 4) {
        const [R, G, B] = signedColour(px[i]);
        px[i] = R; px[i + 1] = G; px[i + 2] = B; px[i + 3] = 255;
      }
    }
    cv.getContext("2d").putImageData(data, 0, 0);
    cv.dataset.drawn = "1";
  });
  return cv;
}

// ---------- neurons ----------
const STAT_LABELS = {
  mean_act: "mean activation a", mean_grad: "mean gradient dℓ/da", mean_abs_grad: "mean |dℓ/da|",
  fire_rate: "fire rate (a > 0)", anomaly_score: "anomaly score", drop: "ablation: accuracy drop", acc_after: "ablation: accuracy after",
};
const IMAGE_LABELS = {
  grad_image: "gradient-weighted image Σ g·x / Σ|g|", act_image: "activation-weighted image Σ a·x / Σ|a|",
  grad_image_rectified: "gradient-weighted, where the unit fires", act_image_rectified: "activation-weighted, where the unit fires",
};
RENDER.neurons = (el, sec) => {
  const names = Object.keys(sec.layers);
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const state = { layer: names.includes(params.get("layer")) ? params.get("layer") : names[0], unit: +params.get("unit") || 0,
    careClass: 0, careStat: null, topClass: null };
  const controls = h("div", { class: "controls" });
  const body = h("div", {});
  el.append(controls, body);
  let L, heatmaps = [], unitPanel, careBox;

  function matrix(name) {  // [unit][class] of a statistic or an ablation matrix
    if (L.stats && L.stats[name]) return L.stats[name];
    if (L.ablation && L.ablation[name]) return L.ablation[name];
    return null;
  }
  function drawLayer() {
    L = sec.layers[state.layer];
    state.unit = Math.max(0, Math.min(L.units - 1, state.unit));
    const unitInput = h("input", { type: "number", id: "neuron-unit", min: 0, max: L.units - 1, value: state.unit, style: "width:5em" });
    unitInput.addEventListener("change", () => setUnit(+unitInput.value));
    controls.replaceChildren(
      h("label", {}, "layer ", select(names, state.layer, v => { state.layer = v; state.unit = 0; drawLayer(); }, { id: "neuron-layer" })),
      h("label", {}, "unit ", unitInput),
      h("button", { onclick: () => setUnit(state.unit - 1), title: "previous unit" }, "◀"),
      h("button", { onclick: () => setUnit(state.unit + 1), title: "next unit" }, "▶"),
      h("span", { class: "muted" }, `${L.units} units × ${L.classes} classes` + (L.steps ? ` · statistics over ${L.steps} training steps` : "") +
        (L.ablation ? ` · ablation: ${L.ablation.method} on the ${L.ablation.split} split` : "")));
    const statNames = [...Object.keys(L.stats || {}), ...(L.ablation ? ["drop"] : [])];
    state.careStat = statNames.includes(state.careStat) ? state.careStat :
      (statNames.includes("mean_abs_grad") ? "mean_abs_grad" : statNames[0]);
    careBox = h("div", { class: "card", style: "flex:1 1 380px" });
    const top = h("div", { class: "row" }, careBox, anomaliesCard());
    heatmaps = statNames.map(n => {
      const m = matrix(n);
      const t = m[0].map((_, c) => m.map(row => row[c]));  // classes (rows) x units (columns)
      return heatmap(t, { title: STAT_LABELS[n] || n, symmetric: n === "mean_grad" || n === "drop" || n === "mean_act",
        cellW: Math.max(2, Math.min(24, Math.floor(1100 / L.units))), cellH: 14,
        rowLabel: i => `class ${i}`, colLabel: j => `unit ${j}`, valueLabel: n, onclick: (i, j) => setUnit(j) });
    });
    unitPanel = h("div", { class: "card", id: "unit-panel" });
    body.replaceChildren(top, h("div", { class: "card" }, h("h2", {}, "Unit x class heat maps (click a unit)"), heatmaps), unitPanel);
    drawCare();
    drawUnit();
  }
  function setUnit(u) {
    if (!isNum(u)) return;
    state.unit = Math.max(0, Math.min(L.units - 1, Math.round(u)));
    document.getElementById("neuron-unit").value = state.unit;
    drawUnit();
  }
  function drawCare() {
    const statNames = [...Object.keys(L.stats || {}), ...(L.ablation ? ["drop"] : [])];
    const m = matrix(state.careStat);
    const rows = m.map((r, u) => ({ unit: u, value: r[state.careClass] })).filter(r => isNum(r.value));
    // mean_grad: most negative first (the class's loss falls when the unit rises: the class asks for it)
    rows.sort((a, b) => state.careStat === "mean_grad" ? a.value - b.value : b.value - a.value);
    careBox.replaceChildren(h("h2", {}, "Which units care about a class"),
      h("div", { class: "controls" },
        h("label", {}, "class ", select([...Array(L.classes).keys()], state.careClass, v => { state.careClass = +v; drawCare(); }, { id: "care-class" })),
        h("label", {}, "ranked by ", select(statNames.map(n => [n, STAT_LABELS[n] || n]), state.careStat, v => { state.careStat = v; drawCare(); }, { id: "care-stat" }))),
      h("div", { class: "scroll", style: "max-height:260px" }, table([{ key: "unit", num: true }, { key: "value", label: STAT_LABELS[state.careStat] || state.careStat, num: true }],
        rows.slice(0, 15), { attrs: { id: "care-table" }, rowAttrs: r => ({ style: "cursor:pointer", onclick: () => setUnit(r.unit), "data-unit": r.unit }) })));
  }
  function anomaliesCard() {
    if (!L.anomalies) return null;
    const hd = L.anomalies.header, iu = hd.indexOf("unit"), ic = hd.indexOf("class");
    const show = ["unit", "class", "score", "mean_grad", "mean_act", "fire_rate"].filter(c => hd.includes(c));
    const rows = L.anomalies.rows.map(r => Object.fromEntries(show.map(c => [c, isNaN(+r[hd.indexOf(c)]) ? r[hd.indexOf(c)] : +r[hd.indexOf(c)]])));
    return h("div", { class: "card", style: "flex:1 1 380px" }, h("h2", {}, "Anomalies: a class leans on a unit that does not fire for it"),
      h("div", { class: "scroll", style: "max-height:300px" }, table(show.map(c => ({ key: c, num: c !== "class" && c !== "unit" })), rows,
        { attrs: { id: "anomaly-table" }, rowAttrs: r => ({ style: "cursor:pointer", onclick: () => { state.topClass = r.class; setUnit(r.unit); } }) })));
  }
  function drawUnit() {
    const u = state.unit, C = L.classes;
    for (const hm of heatmaps) hm.mark(null, u);
    history.replaceState(null, "", `#neurons?layer=${encodeURIComponent(state.layer)}&unit=${u}`);
    unitPanel.dataset.unit = u;
    unitPanel.dataset.layer = state.layer;
    const classes = [...Array(C).keys()];
    // the unit's class row of every statistic
    const statRows = [...Object.keys(L.stats || {}).map(n => [n, L.stats[n][u]]),
      ...(L.ablation ? [["drop", L.ablation.drop[u]], ["acc_after", L.ablation.acc_after[u]]] : [])];
    const rowTable = h("table", { id: "unit-class-row" },
      h("thead", {}, h("tr", {}, h("th", {}, "statistic"), classes.map(c => h("th", { class: "num" }, `class ${c}`)))),
      h("tbody", {}, statRows.map(([n, vals]) => h("tr", { "data-stat": n }, h("td", {}, STAT_LABELS[n] || n),
        vals.map((v, c) => h("td", { class: "num", "data-stat": n, "data-class": c }, fmt(v)))))),
      L.ablation ? h("tfoot", {}, h("tr", { "data-stat": "acc_before" }, h("td", { class: "muted" }, "accuracy before ablation"),
        L.ablation.acc_before.map((v, c) => h("td", { class: "num muted", "data-stat": "acc_before", "data-class": c }, fmt(v))))) : null);
    const parts = [h("h2", {}, `${state.layer} · unit ${u}`), h("div", { class: "scroll", style: "max-height:none" }, rowTable)];
    if (L.knockout) {
      const ko = L.knockout, pos = (ko.units || []).indexOf(u);
      parts.push(h("p", { id: "knockout-note", class: pos >= 0 ? "" : "muted" }, pos >= 0 ?
        `In the knockout set for class ${ko.target_class} (added ${pos + 1}. of ${ko.units.length}; ${ko.met ? "goal met" : "goal NOT met"}): ${ko.message}` :
        `Not in the knockout set for class ${ko.target_class} (units ${ko.units.join(", ")}; ${ko.met ? "goal met" : "goal NOT met"}).`));
    }
    // images: one row per kind, one tile per class
    const kinds = Object.keys(L.images || {});
    if (kinds.length) parts.push(h("h3", {}, "Class-mean images weighted by this unit (red > 0, blue < 0; each tile scaled to its own max |value|)"),
      h("table", { id: "unit-images" }, h("tbody", {}, kinds.map(k => h("tr", { "data-kind": k }, h("td", { class: "muted" }, IMAGE_LABELS[k] || k),
        classes.map(c => h("td", {}, tile(L.images[k], u, c, 2, { "data-kind": k, "data-class": c, title: `${k}, class ${c}` }))))))));
    // top examples of one class
    if (L.topk && Object.keys(L.topk).length) {
      if (state.topClass === null || state.topClass >= C) {
        const s = L.stats && L.stats.mean_abs_grad ? L.stats.mean_abs_grad[u] : null;
        state.topClass = s ? s.reduce((b, v, i) => (isNum(v) && (!isNum(s[b]) || v > s[b]) ? i : b), 0) : 0;
      }
      const topBox = h("div", { id: "top-examples" });
      const drawTop = () => {
        const c = state.topClass;
        topBox.replaceChildren(...Object.entries(L.topk).map(([kind, tk]) => {
          const idx = tk.index[u][c], val = tk.value[u][c];
          const items = idx.map((i, k) => [i, val[k]]).filter(([i]) => i >= 0);
          return h("div", { "data-kind": kind }, h("h3", {}, kind === "grad" ? `largest |dℓ/da| (class ${c})` : `largest activation (class ${c})`),
            items.length ? items.map(([i, v]) => exampleFigure(i, v)) : h("span", { class: "muted" }, "none recorded"));
        }));
      };
      parts.push(h("h3", {}, "Top training examples"),
        h("div", { class: "controls" }, h("label", {}, "class ", select(classes, state.topClass, v => { state.topClass = +v; drawTop(); }, { id: "topk-class" })),
          sec.examples_note ? h("span", { class: "muted" }, sec.examples_note) : null),
        topBox);
      drawTop();
    }
    unitPanel.replaceChildren(...parts.filter(Boolean));
  }
  function exampleFigure(index, value) {
    const ex = sec.examples;
    const pos = ex ? ex.index.indexOf(index) : -1;
    const pic = pos >= 0 ? tile(ex, Math.floor(pos / ex.cols), pos % ex.cols, 2, { "data-index": index })
      : h("div", { class: "tile missing", "data-index": index, style: "width:56px;height:56px;background:#eee" });
    return h("figure", { class: "figure example", "data-index": index }, pic, h("figcaption", {}, `#${index} · ${fmt(value, 3)}`));
  }
  drawLayer();
};

// ---------- snapshots ----------
RENDER.snapshots = (el, sec) => {
  const snaps = Object.fromEntries(sec.snapshots.map(s => [s.i, s]));
  const kept = sec.kept;
  const ch = sec.changes;
  const col = ch ? Object.fromEntries(ch.header.map((h, i) => [h, i])) : {};
  const measures = ch ? ch.header.filter(h => !["i", "epoch", "step", "layer"].includes(h)) : [];
  const changeLayers = ch ? [...new Set(ch.rows.map(r => r[col.layer]))] : [];
  let pos = kept.length - 1, xkey = "epoch", timer = null, zoom = false, view = "weights";
  const VIEW_NAMES = { weights: "W_t", from_init: "W_t − W_0", from_prev: "W_t − W_(t−1)" };
  const info = sec.views_info || {};
  const label = h("span", { id: "snapshot-label" });
  const slider = h("input", { type: "range", id: "snapshot-slider", min: 0, max: Math.max(0, kept.length - 1), value: pos, style: "width:320px" });
  const play = h("button", { id: "snapshot-play" }, "▶ play");
  const filters = h("div", { class: "row", id: "snapshot-filters" });
  const values = h("div", { id: "snapshot-values" });
  const charts = h("div", { class: "grid", id: "snapshot-charts" });
  slider.addEventListener("input", () => { pos = +slider.value; draw(); });
  play.addEventListener("click", () => {
    if (timer) { clearInterval(timer); timer = null; play.textContent = "▶ play"; return; }
    play.textContent = "■ stop";
    timer = setInterval(() => { pos = (pos + 1) % kept.length; slider.value = pos; draw(); }, 600);
  });
  el.append(h("div", { class: "controls" }, "snapshot ", slider, play, label,
    h("label", {}, "x axis ", select(["epoch", "step"], xkey, v => { xkey = v; draw(); }, { id: "snapshot-x" })),
    Object.keys(sec.change_frames || {}).length ? h("label", { title: "weights W_t; change from initialisation W_t − W_0; change from the previous snapshot W_t − W_(t−1)" },
      "pictures ", select(Object.entries(VIEW_NAMES), view, v => { view = v; draw(); }, { id: "snapshot-view" })) : null));
  if (kept.length < sec.snapshots.length)
    el.append(h("p", { class: "muted" }, `${sec.snapshots.length} snapshots; the slider shows ${kept.length} of them, evenly spaced.`));
  // one filter over the snapshots (conv layers, from the stored weights)
  const views = sec.filter_views || {};
  const viewLayers = Object.keys(views);
  let fLayer = viewLayers[0], fIndex = 0;
  const filterCard = h("div", { class: "card", id: "filter-card" });
  // (DOM append writes a null as the text "null": leave the absent parts out)
  el.append(...[filters, viewLayers.length ? filterCard : null,
    sec.filter_views_error ? errorBox("Cannot show single filters", sec.filter_views_error) : null,
    h("div", { class: "card" }, h("h2", {}, "Weight change at this snapshot"), values), charts].filter(Boolean));
  const layerInfo = Object.entries(sec.layers).map(([n, ps]) => `${n}: ` + Object.entries(ps).map(([p, s]) => `${p} ${s.join("×")}`).join(", "));
  el.append(h("details", { class: "card" }, h("summary", {}, `Layers (${Object.keys(sec.layers).length}), stored as ${sec.dtype}`),
    h("ul", {}, layerInfo.map(t => h("li", {}, t))),
    Object.keys(sec.freeze).length ? facts(Object.entries(sec.freeze).map(([k, v]) => [k, fmt(v)])) : null));
  function drawFilter() {
    if (!viewLayers.length) return;
    const v = views[fLayer], sp = v.sprite, F = v.shape[0];
    fIndex = Math.max(0, Math.min(F - 1, fIndex));
    const dist = v.rel_dist_init[fIndex];
    const input = h("input", { type: "number", id: "filter-index", min: 0, max: F - 1, value: fIndex, style: "width:5em" });
    input.addEventListener("change", () => { fIndex = +input.value; drawFilter(); });
    const ranked = v.rel_dist_init.map((d, f) => ({ filter: f, change: d[pos] })).filter(r => isNum(r.change)).sort((a, b) => b.change - a.change).slice(0, 8);
    const zoom = Math.max(2, Math.floor(160 / sp.w));
    filterCard.dataset.layer = fLayer; filterCard.dataset.filter = fIndex; filterCard.dataset.snapshot = kept[pos];
    filterCard.replaceChildren(h("h2", {}, "One filter over training"),
      h("div", { class: "controls" },
        h("label", {}, "layer ", select(viewLayers, fLayer, val => { fLayer = val; fIndex = 0; drawFilter(); }, { id: "filter-layer" })),
        h("label", {}, "filter ", input),
        h("span", { class: "muted", id: "filter-scale" }, `${v.shape.join("×")}; input channels side by side; red > 0, blue < 0; the ranges of the layer's pictures: W ±${fmt(v.scale)}, W − W₀ ±${fmt(v.change_scale)}`)),
      h("div", { class: "row" },
        h("figure", { class: "figure" }, tile(sp, 0, fIndex, zoom, { id: "filter-init" }), h("figcaption", {}, `at #${kept[0]} (initialisation)`)),
        h("figure", { class: "figure" }, tile(sp, pos, fIndex, zoom, { id: "filter-now" }), h("figcaption", {}, `at #${kept[pos]}`)),
        v.change_sprite ? h("figure", { class: "figure" }, tile(v.change_sprite, pos, fIndex, zoom, { id: "filter-moved" }), h("figcaption", {}, `W − W₀ at #${kept[pos]}`)) : null,
        h("div", {}, h("p", { id: "filter-change" }, `‖W − W₀‖ / ‖W₀‖ = ${fmt(dist[pos])}`),
          lineChart([{ name: `${fLayer}[${fIndex}]`, x: kept.map(i => snaps[i][xkey]), y: dist }], { width: 360, height: 180, xlabel: xkey, marker: (snaps[kept[pos]] || {})[xkey] })),
        h("div", {}, h("h3", {}, "changed most by this snapshot"), table([{ key: "filter", num: true }, { key: "change", label: "‖W − W₀‖ / ‖W₀‖", num: true }], ranked,
          { attrs: { id: "filter-ranking" }, rowAttrs: r => ({ style: "cursor:pointer", onclick: () => { fIndex = r.filter; drawFilter(); } }) }))),
      h("div", { class: "muted" }, "all embedded snapshots:"),
      h("div", { id: "filter-strip" }, kept.map((i, k) => {
        const z = Math.max(1, Math.floor(60 / sp.w));
        return tile(sp, k, fIndex, z, { title: `#${i}`, style: `margin:2px;${k === pos ? "outline:2px solid #e33;" : ""}width:${sp.w * z}px;height:${sp.h * z}px` });
      })));
  }
  function draw() {
    const i = kept[pos], s = snaps[i] || {};
    drawFilter();
    label.textContent = `#${i} · epoch ${fmt(s.epoch, 2)} · step ${s.step} · ${s.tag}`;
    el.dataset.snapshot = i;
    filters.replaceChildren(...Object.entries(sec.filters).map(([layer, weightFrames]) => {
      const frames = view === "weights" ? weightFrames : ((sec.change_frames || {})[layer] || {})[view] || {};
      const caption = ((((info[layer] || {}).views || {})[view] || {}).caption || {})[i];
      return h("div", { class: "card" }, h("h3", {}, `${layer}: ${VIEW_NAMES[view]}`), frames[i] ? h("img", { src: frames[i], class: "filter-grid", "data-layer": layer,
        "data-view": view, "data-snapshot": i, title: "click to zoom", style: `max-width:${zoom ? "none" : "560px"};image-rendering:pixelated;cursor:zoom-in`,
        onclick: () => { zoom = !zoom; draw(); } }) : h("p", { class: "muted" }, "no image for this snapshot"),
        caption ? h("p", { class: "muted filter-caption", "data-layer": layer }, caption) : null);
    }));
    if (ch) {
      const rows = ch.rows.filter(r => r[col.i] === i);
      values.replaceChildren(table([{ key: "layer" }, ...measures.map(m => ({ key: m, num: true }))],
        rows.map(r => Object.fromEntries(ch.header.map((h, k) => [h, r[k]]))), { attrs: { id: "snapshot-table" } }));
      charts.replaceChildren(...measures.map(m => h("div", { class: "card", "data-measure": m }, lineChart(changeLayers.map(L => {
        const rs = ch.rows.filter(r => r[col.layer] === L);
        return { name: L, x: rs.map(r => r[col[xkey]]), y: rs.map(r => r[col[m]]) };
      }), { title: m, xlabel: xkey, marker: s[xkey] }))));
    } else values.replaceChildren(h("p", { class: "muted" }, "no snapshots/changes.csv in this run"));
  }
  draw();
};

// ---------- alignment ----------
RENDER.alignment = (el, sec) => {
  const t = sec.iia, col = Object.fromEntries(t.header.map((h, i) => [h, i]));
  const rows = t.rows.map(r => Object.fromEntries(t.header.map((h, i) => [h, r[i]])));
  const variables = [...new Set(rows.map(r => r.variable))];
  const measures = ["iia_all", "iia_changed", "train_iia"].filter(m => m in col);
  const layers = [...new Set(rows.map(r => r.layer))].sort((a, b) => String(a).localeCompare(String(b), undefined, { numeric: true }));
  let variable = variables[0], measure = measures[0];
  const out = h("div", {});
  el.append(h("div", { class: "controls" },
    h("label", {}, "variable ", select(variables, variable, v => { variable = v; draw(); }, { id: "align-variable" })),
    h("label", {}, "measure ", select(measures, measure, v => { measure = v; draw(); }, { id: "align-measure" })),
    sec.network_test_acc !== null ? h("span", { class: "muted" }, `network test accuracy ${fmt(sec.network_test_acc)}`) : null),
    h("p", { class: "muted" }, "iia_all: all held-out pairs (a no-op scores about 0.5); iia_changed: pairs whose high-level label the intervention changes (a no-op scores 0)."),
    out);
  function draw() {
    const sel = rows.filter(r => r.variable === variable);
    const methods = [...new Set(sel.map(r => r.method))];
    out.replaceChildren(
      h("div", { class: "grid", id: "align-charts" }, layers.map(L => {
        const series = methods.map(m => {
          const rs = sel.filter(r => r.layer === L && r.method === m).sort((a, b) => a.size - b.size);
          return { name: m, x: rs.map(r => r.size), y: rs.map(r => r[measure]) };
        }).filter(s => s.x.length);
        return h("div", { class: "card", "data-layer": L }, series.length ? lineChart(series, { title: `layer ${L}: ${measure} (${variable})`, xlabel: "subspace size", ylabel: measure })
          : h("p", { class: "muted" }, `layer ${L}: no rows`));
      })),
      h("div", { class: "card" }, h("h2", {}, `Rows of alignment/iia.csv for ${variable}`),
        h("div", { class: "scroll" }, table(t.header.map(c => ({ key: c, num: !["layer", "variable", "method", "neurons", "search"].includes(c) })), sel, { attrs: { id: "align-table" } }))));
  }
  draw();
  if (sec.restarts) {
    const rt = sec.restarts;
    el.append(h("details", { class: "card" }, h("summary", {}, `Restarts (${rt.rows.length})`),
      h("div", { class: "scroll" }, table(rt.header.map(c => ({ key: c })), rt.rows.map(r => Object.fromEntries(rt.header.map((c, i) => [c, r[i]])))))));
  }
};

// ---------- localization ----------
function unravel(flat, shape) {
  const idx = [];
  for (let k = shape.length - 1; k >= 0; k--) { idx.unshift(flat % shape[k]); flat = Math.floor(flat / shape[k]); }
  return idx;
}
RENDER.localization = (el, sec) => {
  const names = Object.keys(sec.tensors);
  const corr = sec.correlations;
  const corrRow = name => {
    if (!corr) return null;
    const i = corr.header.indexOf("param"), row = corr.rows.find(r => r[i] === name);
    return row ? Object.fromEntries(corr.header.map((h, k) => [h, isNaN(+row[k]) || row[k] === "" ? row[k] : +row[k]])) : null;
  };
  let name = names.includes("fc1.weight") ? "fc1.weight" : names[0];
  let pixel = null;  // a pixel chosen on the pixel map: its fc1 weights are highlighted in the scatter
  const body = h("div", {});
  let tensorSelect = select(names.map(n => [n, `${n} (${sec.tensors[n].shape.join("×") || "scalar"})`]), name, v => { name = v; draw(); }, { id: "loc-tensor" });
  if (names.length) el.append(h("div", { class: "controls" },
    h("label", {}, "tensor ", tensorSelect),
    h("span", { class: "muted" }, "r = A / (A + B): share of the tensor's update size from group A (tallies); d = D_A / (D_A + D_B): share of the fork difference")));
  el.append(body);
  function draw() {
    const t = sec.tensors[name];
    const label = i => {
      const flat = t.flat_index ? t.flat_index[i] : i;
      return `${name}[${unravel(flat, t.shape).join(", ")}]\nr = ${fmt(t.r[i])}\nd = ${fmt(t.d[i])}`;
    };
    // the weights leaving the chosen pixel: fc1.weight[:, pixel] (flat index u * inputs + pixel)
    let highlight = [], note = null;
    if (pixel !== null && name === "fc1.weight" && t.shape.length === 2 && !t.flat_index) {
      const [U, D] = t.shape;
      highlight = [...Array(U).keys()].map(u => u * D + pixel);
      const side = sec.pixel_map ? sec.pixel_map[0].length : D;
      note = h("p", { id: "loc-pixel-note" }, h("i", { style: "display:inline-block;width:10px;height:10px;background:#e8590c;margin-right:6px" }),
        `pixel ${pixel} (row ${Math.floor(pixel / side)}, col ${pixel % side}): the ${U} weights fc1.weight[:, ${pixel}]` +
        (sec.pixel_map ? `; Pearson r vs d over them = ${fmt(sec.pixel_map[Math.floor(pixel / side)][pixel % side])}` : ""));
    }
    const st = corrRow(name);
    const stats = st ? facts(Object.entries(st).filter(([k]) => k !== "param").map(([k, v]) => [k, fmt(v)])) : h("p", { class: "muted" }, "no correlations.csv row");
    body.replaceChildren(h("div", { class: "row" },
      h("div", { class: "card", id: "loc-scatter", "data-tensor": name },
        h("h2", {}, `${name}: r vs d (${t.n} parameters)`),
        t.flat_index ? h("p", { class: "muted" }, `showing ${t.r.length} of ${t.n} parameters, evenly spaced`) : null,
        t.n_finite !== undefined && t.n_finite < t.n ? h("p", { class: "muted", id: "loc-excluded" },
          `statistics over n = ${t.n_finite}: ${t.n - t.n_finite} parameters excluded, their r or d is NaN ` +
          "(r = 0/0 where no update touched the parameter, d = 0/0 where the forks did not move it)") : null,
        note, scatter(t.r, t.d, { xlabel: "r (update tally share)", ylabel: "d (fork difference share)", xrange: [0, 1], yrange: [0, 1], label, diagonal: true, highlight })),
      h("div", { class: "card", style: "flex:1 1 300px" }, h("h2", {}, "Statistics of r vs d"), h("div", { id: "loc-stats" }, stats)),
      h("div", { class: "card", style: "flex:1 1 320px" }, h("h2", {}, "Where r and d disagree most"),
        h("div", { class: "scroll", style: "max-height:380px" }, table([
          { key: "index", label: "parameter", fmt: v => `${name}[${v.join(", ")}]` }, { key: "r", num: true }, { key: "d", num: true },
          { key: "gap", label: "|r − d|", num: true, get: r => Math.abs(r.r - r.d) }], t.disagree, { attrs: { id: "loc-disagree" } })))));
  }
  if (names.length) draw();
  if (sec.pixel_map) {
    const pm = sec.pixel_map, W = pm[0].length;
    el.append(h("div", { class: "card", id: "loc-pixel-map" }, h("h2", {}, "Pixel map: per input pixel, Pearson r vs d over the hidden units (fc1.weight[:, pixel])"),
      h("p", { class: "muted" }, "click a pixel to mark its weights in the scatter"),
      heatmap(pm, { symmetric: true, cell: Math.max(6, Math.floor(336 / W)), rowLabel: i => `pixel row ${i}`, colLabel: j => `col ${j}`, valueLabel: "Pearson",
        onclick: (i, j) => {
          pixel = i * W + j;
          if (names.includes("fc1.weight") && name !== "fc1.weight") { name = "fc1.weight"; tensorSelect.value = name; }
          draw();
          document.getElementById("loc-scatter").scrollIntoView({ block: "nearest" });
        } })));
  }
  if (corr) el.append(h("details", { class: "card" }, h("summary", {}, `correlations.csv (${corr.rows.length} tensors)`),
    h("div", { class: "scroll" }, table(corr.header.map(c => ({ key: c, num: c !== "param" })),
      corr.rows.map(r => Object.fromEntries(corr.header.map((c, i) => [c, c === "param" || isNaN(+r[i]) || r[i] === "" ? r[i] : +r[i]])))))));
  if (sec.models) el.append(h("div", { class: "card" }, h("h2", {}, `Models of this stacked run (${sec.models.rows.length})`),
    h("div", { class: "scroll" }, table(sec.models.header.map(c => ({ key: c, num: !["activation", "status"].includes(c) })),
      sec.models.rows.map(r => Object.fromEntries(sec.models.header.map((c, i) => [c, ["activation", "status"].includes(c) || isNaN(+r[i]) || r[i] === "" ? r[i] : +r[i]])))))));
};

// ---------- locate ----------
RENDER.locate = (el, sec) => {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const state = { cls: sec.classes.includes(+params.get("class")) && params.get("class") !== null ? +params.get("class") : sec.classes[0],
    method: sec.methods.includes(params.get("method")) ? params.get("method") : (sec.summary.best_method || sec.methods[0]) };
  const controls = h("div", { class: "controls" });
  const body = h("div", {});
  el.append(h("p", { id: "locate-message" }, `Layer ${sec.layer}: ${sec.summary.message}`), controls, body);
  const area = (m, c) => { const r = sec.causal.find(r => r.method === m && r.class === c); return r || {}; };
  function draw() {
    history.replaceState(null, "", `#locate?class=${state.cls}&method=${encodeURIComponent(state.method)}`);
    controls.replaceChildren(
      h("label", {}, "class ", select(sec.classes, state.cls, v => { state.cls = +v; draw(); }, { id: "locate-class" })),
      h("label", {}, "method ", select(sec.methods, state.method, v => { state.method = v; draw(); }, { id: "locate-method" })));
    const sc = sec.scores[state.method], drop = sec.scores.ablation;
    const rows = sc.map((r, u) => ({ unit: u, score: r[state.cls], drop: drop ? drop[u][state.cls] : null }))
      .filter(r => isNum(r.score)).sort((a, b) => b.score - a.score || a.unit - b.unit).slice(0, 20)
      .map((r, i) => Object.assign(r, { rank: i + 1 }));
    const cols = [{ key: "rank", num: true }, { key: "unit", num: true }, { key: "score", label: `${state.method} score`, num: true },
      { key: "drop", label: "ablation drop (class)", num: true }];
    const top = h("div", { class: "card", style: "flex:1 1 420px" }, h("h2", {}, `Top units of class ${state.cls} by ${state.method}`),
      h("div", { class: "scroll", style: "max-height:420px" }, table(cols, rows, { attrs: { id: "locate-top" }, rowAttrs: r => ({ "data-unit": r.unit }) })),
      sec.images ? h("div", { id: "locate-images" }, h("h3", {}, "activation-weighted image of the class, per unit (red > 0, blue < 0)"),
        rows.slice(0, 12).map(r => h("figure", { class: "figure" }, tile(sec.images, r.unit, state.cls, 2, { "data-unit": r.unit }),
          h("figcaption", {}, `#${r.rank} · unit ${r.unit}`)))) : null);
    const series = (key) => sec.methods.filter(m => sec.curves[m] && sec.curves[m][state.cls])
      .map(m => ({ name: m, x: sec.curves[m][state.cls].k, y: sec.curves[m][state.cls][key],
        color: m === "random" ? "#bbb" : (m === "ablation" ? "#333" : PALETTE[sec.methods.indexOf(m) % PALETTE.length]) }));
    const a = area(state.method, state.cls);
    const curve = h("div", { class: "card", style: "flex:1 1 420px", id: "locate-curve" },
      h("h2", {}, `Causal curve: ablate the top-k units (class ${state.cls})`),
      h("p", {}, `${state.method}: area under selectivity ${fmt(a.area)}; knockout ` +
        (a.knockout_k ? `met at k = ${a.knockout_k}` : "not met up to K")),
      lineChart(series("selectivity"), { xlabel: "k", ylabel: "selectivity", title: "selectivity = drop on the class − mean drop on the others" }),
      lineChart(series("acc_target"), { xlabel: "k", ylabel: "accuracy", title: "accuracy on the class" }));
    const keys = Object.keys(sec.agreement);
    const agree = h("div", { class: "card" }, h("h2", {}, "Agreement between methods (mean over classes)"),
      h("div", { class: "row" }, keys.map(k => heatmap(sec.agreement[k], { title: k, symmetric: k === "spearman", cellW: 40, cellH: 18,
        rowLabel: i => sec.methods[i], colLabel: j => sec.methods[j], valueLabel: k }))));
    const methodsTable = h("div", { class: "card" }, h("h2", {}, "Methods"), table(
      [{ key: "method" }, { key: "area", label: "area under selectivity", num: true }, { key: "knockout_met", label: "classes knocked out", num: true },
        { key: "top1_hit", label: "top unit = largest single drop", num: true },
        { key: "spearman_vs_ablation", label: "Spearman vs ablation", num: true }],
      sec.methods.map(m => Object.assign({ method: m }, sec.summary.methods[m])), { attrs: { id: "locate-methods" } }));
    body.replaceChildren(h("div", { class: "row" }, top, curve), methodsTable, agree);
  }
  draw();
};
