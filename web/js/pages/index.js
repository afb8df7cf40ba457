// Sign in / sign up.
import { api, session, saveTokens, describe } from '../api.js';
import { $, status } from '../ui.js';

function home(user) {
  if (user.role === 'operator') return '/dashboard.html';
  return user.role === 'creator' ? '/creator.html' : '/fan.html';
}

async function submit(form, path, fields) {
  const data = Object.fromEntries(new FormData(form));
  const body = {};
  for (const f of fields) body[f] = data[f];
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const res = await api('POST', path, body);
    saveTokens(res);
    location.href = home(res.user);
  } catch (e) {
    status(describe(e));
    button.disabled = false;
  }
}

$('login').onsubmit = (ev) => { ev.preventDefault(); submit(ev.target, '/v1/auth/login', ['email', 'password']); };
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
