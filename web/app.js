// Tandem web app: shared helpers for every page (API calls, WHIP/WHEP, signaling, stats).
// Plain browser JavaScript, no build step. Pages only use what the broker returns: the WHIP/WHEP
// URLs and tokens of each slot, and the room's media mode.
'use strict';

const Tandem = (() => {
  const store = window.localStorage;

  function session() {
    const raw = store.getItem('tandem.session');
    return raw ? JSON.parse(raw) : null;
  }

  function saveSession(s) {
    store.setItem('tandem.session', JSON.stringify(s));
  }

  function logout() {
    store.removeItem('tandem.session');
    location.href = '/';
  }

  function requireLogin() {
    const s = session();
    if (!s) {
      location.href = '/';
      throw new Error('not logged in');
    }
    return s;
  }

  async function api(method, path, body) {
    const s = session();
    const headers = {};
    if (s) headers.Authorization = 'Bearer ' + s.access_token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401 && s && s.refresh_token && path !== '/v1/auth/refresh') {
      if (await refresh()) return api(method, path, body);
    }
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const err = new Error((data && data.message) || res.statusText);
      err.status = res.status;
      err.code = data && data.code;
      throw err;
    }
    return data;
  }

  async function refresh() {
    const s = session();
    try {
      const res = await fetch('/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: s.refresh_token }),
      });
      if (!res.ok) return false;
      const next = await res.json();
      saveSession({ ...s, ...next, user: next.user || s.user });
      return true;
    } catch (_) {
      return false;
    }
  }

  function waitForIce(pc, ms) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState === 'complete') resolve();
      };
      pc.addEventListener('icegatheringstatechange', done);
      setTimeout(resolve, ms || 2000);
    });
  }

  function iceServersFromLinks(res) {
    const link = res.headers.get('Link');
    if (!link) return [];
    return link.split(/,(?=\s*<)/).map((part) => {
      const url = (part.match(/<([^>]+)>/) || [])[1];
      const username = (part.match(/username="([^"]*)"/) || [])[1];
      const credential = (part.match(/credential="([^"]*)"/) || [])[1];
      return username ? { urls: url, username, credential } : { urls: url };
    }).filter((s) => s.urls);
  }

  // One WHIP/WHEP exchange: POST the offer, apply the answer. Returns the resource URL.
  async function exchange(pc, url, token) {
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc, 2000);
    const res = await fetch(url, {
      method: 'POST',
      headers: Object.assign({ 'Content-Type': 'application/sdp' }, token ? { Authorization: 'Bearer ' + token } : {}),
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201) {
      const err = new Error('media server answered ' + res.status);
      err.status = res.status;
      throw err;
    }
    const servers = iceServersFromLinks(res);
    if (servers.length) {
      try { pc.setConfiguration({ iceServers: servers }); } catch (_) { /* not all browsers allow it */ }
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    const loc = res.headers.get('Location');
    return loc ? new URL(loc, url).toString() : null;
  }

  // Publish a MediaStream over WHIP. Returns { pc, stop() }.
  async function whip(endpoint, stream) {
    const pc = new RTCPeerConnection();
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    const resource = await exchange(pc, endpoint.whip_url, endpoint.token);
    return {
      pc,
      stop: async () => {
        pc.close();
        if (resource) await fetch(resource, { method: 'DELETE', headers: endpoint.token ? { Authorization: 'Bearer ' + endpoint.token } : {} }).catch(() => {});
      },
    };
  }

  // Play over WHEP into a <video>; retries while nobody publishes yet. Returns { pc, stop() }.
  async function whep(endpoint, video, opts) {
    opts = opts || {};
    let stopped = false;
    let current = null;
    const handle = {
      get pc() { return current && current.pc; },
      stop: async () => {
        stopped = true;
        if (current) await current.stop();
      },
    };
    const attempt = async () => {
      while (!stopped) {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
        const stream = new MediaStream();
        pc.ontrack = (ev) => {
          stream.addTrack(ev.track);
          video.srcObject = stream;
          video.play().catch(() => {});
        };
        try {
          const resource = await exchange(pc, endpoint.whep_url, endpoint.token);
          current = {
            pc,
            stop: async () => {
              pc.close();
              if (resource) await fetch(resource, { method: 'DELETE', headers: endpoint.token ? { Authorization: 'Bearer ' + endpoint.token } : {} }).catch(() => {});
            },
          };
          if (opts.onStatus) opts.onStatus('playing');
          pc.addEventListener('connectionstatechange', () => {
            if (!stopped && (pc.connectionState === 'failed' || pc.connectionState === 'closed')) {
              if (opts.onStatus) opts.onStatus('reconnecting');
              setTimeout(attempt, 1000);
            }
          });
          return;
        } catch (e) {
          pc.close();
          if (opts.onStatus) opts.onStatus(e.status === 404 ? 'waiting for the stream' : 'retrying: ' + e.message);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    await attempt();
    return handle;
  }

  // Signaling socket with request ids and a listener per event type.
  function signaling() {
    const s = requireLogin();
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const listeners = {};
    const pending = {};
    let seq = 0;
    let ws;
    let openResolve;
    const opened = new Promise((r) => { openResolve = r; });
    const queue = [];
    const connect = () => {
      ws = new WebSocket(proto + '//' + location.host + '/v1/ws?access_token=' + encodeURIComponent(s.access_token));
      ws.onopen = () => {
        openResolve();
        while (queue.length) ws.send(queue.shift());
      };
      ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (_) { return; }
        if ((msg.type === 'ack' || msg.type === 'error') && msg.request_id && pending[msg.request_id]) {
          const p = pending[msg.request_id];
          delete pending[msg.request_id];
          if (msg.type === 'ack') p.resolve(msg.data); else p.reject(Object.assign(new Error(msg.message || msg.code), msg));
        }
        for (const fn of (listeners[msg.type] || []).concat(listeners['*'] || [])) fn(msg);
      };
      ws.onclose = () => {
        for (const fn of listeners.close || []) fn();
      };
    };
    connect();
    const api = {
      opened,
      on(type, fn) { (listeners[type] = listeners[type] || []).push(fn); return api; },
      send(type, fields) {
        const request_id = 'r' + (++seq);
        const text = JSON.stringify(Object.assign({ type, request_id }, fields || {}));
        const p = new Promise((resolve, reject) => { pending[request_id] = { resolve, reject }; });
        if (ws.readyState === WebSocket.OPEN) ws.send(text); else queue.push(text);
        return p;
      },
      close() { ws.close(); },
    };
    setInterval(() => { if (ws.readyState === WebSocket.OPEN) api.send('heartbeat').catch(() => {}); }, 15000);
    return api;
  }

  // Inbound video figures of a peer connection (used by the page and the browser tests).
  async function inboundVideo(pc) {
    const out = { bytesReceived: 0, framesDecoded: 0, packetsReceived: 0 };
    if (!pc) return out;
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && (r.kind === 'video' || r.mediaType === 'video')) {
        out.bytesReceived += r.bytesReceived || 0;
        out.framesDecoded += r.framesDecoded || 0;
        out.packetsReceived += r.packetsReceived || 0;
      }
    });
    return out;
  }

  function el(id) { return document.getElementById(id); }

  function status(text) {
    const s = el('status');
    if (s) s.textContent = text;
  }

  function addChat(list, msg) {
    const li = document.createElement('li');
    li.textContent = (msg.handle || 'someone') + ': ' + msg.text;
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }

  function header() {
    const s = session();
    const h = el('whoami');
    if (h && s && s.user) h.textContent = s.user.handle + ' (' + s.user.role + ')';
    const out = el('logout');
    if (out) out.onclick = logout;
  }

  return { session, saveSession, logout, requireLogin, api, whip, whep, signaling, inboundVideo, el, status, addChat, header };
})();
window.Tandem = Tandem;
