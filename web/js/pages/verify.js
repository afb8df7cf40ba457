// The page an emailed verification link opens: the token is in the URL fragment (never sent to
// a server, never in its logs); it is posted in a request body and removed from the address bar.
import { api, describe, refresh, session, updateUser } from '../api.js';
import { $, status } from '../ui.js';

function home(user) {
  if (!user) return '/';
  if (user.role === 'operator') return '/dashboard.html';
  return user.role === 'creator' ? '/creator.html' : '/fan.html';
}

async function verify() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  history.replaceState(null, '', location.pathname);
  if (!token) {
    status('This link has no token. Open the link from the message again, or ask for a new one on your account page.');
    return;
  }
  try {
    await api('POST', '/v1/auth/verify-email', { token });
    const s = session();
    if (s && s.user) {
      // A fresh access token says the email is verified.
      updateUser({ email_verified: true });
      await refresh(true).catch(() => {});
    }
    status('Your email address is verified. Thank you!');
    document.body.dataset.verified = 'true';
  } catch (e) {
    status(describe(e));
    document.body.dataset.verified = 'false';
  }
  const a = $('continue');
  a.href = home(session() && session().user);
  a.hidden = false;
}

verify();
// A second link opened in this tab changes only the fragment, which does not reload the page.
window.addEventListener('hashchange', () => { if (location.hash) verify(); });
