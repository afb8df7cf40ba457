// WHIP publishing and WHEP playing (docs/relay.md), each re-established after a media drop: a
// peer connection that fails, closes, or stays disconnected is replaced by a new exchange with
// endpoints fetched afresh from the broker (tokens may have expired, the room may have ended).

const DISCONNECTED_GRACE_MS = 4000;
// A player whose inbound bytes stop for this long is re-established (a publisher that went away
// and came back is not always reported by the peer connection's state).
const STALL_CHECK_MS = 1500;
const STALL_CHECKS = 3;
const FIRST_BYTES_MS = 10_000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 8000;

function waitForIce(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, ms);
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

/** One WHIP/WHEP exchange: POST the offer, apply the answer; returns the session's URL. */
async function exchange(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIce(pc, 2000);
  const res = await fetch(url, {
    method: 'POST',
    headers: Object.assign({ 'Content-Type': 'application/sdp' }, token ? { Authorization: 'Bearer ' + token } : {}),
    body: pc.localDescription.sdp,
  });
  if (res.status !== 201) {
    let code = 'http_' + res.status;
    let message = 'the media server answered ' + res.status;
    try { const b = await res.json(); code = b.code || code; message = b.message || message; } catch (_) { /* not JSON */ }
    throw Object.assign(new Error(message), { status: res.status, code });
  }
  const servers = iceServersFromLinks(res);
  if (servers.length) {
    try { pc.setConfiguration({ iceServers: servers }); } catch (_) { /* not every browser allows it */ }
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  const loc = res.headers.get('Location');
  return loc ? new URL(loc, url).toString() : null;
}

/**
 * Keep one media session alive. `endpoint()` resolves to `{url, token}` (or null when the room
 * has no such endpoint any more); `setup(pc)` adds transceivers; `onState(text)` reports.
 */
function keepAlive({ endpoint, setup, onState, watchInbound }) {
  let stopped = false;
  let current = null;          // {pc, resource, token}
  let failures = 0;
  const report = (s) => { if (!stopped && onState) onState(s); };

  const teardown = async (session) => {
    if (!session) return;
    session.pc.close();
    if (session.resource) {
      await fetch(session.resource, { method: 'DELETE', headers: session.token ? { Authorization: 'Bearer ' + session.token } : {} }).catch(() => {});
    }
  };

  const restart = async (why) => {
    if (stopped) return;
    const old = current;
    current = null;
    report('reconnecting media (' + why + ')');
    await teardown(old);
    const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures, 3));
    failures += 1;
    setTimeout(run, wait);
  };

  const watchBytes = (pc) => {
    const since = Date.now();
    let last = 0;
    let still = 0;
    const check = async () => {
      if (stopped || !current || current.pc !== pc) return;
      const now = await inboundBytes(pc).catch(() => last);
      still = now > last ? 0 : still + 1;
      last = now;
      const stalled = last > 0 ? still >= STALL_CHECKS : Date.now() - since > FIRST_BYTES_MS;
      if (stalled) return restart('no media arriving');
      setTimeout(check, STALL_CHECK_MS);
    };
    setTimeout(check, STALL_CHECK_MS);
  };

  const watch = (pc) => {
    if (watchInbound) watchBytes(pc);
    let graceTimer = null;
    pc.addEventListener('connectionstatechange', () => {
      if (stopped || !current || current.pc !== pc) return;
      const s = pc.connectionState;
      if (s === 'connected') { failures = 0; clearTimeout(graceTimer); report('connected'); }
      if (s === 'failed' || s === 'closed') restart(s);
      if (s === 'disconnected') {
        clearTimeout(graceTimer);
        graceTimer = setTimeout(() => { if (current && current.pc === pc && pc.connectionState === 'disconnected') restart('disconnected'); }, DISCONNECTED_GRACE_MS);
      }
    });
  };

  const run = async () => {
    if (stopped) return;
    let ep;
    try {
      ep = await endpoint();
    } catch (e) {
      report('cannot read the room: ' + e.message);
      return void setTimeout(run, RETRY_MAX_MS);
    }
    if (!ep) { report('ended'); return; }
    const pc = new RTCPeerConnection();
    setup(pc);
    try {
      const resource = await exchange(pc, ep.url, ep.token);
      if (stopped) return void teardown({ pc, resource, token: ep.token });
      current = { pc, resource, token: ep.token };
      watch(pc);
      report(pc.connectionState === 'connected' ? 'connected' : 'connecting');
    } catch (e) {
      pc.close();
      if (e.status === 410) return void report('ended');              // slot_released: the room is over
      report(e.status === 404 ? 'waiting for the stream' : 'retrying: ' + e.message);
      failures += 1;
      setTimeout(run, e.status === 404 ? RETRY_MIN_MS : Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures, 3)));
    }
  };

  run();
  return {
    get pc() { return current && current.pc; },
    /** Drop the media session on purpose; it comes back by itself (tests use it). */
    restart: () => restart('restarted'),
    stop: async () => { stopped = true; const c = current; current = null; await teardown(c); },
  };
}

/** Publish `stream` over WHIP; `endpoint()` resolves to the slot's `publish` object. */
export function publish(stream, endpoint, onState) {
  return keepAlive({
    endpoint: async () => { const e = await endpoint(); return e && { url: e.whip_url, token: e.token }; },
    setup: (pc) => { for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] }); },
    onState,
  });
}

/** Play over WHEP into `video`; `endpoint()` resolves to the slot's `play` object. */
export function play(video, endpoint, onState) {
  return keepAlive({
    endpoint: async () => { const e = await endpoint(); return e && { url: e.whep_url, token: e.token }; },
    setup: (pc) => {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.ontrack = (ev) => {
        stream.addTrack(ev.track);
        video.srcObject = stream;
        video.play().catch(() => {});
      };
    },
    onState,
    watchInbound: true,
  });
}

/** The first endpoint is the one already in hand; later attempts ask `refetch()`. */
export function firstThen(initial, refetch) {
  let used = false;
  return async () => {
    if (!used) { used = true; return initial; }
    return refetch();
  };
}

async function inboundBytes(pc) {
  let total = 0;
  (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp') total += r.bytesReceived || 0; });
  return total;
}

/** Inbound video figures of a peer connection (shown nowhere; read by the browser tests). */
export async function inboundVideo(pc) {
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

export function camera() {
  return navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
}
