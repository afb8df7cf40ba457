// The signaling socket (docs/signaling.md): request/ack, event listeners, connection state, and
// reconnection with exponential backoff that resumes the room with `resume_token` and `last_seq`.
// The access token travels in `Sec-WebSocket-Protocol` (`bearer.<token>` next to `tandem`), never
// in the URL; before it expires the socket is renewed in-band (`auth` with the refreshed token),
// so a long session never drops for it.
import { accessToken, refresh, session } from './api.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const HEARTBEAT_MS = 10_000;
// Close codes after which the server keeps our place for a resume (1000 and 1001 give it up).
const CLIENT_DROP = 4000;

export class Signaling {
  /** `onState(state, detail)` hears `connecting`, `open`, `reconnecting`, `offline` and `closed`. */
  constructor({ onState } = {}) {
    this.listeners = new Map();
    this.pending = new Map();     // request_id -> {resolve, reject}
    this.queue = [];              // frames written while the socket was not open
    this.next = 0;
    this.ws = null;
    this.state = 'idle';
    this.onState = onState || (() => {});
    this.resumeToken = null;
    this.lastSeq = 0;             // the last room_seq seen, what a resume continues from
    this.room = null;             // the room joined, re-joined when a resume is refused
    this.attempt = 0;
    this.closedForGood = false;
    this.welcome = null;
    this.stats = { connects: 0, resumes: 0, rejoins: 0, expired: 0, renewed: 0 };
    this.retryTimer = null;
    setInterval(() => { if (this.room && this.state === 'open') this.send('heartbeat').catch(() => {}); }, HEARTBEAT_MS);
    window.addEventListener('online', () => { if (this.state === 'reconnecting' || this.state === 'offline') this.reconnectNow(); });
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
    return this;
  }

  emit(type, msg) {
    for (const fn of (this.listeners.get(type) || []).concat(this.listeners.get('*') || [])) {
      try { fn(msg); } catch (e) { console.error(e); }
    }
  }

  setState(state, detail) {
    this.previous = this.state;
    this.state = state;
    this.onState(state, detail);
    this.emit('state', { state, detail });
  }

  /** Open the socket; resolves at the first `welcome`. */
  connect() {
    if (!this.opened) {
      this.opened = new Promise((resolve) => { this.resolveOpened = resolve; });
      this.open();
    }
    return this.opened;
  }

