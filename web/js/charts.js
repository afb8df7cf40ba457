// Small charts drawn as inline SVG (no library, no CDN): a line over time and grouped bars.

const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 220;
const PAD = { l: 44, r: 12, t: 12, b: 36 };
const COLORS = ['#4f7cff', '#ff8a3d', '#2bb673', '#b05cff', '#e5484d'];

function el(tag, attrs, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function frame(svg, label) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.append(el('title', {}, label));
}

function axis(svg, max) {
  const y0 = H - PAD.b;
  svg.append(el('line', { x1: PAD.l, y1: y0, x2: W - PAD.r, y2: y0, stroke: '#999' }));
  for (const f of [0, 0.5, 1]) {
    const y = y0 - f * (H - PAD.t - PAD.b);
    svg.append(el('text', { x: PAD.l - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#666' }, formatNum(max * f)));
    if (f > 0) svg.append(el('line', { x1: PAD.l, y1: y, x2: W - PAD.r, y2: y, stroke: '#eee' }));
  }
}

function formatNum(n) {
  return n >= 1000 ? (n / 1000).toFixed(1) + 'k' : String(Math.round(n * 100) / 100);
}

/** A line of `points` ([{t: Date|ms, v}]) over time. */
export function lineChart(svg, points, label) {
  frame(svg, label);
  svg.dataset.points = String(points.length);
  if (!points.length) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: '#666' }, 'No data yet'));
    return;
  }
  const ts = points.map((p) => +new Date(p.t));
  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts, t0 + 1);
  const max = Math.max(1, ...points.map((p) => p.v));
  axis(svg, max);
  const x = (t) => PAD.l + ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(+new Date(p.t)).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  svg.append(el('path', { d, fill: 'none', stroke: COLORS[0], 'stroke-width': 2, class: 'series' }));
  for (const p of points) {
    const dot = el('circle', { cx: x(+new Date(p.t)).toFixed(1), cy: y(p.v).toFixed(1), r: 2.5, fill: COLORS[0], class: 'point' });
    dot.append(el('title', {}, `${new Date(p.t).toLocaleTimeString()}: ${p.v}`));
    svg.append(dot);
  }
  const fmt = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  svg.append(el('text', { x: PAD.l, y: H - 12, 'font-size': 11, fill: '#666' }, fmt(t0)));
  svg.append(el('text', { x: W - PAD.r, y: H - 12, 'text-anchor': 'end', 'font-size': 11, fill: '#666' }, fmt(t1)));
}

/** Grouped bars: `groups` [{label, values: [number]}], `names` the series' names. */
export function barChart(svg, groups, names, label) {
  frame(svg, label);
  svg.dataset.bars = String(groups.length * names.length);
  if (!groups.length) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: '#666' }, 'No data yet'));
    return;
  }
  const max = Math.max(1, ...groups.flatMap((g) => g.values));
  axis(svg, max);
  const slot = (W - PAD.l - PAD.r) / groups.length;
  const bw = Math.max(2, (slot * 0.8) / names.length);
  groups.forEach((g, gi) => {
    g.values.forEach((v, si) => {
      const hgt = (v / max) * (H - PAD.t - PAD.b);
      const x = PAD.l + gi * slot + slot * 0.1 + si * bw;
      const rect = el('rect', { x: x.toFixed(1), y: (H - PAD.b - hgt).toFixed(1), width: (bw - 1).toFixed(1), height: hgt.toFixed(1), fill: COLORS[si % COLORS.length], class: 'bar' });
      rect.append(el('title', {}, `${g.label} · ${names[si]}: ${formatNum(v)}`));
      svg.append(rect);
    });
    svg.append(el('text', { x: PAD.l + gi * slot + slot / 2, y: H - 18, 'text-anchor': 'middle', 'font-size': 11, fill: '#444' }, g.label));
  });
  names.forEach((n, i) => {
    svg.append(el('rect', { x: PAD.l + i * 110, y: H - 12, width: 10, height: 10, fill: COLORS[i % COLORS.length] }));
    svg.append(el('text', { x: PAD.l + i * 110 + 14, y: H - 3, 'font-size': 11, fill: '#444' }, n));
  });
}
