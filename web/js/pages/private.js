// The private call: each side publishes its slot and plays the other's (relay/livepeer), or one
// RTCPeerConnection over signaling (p2p); running time and cost, tips, the low-balance warning,
// and a clear end.
import { api, requireLogin } from '../api.js';
import { Signaling } from '../signaling.js';
import { publish, play, firstThen, inboundVideo, camera } from '../media.js';
import { getWallet, renderTopUps } from '../wallet.js';
import { getEarnings } from '../earnings.js';
import { tipButtons, onTips } from '../tips.js';
import { endText } from '../reasons.js';
import { $, h, header, showConnection, status, showError, notify, addChat, money, clock } from '../ui.js';

const me = requireLogin();
header();
const roomId = new URLSearchParams(location.search).get('room');
const sig = new Signaling({ onState: showConnection });
sig.connect();
let room = null;
let publisher = null;
let player = null;
let p2p = null;
let stream = null;
let finished = false;
let isFan = false;

function log(text) {
  $('activity').append(h('li', {}, `${new Date().toLocaleTimeString()} ${text}`));
}

sig.on('chat', (m) => { if (room && m.room_id === room.id) addChat($('chat'), m); });
sig.on('member.joined', (m) => { if (room && m.room_id === room.id && m.user_id !== me.user.user_id) log(`${otherName()} joined`); });
sig.on('member.left', (m) => {
  if (room && m.room_id === room.id && m.user_id !== me.user.user_id) {
    log(`${otherName()} left (${m.reason || 'left'})`);
    document.body.dataset.memberLeft = String(Number(document.body.dataset.memberLeft || 0) + 1);
  }
});
sig.on('state', ({ state, detail }) => {
  if (state === 'open' && detail === 'resumed') log('reconnected (session resumed)');
  if (state === 'reconnecting' && sig.previous === 'open' && !finished) log('connection lost; reconnecting');
});
sig.on('room.ended', (m) => { if (room && m.room_id === room.id) finish(m.reason); });
sig.on('rejoined', async () => {
  const r = await api('GET', '/v1/rooms/' + roomId).catch(() => null);
  if (r && r.status !== 'live') finish(r.end_reason);
});
onTips(sig, (text, data) => {
  if (!room || data.room_id !== room.id) return;
  addChat($('chat'), { handle: '★', text });
  if (!isFan) notify(text, 'info', { ttl: 6000 });
  refreshFigures();
});
// Low balance: billing's warning during the call, or the wallet read here (the warning for the
// first minute is sent before this page is open).
let warnedAt = null;
function warnLowBalance(d) {
  if (finished || warnedAt === d.balance) return;
  warnedAt = d.balance;
  const box = h('span', { className: 'inline-topups' });
  const left = d.minutes_left > 0 ? `enough for ${d.minutes_left} more minute${d.minutes_left === 1 ? '' : 's'}` : 'not enough for the next minute';
  notify(`Low balance: ${money(d.balance, d.currency)} left, ${left} at ${money(d.price_per_minute, d.currency)} / min. Top up to keep talking.`,
    'warn', { key: 'lowbalance', actions: [box] });
  document.body.dataset.lowBalance = 'true';
  renderTopUps(box, () => refreshFigures()).catch(() => {});
}
sig.on('notice', (m) => {
  if (m.event === 'billing.low_balance' && room && m.data.room_id === room.id) warnLowBalance(m.data);
});

function otherName() {
  return room && room.your_role === 'host' ? 'the fan' : 'the creator';
}

function other() {
  return room.your_role === 'host' ? room.guest_id : room.host_id;
}