  async open() {
    clearTimeout(this.retryTimer);
    this.setState(this.stats.connects ? 'reconnecting' : 'connecting');
    const token = await accessToken();
    if (!token) return this.setState('closed', 'signed out');
    const s = session();
    this.socketToken = token;
    this.socketExp = s ? s.expires_at : 0;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${proto}//${location.host}/v1/ws`;
    if (this.resumeToken) url += `?resume_token=${encodeURIComponent(this.resumeToken)}&last_seq=${this.lastSeq}`;
    const ws = new WebSocket(url, ['tandem', 'bearer.' + token]);
    this.ws = ws;
    let welcomed = false;
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (msg.type === 'welcome') {
        welcomed = true;
        this.onWelcome(msg);
        return;
      }
      if (typeof msg.room_seq === 'number' && msg.room_seq > this.lastSeq) this.lastSeq = msg.room_seq;
      if ((msg.type === 'ack' || msg.type === 'error') && this.pending.has(msg.request_id)) {
        const p = this.pending.get(msg.request_id);
        this.pending.delete(msg.request_id);
        if (msg.type === 'ack') p.resolve(msg.data);
        else p.reject(Object.assign(new Error(msg.message || msg.code), { code: msg.code }));
        return;
      }
      if (msg.type === 'room.ended' && this.room === msg.room_id) this.room = null;
      this.emit(msg.type, msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.renewTimer);
      for (const [, p] of this.pending) p.reject(Object.assign(new Error('connection lost'), { code: 'disconnected' }));
      this.pending.clear();
      if (this.closedForGood) return this.setState('closed');
      if (ev.code === 4001) return this.setState('closed', 'this session continued on another connection');
      if (ev.code === 4401) {
        // The server closed the socket at its token's expiry: reconnect at once with a current
        // token and resume the place (nothing visible to the user).
        this.stats.expired += 1;
        refresh().catch(() => {}).finally(() => this.scheduleRetry(0));
        return;
      }
      // A handshake refused before any welcome is most often an expired token: refresh it.
      if (!welcomed) refresh(true).catch(() => {});
      this.scheduleRetry(ev.code === 1012 ? 0 : undefined);
    };
  }

  onWelcome(msg) {
    const wasResume = this.resumeToken !== null;
    this.welcome = msg;
    this.resumeToken = msg.resume_token;
    this.attempt = 0;
    this.stats.connects += 1;
    if (msg.resumed) this.stats.resumes += 1;
    this.setState('open', msg.resumed ? 'resumed' : undefined);
    this.scheduleRenew();
    while (this.queue.length && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(this.queue.shift());
    if (this.resolveOpened) { this.resolveOpened(msg); this.resolveOpened = null; }
    this.emit('welcome', msg);
    if (wasResume && !msg.resumed && this.room) {
      // The place was released (resume window over): join again and let the page re-sync.
      const room = this.room;
      this.stats.rejoins += 1;
      this.join(room).then(() => this.emit('rejoined', { room_id: room })).catch(() => {});
    }
  }

  /** Renew the socket's token shortly before it expires (the session is refreshed by then). */
  scheduleRenew() {
    clearTimeout(this.renewTimer);
    const s = session();
    if (!s || !this.socketExp) return;
    const lead = Math.min(30_000, Math.floor((s.ttl_ms || 900_000) / 6));
    this.renewTimer = setTimeout(() => this.renew(), Math.max(1000, this.socketExp - Date.now() - lead));
  }

  async renew() {
    const token = await accessToken().catch(() => null);
    if (!token || this.state !== 'open') return;
    if (token === this.socketToken) return this.scheduleRenew();
    try {
      const data = await this.send('auth', { token });
      this.socketToken = token;
      this.socketExp = data.expires_at * 1000;
      this.stats.renewed += 1;
    } catch (_) {
      // Refused or dropped: the server closes the socket at expiry (4401) and we reconnect.
      return;
    }
    this.scheduleRenew();
  }

  scheduleRetry(delay) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const wait = delay !== undefined ? delay : Math.round(base * (0.7 + Math.random() * 0.6));
    this.attempt += 1;
    this.setState(navigator.onLine === false ? 'offline' : 'reconnecting', Math.ceil(wait / 1000));
    this.retryTimer = setTimeout(() => this.open(), wait);
  }

  reconnectNow() {
    clearTimeout(this.retryTimer);
    this.open();
  }

  /** Send a message; resolves with the ack's `data`, rejects with the error's code and message. */
  send(type, fields) {
    const request_id = 'r' + (++this.next);
    const text = JSON.stringify(Object.assign({ type, request_id }, fields || {}));
    return new Promise((resolve, reject) => {
      this.pending.set(request_id, { resolve, reject });
      if (this.ws && this.ws.readyState === WebSocket.OPEN && this.state === 'open') this.ws.send(text);
      else this.queue.push(text);
    });
  }

  /** Join a room; remembered so a reconnect resumes (or re-joins) it. */
  async join(roomId) {
    const data = await this.send('join', { room_id: roomId });
    this.room = roomId;
    if (data && typeof data.room_seq === 'number') this.lastSeq = data.room_seq;
    return data;
  }

  async leave() {
    this.room = null;
    return this.send('leave').catch(() => {});
  }

  /** Simulate a network drop (a non-normal close keeps our place for a resume). For tests. */
  drop() {
    if (this.ws) this.ws.close(CLIENT_DROP, 'client drop');
  }

  close() {
    this.closedForGood = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000, 'bye');
  }
}
