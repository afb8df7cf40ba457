// Sign in / sign up.
import { api, session, saveTokens, describe } from '../api.js';
import { $, status } from '../ui.js';

function home(user) {
  // Operators enable two-factor sign-in before any operator page works.
  if (user.role === 'operator') return user.totp_enabled ? '/dashboard.html' : '/account.html?need=2fa';
  return user.role === 'creator' ? '/creator.html' : '/fan.html';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function submit(form, path, fields) {
  const data = Object.fromEntries(new FormData(form));
  const body = {};
  for (const f of fields) if (data[f]) body[f] = data[f];
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  // A busy server sheds sign-ins with 503 and Retry-After: wait as asked and try again.
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await api('POST', path, body);
      saveTokens(res);
      location.href = home(res.user);
      return;
    } catch (e) {
      if (e.code === 'totp_required') {
        $('totp-field').hidden = false;
        $('login-totp').required = true;
        $('login-totp').focus();
        status('Enter the code from your authenticator app.');
      } else if ((e.status === 503 || e.status === 429) && e.retryAfter && attempt < 4) {
        const wait = e.retryAfter * (1 + Math.random() * 0.5) * attempt;
        status(`The service is busy; trying again in ${Math.ceil(wait)} s…`);
        await sleep(wait * 1000);
        continue;
      } else {
        status(describe(e));
      }
      button.disabled = false;
      return;
    }
  }
}

$('login').onsubmit = (ev) => { ev.preventDefault(); submit(ev.target, '/v1/auth/login', ['email', 'password', 'totp']); };
$('signup').onsubmit = (ev) => { ev.preventDefault(); submit(ev.target, '/v1/auth/signup', ['email', 'handle', 'password', 'role']); };

const params = new URLSearchParams(location.search);
const s = session();
if (params.get('topup') && s && s.user && s.user.role === 'fan') {
  // Stripe Checkout sends the fan back here (TANDEM_TOPUP_SUCCESS_URL / _CANCEL_URL).
  location.replace('/wallet.html?topup=' + encodeURIComponent(params.get('topup')));
} else if (params.get('signedout')) {
  status('You were signed out. Please sign in again.');
} else if (s && s.user) {
  const a = $('continue');
  a.href = home(s.user);
  a.textContent = `Continue as ${s.user.handle}`;
  a.parentElement.hidden = false;
}
