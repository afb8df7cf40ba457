// The operator dashboard (artists see their own numbers): a showcase's figures and viewers over
// time, views and watch minutes per showcase, and artists and retention by quarter, drawn from
// the report routes as inline SVG.
import { api, accessToken, requireLogin } from '../api.js';
import { $, h, header, showError } from '../ui.js';
import { lineChart, barChart } from '../charts.js';

const me = requireLogin();
header();
if (me.user.role === 'fan') {
  document.getElementById('main').replaceChildren(h('p', {}, 'Reports are for operators and artists.'));
  throw new Error('not for fans');
}

/** Download a CSV report (it needs the bearer token, so no plain link). */
async function download(path, name) {
  const res = await fetch(path, { headers: { Authorization: 'Bearer ' + await accessToken() } });
  if (!res.ok) return showError(new Error('HTTP ' + res.status), 'Cannot export');
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const FIGURES = [['views', 'Views'], ['unique_viewers', 'Unique viewers'], ['peak_concurrent', 'Peak concurrent'],
  ['watch_minutes', 'Watch minutes'], ['avg_watch_minutes', 'Minutes per view'], ['chat_messages', 'Chat messages'],
  ['tips', 'Tips'], ['votes', 'Votes'], ['questions', 'Questions']];

async function showOne(id) {
  try {
    const r = await api('GET', `/v1/reports/showcases/${id}`);
    $('figures').replaceChildren(...FIGURES.map(([k, label]) => h('div', {}, h('dt', {}, label), h('dd', { dataset: { key: k } }, String(r.numbers[k])))));
    lineChart($('chart-viewers'), r.numbers.series.map((p) => ({ t: p.at, v: p.viewers })), 'Viewers over time');
    $('csv').onclick = (ev) => { ev.preventDefault(); download(`/v1/reports/showcases/${id}?format=csv`, `showcase-${id}.csv`); };
  } catch (e) {
    showError(e, 'Cannot load the report');
  }
}

function quarters(n) {
  const now = new Date();
  let y = now.getUTCFullYear();
  let q = Math.floor(now.getUTCMonth() / 3);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.unshift({ label: `Q${q + 1} ${y}`, from: new Date(Date.UTC(y, q * 3, 1)), to: new Date(Date.UTC(y, q * 3 + 3, 1)) });
    q -= 1;
    if (q < 0) { q = 3; y -= 1; }
  }
  return out;
}

async function load() {
  // The schedule's window is at most 366 days: the last 11 months and the next one.
  const from = new Date(Date.now() - 330 * 86400_000).toISOString();
  const to = new Date(Date.now() + 30 * 86400_000).toISOString();
  const list = await api('GET', `/v1/showcases?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=500`);
  const mineOrAll = list.showcases.filter((s) => s.started_at && (me.user.role === 'operator' || s.artists.some((a) => a.id === me.user.user_id)));
  $('pick').replaceChildren(...mineOrAll.map((s) => h('option', { value: s.id }, `${s.title} · ${new Date(s.started_at).toLocaleDateString()}`)));
  $('pick').onchange = () => showOne($('pick').value);
  if (mineOrAll.length) await showOne(mineOrAll[mineOrAll.length - 1].id);
  else lineChart($('chart-viewers'), [], 'Viewers over time');
  $('pick').value = mineOrAll.length ? mineOrAll[mineOrAll.length - 1].id : '';

  const recent = mineOrAll.slice(-12);
  const reports = await Promise.all(recent.map((s) => api('GET', `/v1/reports/showcases/${s.id}`).catch(() => null)));
  barChart($('chart-views'),
    recent.map((s, i) => ({ label: s.title.slice(0, 12), values: reports[i] ? [reports[i].numbers.views, reports[i].numbers.watch_minutes] : [0, 0] })),
    ['views', 'watch minutes'], 'Views and watch minutes per showcase');

  const qs = quarters(4);
  const byQuarter = await Promise.all(qs.map((q) => api('GET', `/v1/reports/artists?from=${q.from.toISOString()}&to=${q.to.toISOString()}`).catch(() => null)));
  barChart($('chart-retention'),
    qs.map((q, i) => {
      const s = byQuarter[i] ? byQuarter[i].summary : null;
      return { label: q.label, values: s ? [s.artists, s.new_artists, s.retained_30, s.retained_90] : [0, 0, 0, 0] };
    }),
    ['artists', 'new artists', 'retained 30 d', 'retained 90 d'], 'Artists and retention by quarter');
  const last = qs[qs.length - 1];
  $('artists-csv').onclick = (ev) => {
    ev.preventDefault();
    download(`/v1/reports/artists?from=${last.from.toISOString()}&to=${last.to.toISOString()}&format=csv`, 'artists.csv');
  };
  document.body.dataset.ready = 'true';
}

load().catch((e) => showError(e, 'Cannot load the dashboard'));
