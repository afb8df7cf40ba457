// HTTP API client: the signed-in session, bearer calls with readable errors, and access-token
// refresh before expiry. The session (access + refresh token, expiry, and the user's id, handle
// and role) is the only thing the app keeps in localStorage.

const KEY = 'tandem.session';
// Refresh this long before the access token expires (tokens live 15 minutes by default): a
// minute, or a third of the lifetime for deployments with short-lived tokens.
const REFRESH_MARGIN_MAX_MS = 60_000;
function refreshMargin(s) {
  return Math.min(REFRESH_MARGIN_MAX_MS, Math.floor((s.ttl_ms || 900_000) / 3));
}

/** An API refusal: `code` and `message` come from the server's `{code, message}` body. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    /** Seconds the server asked us to wait (`Retry-After` of a 429 or 503), or 0. */
    this.retryAfter = retryAfter || 0;
  }
}

/** Seconds of a response's `Retry-After` (1-60), or `fallback`. */
function retryAfterOf(res, fallback) {
  const n = Number(res.headers.get('retry-after'));
  return Number.isFinite(n) && n > 0 ? Math.min(60, n) : fallback;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function session() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || 'null');
  } catch (_) {
    return null;
  }
}

/** Keep a token response (signup, login or refresh); refresh responses carry no user. */
export function saveTokens(body, user) {
  const u = body.user || user;
  localStorage.setItem(KEY, JSON.stringify({
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    expires_at: Date.now() + (body.expires_in || 900) * 1000,
    ttl_ms: (body.expires_in || 900) * 1000,
    user: u ? {
      user_id: u.user_id, handle: u.handle, role: u.role,
      email_verified: u.email_verified !== false, totp_enabled: !!u.totp_enabled,
    } : null,
  }));
  scheduleRefresh();
}

/** Change what the session remembers of the user (after verifying the email, enrolling 2FA). */
export function updateUser(patch) {
  const s = session();
  if (!s || !s.user) return;
  Object.assign(s.user, patch);
  localStorage.setItem(KEY, JSON.stringify(s));
}

/** Replace the access token (2FA enrolment issues one that says so), keeping the refresh token. */
export function saveAccess(access_token, expires_in) {
  const s = session();
  if (!s) return;
  s.access_token = access_token;
  s.expires_at = Date.now() + (expires_in || 900) * 1000;
  localStorage.setItem(KEY, JSON.stringify(s));
  scheduleRefresh();
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

/** The session, or a redirect to the sign-in page. `role` restricts the page to one role. */
export function requireLogin(role) {
  const s = session();
  if (!s || !s.user) {
    location.replace('/');
    throw new Error('not signed in');
  }
  if (role && s.user.role !== role) {
    location.replace(s.user.role === 'creator' ? '/creator.html' : '/fan.html');
    throw new Error('wrong role');
  }
  scheduleRefresh();
  return s;
}

export async function logout() {
  const s = session();
  clearSession();
  if (s) {
    await fetch('/v1/auth/logout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + s.access_token },
      body: JSON.stringify({ refresh_token: s.refresh_token }),
    }).catch(() => {});
  }
  location.href = '/';
}

// Refresh tokens are single use and a reused one signs the whole login out, so two tabs must
// never present the same one: a refresh takes a cross-tab lock and, inside it, skips the call
// when another tab has rotated the token meanwhile.
let refreshing = null;
export function refresh(force) {
  if (refreshing) return refreshing;
  const seen = session();
  const run = async () => {
    const now = session();
    if (!now) return false;
    if (seen && now.refresh_token !== seen.refresh_token) return true;   // another tab did it
    if (!force && now.expires_at - Date.now() > refreshMargin(now)) return true;
    // Sessions come back with the refresh token, never the password. A busy auth service
    // answers 503 with Retry-After: wait that long (plus jitter) and try again, a few times.
    let res = null;
    for (let attempt = 0; attempt < 4; attempt++) {
      res = await fetch('/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: now.refresh_token }),
      }).catch(() => null);
      if (!res || (res.status !== 503 && res.status !== 429)) break;
      await sleep(retryAfterOf(res, 1) * 1000 * (1 + Math.random() * 0.5) * (attempt + 1));
    }
    if (!res) return false;                      // offline: the next call tries again
    if (res.status === 401) {                    // revoked or reused: signed out everywhere
      clearSession();
      location.replace('/?signedout=1');
      return false;
    }
    if (!res.ok) return false;
    saveTokens(await res.json(), now.user);
    return true;
  };
  const p = navigator.locks ? navigator.locks.request('tandem.refresh', run) : run();
  refreshing = p.finally(() => { refreshing = null; });
  return refreshing;
}

let timer = null;
function scheduleRefresh() {
  clearTimeout(timer);
  const s = session();
  if (!s) return;
  const wait = Math.max(0, s.expires_at - Date.now() - refreshMargin(s));
  timer = setTimeout(() => refresh().finally(scheduleRefresh), wait);
}

/** A valid access token, refreshed first when it is about to expire. */
export async function accessToken() {
  let s = session();
  if (s && s.expires_at - Date.now() <= refreshMargin(s)) {
    await refresh();
    s = session();
  }
  return s && s.access_token;
}

/**
 * Call the API. `body` is sent as JSON; `headers` are added. Resolves to the parsed body (or
 * null); rejects with an ApiError carrying the server's code and message.
 */
export async function api(method, path, body, headers) {
  const send = async (token) => {
    const h = Object.assign({}, headers || {});
    if (token) h.Authorization = 'Bearer ' + token;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    try {
      return await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (_) {
      throw new ApiError(0, 'network_error', 'The server cannot be reached. Check your connection and try again.');
    }
  };
  let res = await send(await accessToken());
  if (res.status === 401 && session() && !path.startsWith('/v1/auth/')) {
    if (await refresh(true)) res = await send(session().access_token);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!res.ok) {
    const code = (data && data.code) || 'http_' + res.status;
    const message = (data && data.message) || res.statusText || 'request failed';
    throw new ApiError(res.status, code, message, retryAfterOf(res, 0));
  }
  return data;
}

/** One line for the user from any error. */
export function describe(err) {
  if (err instanceof ApiError) return err.message + (err.code && err.status ? ` (${err.code})` : '');
  return (err && err.message) || String(err);
}