// Running figures: the fan's charges for this room come from their wallet, the creator's from
// the earnings by room; the clock runs from the room's start, as billing counts minutes.
let lastFigures = 0;
async function refreshFigures() {
  if (!room) return;
  lastFigures = Date.now();
  try {
    if (isFan) {
      const w = await getWallet();
      const minutes = w.entries.filter((e) => e.room_id === room.id && e.kind === 'private_minute');
      const charged = -minutes.reduce((a, e) => a + e.amount, 0);
      $('cost').textContent = `${money(charged, w.currency)} (${minutes.length} min)`;
      $('cost').dataset.amount = String(charged);
      $('balance').textContent = money(w.balance, w.currency);
      $('balance').dataset.amount = String(w.balance);
      const price = minutes.length ? -minutes[0].amount : 0;
      if (price > 0 && w.balance < 2 * price) {
        warnLowBalance({ balance: w.balance, price_per_minute: price, minutes_left: Math.floor(w.balance / price), currency: w.currency });
      } else if (price > 0) {
        warnedAt = null;
        document.querySelectorAll('[data-key=lowbalance]').forEach((n) => n.remove());
        delete document.body.dataset.lowBalance;
      }
    } else {
      const e = await getEarnings();
      const r = e.by_room.find((x) => x.room_id === room.id);
      $('cost').textContent = r ? `${money(r.earned, e.currency)} (${r.private_minutes} min, ${r.tips} tip${r.tips === 1 ? '' : 's'})` : money(0, e.currency);
      $('cost').dataset.amount = String(r ? r.earned : 0);
    }
  } catch (_) { /* shown again on the next tick */ }
}

function tick() {
  if (!room || finished) return;
  const secs = (Date.now() - Date.parse(room.created_at)) / 1000;
  $('elapsed').textContent = clock(secs);
  $('next-minute').textContent = clock(60 - (secs % 60));
  // Re-read the figures just after each minute starts (the meter charges it then), and every 15 s.
  if (secs % 60 < 1.2 && Date.now() - lastFigures > 2000) setTimeout(refreshFigures, 1500);
  else if (Date.now() - lastFigures > 15000) refreshFigures();
}

async function finish(reason, byMe) {
  if (finished) return;
  finished = true;
  document.body.dataset.ended = 'true';
  document.body.dataset.reason = reason || '';
  document.querySelectorAll('[data-key=lowbalance]').forEach((n) => n.remove());
  status('ended');
  $('status').className = 'ended';
  $('hangup').hidden = true;
  $('next-minute').textContent = '–';
  $('tips').hidden = true;
  if (publisher) await publisher.stop();
  if (player) await player.stop();
  if (p2p) p2p.close();
  if (stream) stream.getTracks().forEach((t) => t.stop());
  await refreshFigures();
  const panel = $('ended');
  const text = byMe ? 'You hung up.' : endText(reason);
  const parts = [h('h2', {}, 'Session ended'), h('p', {}, text)];
  if (reason === 'funds_exhausted' && isFan) {
    parts.push(h('p', {}, 'Your balance could not pay for the next minute, so the session stopped. You were charged ', $('cost').textContent, '.'),
      h('p', {}, h('a', { href: '/wallet.html', className: 'button primary' }, 'Top up your wallet')));
  } else if (reason === 'funds_exhausted') {
    parts.push(h('p', {}, 'The fan’s balance could not pay for the next minute. You earned ', $('cost').textContent, ' in this session.'));
  }
  parts.push(h('p', {}, h('a', { href: isFan ? '/fan.html' : '/creator.html' }, isFan ? 'Back to live rooms' : 'Back to the studio')));
  panel.replaceChildren(...parts);
  panel.hidden = false;
  panel.tabIndex = -1;
  panel.focus();
}

function showRemote(ev) {
  const v = $('remote');
  if (v.srcObject !== ev.streams[0]) {
    v.srcObject = ev.streams[0] || new MediaStream([ev.track]);
    v.play().catch(() => {});
  }
}

