// Password reset: without a token, ask for a link; with one (URL fragment of the emailed link,
// removed from the address bar at once), choose the new password.
import { api, clearSession, describe } from '../api.js';
import { $, status } from '../ui.js';

let token = null;
// The token arrives in the fragment: on load, or when a link to this page opens in this tab
// (a fragment change does not reload the page).
function takeToken() {
  const t = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!t) return;
  token = t;
  history.replaceState(null, '', location.pathname);
  $('ask').hidden = true;
  $('choose').hidden = false;
  status('');
}
takeToken();
window.addEventListener('hashchange', takeToken);

$('ask').onsubmit = async (ev) => {
  ev.preventDefault();
  const button = ev.target.querySelector('button');
  button.disabled = true;
  try {
    await api('POST', '/v1/auth/password-reset', { email: $('ask-email').value });
    status('If an account uses this address, a link to reset its password is on its way. Check your inbox.');
    document.body.dataset.sent = 'true';
  } catch (e) {
    status(describe(e));
    button.disabled = false;
  }
};

$('choose').onsubmit = async (ev) => {
  ev.preventDefault();
  const button = ev.target.querySelector('button');
  button.disabled = true;
  try {
    await api('POST', '/v1/auth/password-reset/confirm', { token, password: $('choose-password').value });
    clearSession();
    $('choose').hidden = true;
    status('Your password is changed and every device was signed out. Sign in with the new password.');
    document.body.dataset.reset = 'true';
  } catch (e) {
    status(describe(e));
    button.disabled = false;
  }
};
