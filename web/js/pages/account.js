// Account settings: email verification, two-factor sign-in (TOTP), and signed-in sessions.
import { api, clearSession, describe, requireLogin, saveAccess, saveTokens, session, updateUser } from '../api.js';
import { $, h, header, status } from '../ui.js';

requireLogin();
header();

async function loadMe() {
  const me = await api('GET', '/v1/me');
  updateUser({ email_verified: me.email_verified, totp_enabled: me.totp_enabled });
  $('email').textContent = me.email;
  $('email-state').textContent = me.email_verified ? 'verified' : 'not verified';
  $('email-why').hidden = me.email_verified;
  $('resend').hidden = me.email_verified;
  $('tfa-state').textContent = me.totp_enabled ? 'on' : 'off';
  $('tfa-start').hidden = me.totp_enabled || !$('tfa-confirm').hidden;
  $('tfa-disable').hidden = !me.totp_enabled;
  const need = new URLSearchParams(location.search).get('need') === '2fa';
  if (me.role === 'operator' && !me.totp_enabled) {
    $('tfa-need').textContent = 'Operators must turn on two-factor sign-in before the dashboard works.';
    $('tfa-need').hidden = false;
  } else if (need && me.totp_enabled) {
    $('tfa-need').hidden = true;
  }
  document.body.dataset.ready = 'true';
  return me;
}

function when(t) {
  return t ? new Date(t).toLocaleString() : '';
}

async function loadSessions() {
  const { sessions } = await api('GET', '/v1/auth/sessions');
  $('sessions').replaceChildren(...sessions.map((s) => {
    const revoke = h('button', { type: 'button', className: 'link', dataset: { session: s.session_id } },
      s.current ? 'Sign out' : 'Sign out this device');
    revoke.onclick = async () => {
      try {
        await api('DELETE', `/v1/auth/sessions/${s.session_id}`);
        if (s.current) { clearSession(); location.href = '/'; return; }
        status('Signed out.', 'sessions-status');
        loadSessions();
      } catch (e) { status(describe(e), 'sessions-status'); }
    };
    return h('tr', { dataset: { current: String(s.current) } },
      h('td', {}, (s.user_agent || 'unknown device') + (s.current ? ' (this device)' : '')),
      h('td', {}, s.client_address || ''),
      h('td', {}, when(s.created_at)),
      h('td', {}, when(s.last_used_at)),
      h('td', {}, revoke));
  }));
}

$('resend').onclick = async () => {
  try {
    await api('POST', '/v1/auth/verify-email/resend');
    status('A new link is on its way. Check your inbox.', 'email-status');
  } catch (e) { status(describe(e), 'email-status'); }
};

$('tfa-start').onclick = async () => {
  try {
    const e = await api('POST', '/v1/auth/2fa/totp');
    $('tfa-secret').textContent = e.secret;
    $('tfa-uri').href = e.otpauth_uri;
    $('tfa-confirm').hidden = false;
    $('tfa-start').hidden = true;
    $('tfa-code').focus();
  } catch (err) { status(describe(err), 'tfa-status'); }
};

$('tfa-confirm').onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    const r = await api('POST', '/v1/auth/2fa/totp/confirm', { code: $('tfa-code').value.trim() });
    saveAccess(r.access_token, r.expires_in);
    updateUser({ totp_enabled: true });
    $('tfa-code-list').replaceChildren(...r.recovery_codes.map((c) => h('li', {}, h('code', {}, c))));
    $('tfa-codes').hidden = false;
    $('tfa-confirm').hidden = true;
    status('Two-factor sign-in is on.', 'tfa-status');
    if (session().user.role === 'operator') {
      status('Two-factor sign-in is on. The dashboard works now.', 'tfa-status');
    }
    await loadMe();
    await loadSessions();
  } catch (err) { status(describe(err), 'tfa-status'); }
};

$('tfa-disable').onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    const r = await api('POST', '/v1/auth/2fa/totp/disable',
      { password: $('tfa-disable-password').value, code: $('tfa-disable-code').value.trim() });
    saveTokens(r);
    ev.target.reset();
    status('Two-factor sign-in is off; every other device was signed out.', 'tfa-status');
    await loadMe();
    await loadSessions();
  } catch (err) { status(describe(err), 'tfa-status'); }
};

$('everywhere').onclick = async () => {
  try {
    await api('DELETE', '/v1/auth/sessions');
  } catch (_) { /* signed out either way */ }
  clearSession();
  location.href = '/?signedout=1';
};

loadMe().then(loadSessions).catch((e) => status(describe(e), 'sessions-status'));
