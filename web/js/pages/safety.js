// A creator's safety page: verification (status, what is missing, Stripe Identity), the rules
// of their rooms (blocked words, slow mode, blocked regions) and the users they banned.
import { api, requireLogin } from '../api.js';
import { $, h, header, showError, notify } from '../ui.js';

requireLogin('creator');
header();

async function loadVerification() {
  const v = await api('GET', '/v1/verification');
  document.body.dataset.verified = v.verified ? 'true' : 'false';
  $('ver-status').textContent = !v.required
    ? 'Verification is not required on this deployment: you may go live, set a price and take private sessions.'
    : v.verified ? 'You are verified.' : `Not verified yet (${v.status.replace('_', ' ')}).`;
  $('ver-missing').replaceChildren(...v.missing.map((m) => h('li', {}, m)));
  if (v.last_error) $('ver-missing').append(h('li', {}, 'Stripe said: ' + v.last_error));
  $('ver-stripe').hidden = v.verified || !v.stripe_available;
}

$('ver-stripe').onclick = async () => {
  try {
    const s = await api('POST', '/v1/verification/stripe');
    location.assign(s.url);
  } catch (e) {
    showError(e, 'Cannot start the identity check');
  }
};

async function loadRules() {
  const r = await api('GET', '/v1/creator/safety');
  $('blocked-words').value = r.blocked_words.join('\n');
  $('slow-mode').value = r.slow_mode_secs;
  $('blocked-regions').value = r.blocked_regions.join(', ');
}

$('rules').onsubmit = async (ev) => {
  ev.preventDefault();
  const body = {
    blocked_words: $('blocked-words').value.split('\n').map((w) => w.trim()).filter(Boolean),
    slow_mode_secs: Number($('slow-mode').value) || 0,
    blocked_regions: $('blocked-regions').value.split(',').map((r) => r.trim()).filter(Boolean),
  };
  try {
    await api('PUT', '/v1/creator/safety', body);
    notify('Rules saved: they apply in your rooms at once.', 'info', { ttl: 5000, key: 'rules' });
    document.body.dataset.saved = 'true';
    await loadRules();
  } catch (e) {
    showError(e, 'Rules not saved');
  }
};

async function loadBans() {
  const { bans } = await api('GET', '/v1/creator/bans');
  const when = (t) => (t ? new Date(t).toLocaleString() : 'for good');
  $('bans').replaceChildren(...(bans.length ? bans.map((b) => h('tr', {},
    h('td', {}, b.user_id), h('td', {}, b.reason), h('td', {}, new Date(b.created_at).toLocaleString()), h('td', {}, when(b.expires_at)),
    h('td', {}, b.room_id ? h('button', {
      type: 'button', className: 'link unban',
      onclick: async () => {
        try {
          await api('POST', `/v1/rooms/${b.room_id}/moderation`, { action: 'unban', user_id: b.user_id, reason: 'lifted by the creator' });
          await loadBans();
        } catch (e) {
          showError(e, 'Ban not lifted');
        }
      },
    }, 'lift') : ''))) : [h('tr', {}, h('td', { colspan: 5, className: 'muted' }, 'Nobody is banned.'))]));
}

Promise.all([loadVerification(), loadRules(), loadBans()]).catch((e) => showError(e, 'Cannot load your safety settings'));
