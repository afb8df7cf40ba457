// Page furniture shared by every page: the header (navigation, who is signed in, connection
// state), announcements, money, confirmation dialogs and small DOM helpers.
import { describe, logout, session } from './api.js';

export const $ = (id) => document.getElementById(id);

/** Create an element: h('li', {className: 'x', onclick}, 'text', child, ...). */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on') || k === 'className' || typeof v === 'boolean') node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const NAV = {
  fan: [['/fan.html', 'Live now'], ['/schedule.html', 'Showcases'], ['/wallet.html', 'Wallet'], ['/account.html', 'Account']],
  creator: [['/creator.html', 'Studio'], ['/schedule.html', 'Showcases'], ['/dashboard.html', 'Numbers'], ['/earnings.html', 'Earnings'], ['/safety.html', 'Safety'], ['/account.html', 'Account']],
  operator: [['/dashboard.html', 'Dashboard'], ['/schedule.html', 'Showcases'], ['/admin.html', 'Reports & audit'], ['/account.html', 'Account']],
};

/** Fill the header: navigation for the role, the handle, log out. */
export function header() {
  const s = session();
  const nav = $('nav');
  if (nav && s && s.user) {
    nav.replaceChildren(...(NAV[s.user.role] || []).map(([href, label]) => {
      const a = h('a', { href }, label);
      if (location.pathname === href) a.setAttribute('aria-current', 'page');
      return a;
    }));
  }
  if ($('whoami') && s && s.user) $('whoami').textContent = s.user.handle;
  if ($('logout')) $('logout').onclick = logout;
  if (s && s.user && s.user.email_verified === false && location.pathname !== '/account.html' && $('notices')) {
    notify('Verify your email address to go live, top up, tip or request a private session: see the link we sent.',
      'warn', { key: 'verify-email', actions: [h('a', { href: '/account.html', className: 'button' }, 'Account')] });
  }
}

const STATE_TEXT = {
  idle: 'not connected',
  connecting: 'connecting…',
  open: 'connected',
  reconnecting: 'reconnecting…',
  offline: 'offline: waiting for the network',
  closed: 'disconnected',
};

/** Show the signaling connection's state in the header badge. */
export function showConnection(state, detail) {
  const c = $('conn');
  if (!c) return;
  let text = STATE_TEXT[state] || state;
  if (state === 'reconnecting' && typeof detail === 'number' && detail > 0) text = `reconnecting in ${detail} s…`;
  if (state === 'closed' && typeof detail === 'string') text = 'disconnected: ' + detail;
  c.textContent = text;
  c.dataset.state = state;
}

/** A line in the page's status area (polite live region). */
export function status(text, id = 'status') {
  const s = $(id);
  if (s) s.textContent = text;
}

/** Announce something: `kind` is info, warn or error; errors are read out at once. */
export function notify(text, kind = 'info', opts = {}) {
  const box = $('notices');
  if (!box) return null;
  const item = h('div', { className: 'notice ' + kind, role: kind === 'info' ? 'status' : 'alert', dataset: { kind, key: opts.key || '' } },
    h('span', {}, text));
  if (opts.actions) item.append(...opts.actions);
  const close = h('button', { type: 'button', className: 'link', 'aria-label': 'dismiss' }, '×');
  close.onclick = () => item.remove();
  item.append(close);
  if (opts.key) for (const old of box.querySelectorAll(`[data-key="${opts.key}"]`)) old.remove();
  box.append(item);
  if (opts.ttl) setTimeout(() => item.remove(), opts.ttl);
  return item;
}

export function showError(err, prefix) {
  return notify((prefix ? prefix + ': ' : '') + describe(err), 'error', { ttl: 15000 });
}

/** Minor units to a readable amount in `currency` (usd 150 → $1.50). */
export function money(amount, currency = 'usd') {
  try {
    const f = new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() });
    return f.format(amount / 10 ** f.resolvedOptions().maximumFractionDigits);
  } catch (_) {
    return amount + ' ' + currency;
  }
}

/** m:ss (or h:mm:ss) from seconds. */
export function clock(secs) {
  secs = Math.max(0, Math.floor(secs));
  const hh = Math.floor(secs / 3600);
  const mm = Math.floor((secs % 3600) / 60);
  const ss = String(secs % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/**
 * Ask before doing something that costs money. Resolves true when confirmed. A modal <dialog>
 * keeps focus inside; Escape cancels; focus returns to where it was.
 */
export function confirmDialog({ title, body, confirm = 'Confirm', cancel = 'Cancel' }) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const ok = h('button', { type: 'submit', value: 'ok', className: 'primary' }, confirm);
    const no = h('button', { type: 'submit', value: 'cancel' }, cancel);
    const heading = h('h2', { id: 'dlg-title' }, title);
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title', className: 'confirm' },
      h('form', { method: 'dialog' }, heading, ...[].concat(body), h('p', { className: 'actions' }, no, ok)));
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (back && back.focus) back.focus();
      resolve(dlg.returnValue === 'ok');
    });
    document.body.append(dlg);
    dlg.showModal();
    ok.focus();
  });
}

/** Append a chat line; `extra` nodes (e.g. an invite button) go after the text. */
export function addChat(list, msg, extra) {
  const li = h('li', {}, h('strong', {}, (msg.handle || 'someone') + ': '), msg.text);
  if (extra) li.append(' ', ...[].concat(extra));
  list.append(li);
  list.scrollTop = list.scrollHeight;
}