// p2p: the host offers when the guest is present; candidates trickle over signaling. A failed
// connection is restarted by the host with an ICE restart.
function startP2p() {
  p2p = new RTCPeerConnection();
  for (const t of stream.getTracks()) p2p.addTrack(t, stream);
  p2p.ontrack = showRemote;
  p2p.onicecandidate = (ev) => { if (ev.candidate) sig.send('candidate', { to: other(), candidate: ev.candidate.toJSON() }).catch(() => {}); };
  const offer = async (iceRestart) => {
    await p2p.setLocalDescription(await p2p.createOffer({ iceRestart: !!iceRestart }));
    await sig.send('offer', { to: other(), sdp: p2p.localDescription.sdp });
  };
  p2p.onconnectionstatechange = () => {
    const s = p2p.connectionState;
    status(s === 'connected' ? 'connected' : 'p2p ' + s);
    if (s === 'failed' && room.your_role === 'host' && !finished) offer(true).catch(() => {});
  };
  sig.on('offer', async (m) => {
    if (m.from !== other()) return;
    await p2p.setRemoteDescription({ type: 'offer', sdp: m.sdp });
    await p2p.setLocalDescription(await p2p.createAnswer());
    await sig.send('answer', { to: other(), sdp: p2p.localDescription.sdp });
  });
  sig.on('answer', async (m) => { if (m.from === other()) await p2p.setRemoteDescription({ type: 'answer', sdp: m.sdp }).catch(() => {}); });
  sig.on('candidate', async (m) => {
    if (m.from !== other() || !m.candidate || !m.candidate.candidate) return;
    await p2p.addIceCandidate(m.candidate).catch(() => {});
  });
  if (room.your_role === 'host') {
    sig.on('member.joined', (m) => { if (m.user_id === other() && !p2p.remoteDescription) offer().catch(() => {}); });
    offer().catch(() => {});   // the guest may be there already; it answers whichever offer arrives
  }
}

async function start() {
  room = await api('GET', '/v1/rooms/' + roomId);
  window.tandemRoom = room;
  isFan = room.your_role === 'guest';
  $('media').textContent = room.media;
  $('cost-label').textContent = isFan ? 'Charged' : 'Earned here';
  $('balance-box').hidden = !isFan;
  if (isFan) {
    $('tips').hidden = false;
    const w = await getWallet().catch(() => ({ currency: 'usd' }));
    tipButtons($('tips'), () => room && room.id, w.currency, () => refreshFigures());
  }
  setInterval(tick, 1000);
  tick();
  if (room.status !== 'live') return finish(room.end_reason);
  stream = await camera();
  $('local').srcObject = stream;
  await sig.connect();
  await sig.join(room.id);
  if (room.media === 'p2p') return startP2p();
  const refetch = (grant) => async () => {
    const r = await api('GET', '/v1/rooms/' + room.id);
    const s = r.status === 'live' && r.slots.find((x) => x[grant]);
    return s ? s[grant] : null;
  };
  const mine = room.slots.find((s) => s.publish);
  const theirs = room.slots.find((s) => s.play);
  if (mine) publisher = publish(stream, firstThen(mine.publish, refetch('publish')), () => {});
  if (theirs) player = play($('remote'), firstThen(theirs.play, refetch('play')), (s) => { if (!finished) status(s); });
}

window.tandem = {
  sig,
  stats: () => inboundVideo(p2p || (player && player.pc)),
  restartMedia: () => { if (publisher) publisher.restart(); },
};
window.tandemStats = window.tandem.stats;
$('hangup').onclick = async () => {
  if (room) await api('POST', '/v1/rooms/' + room.id + '/end').catch((e) => showError(e, 'Could not hang up'));
  await finish(isFan ? 'guest_ended' : 'host_ended', true);
};
$('say').onsubmit = (ev) => {
  ev.preventDefault();
  const t = $('text');
  if (t.value) sig.send('chat', { text: t.value }).catch((e) => showError(e, 'Message not sent'));
  t.value = '';
};
start().catch((e) => { status('error'); showError(e, 'Cannot start the call'); });
