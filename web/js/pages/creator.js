// The creator's studio: going live (WHIP), presence, price, private requests (going private from
// a broadcast), chat and tips, and the stage.
import { api, requireLogin } from '../api.js';
import { Signaling } from '../signaling.js';
import { publish, firstThen, inboundVideo, camera } from '../media.js';
import { pricingForm } from '../pricing.js';
import { onTips } from '../tips.js';
import { incomingRequests } from '../requests.js';
import { hostStage } from '../stage.js';
import { endText } from '../reasons.js';
import { $, h, header, showConnection, status, showError, notify, addChat, confirmDialog } from '../ui.js';

const me = requireLogin('creator');
header();
const sig = new Signaling({ onState: showConnection });
sig.connect();
let room = null;
let publisher = null;
let stream = null;
const handles = new Map();   // user id -> handle, learnt from chat and tips

const stage = hostStage(sig, { list: $('stage-list'), video: $('stage-video'), roomId: () => room && room.id, handles });

sig.on('viewers', (m) => { if (room && m.room_id === room.id) $('viewers').textContent = m.count; });
sig.on('chat', (m) => {
  if (!room || m.room_id !== room.id) return;
  handles.set(m.from, m.handle);
  const invite = m.from !== me.user.user_id
    ? h('button', { type: 'button', className: 'link invite', dataset: { user: m.from }, onclick: () => stage.invite(m.from) }, 'invite on stage')
    : null;
  addChat($('chat'), m, invite);
});
onTips(sig, (text, data) => {
  if (data.from_user_id) handles.set(data.from_user_id, data.from_handle);
  if (room && data.room_id === room.id) addChat($('chat'), { handle: '★', text });
  notify(text, 'info', { ttl: 6000 });
});
sig.on('room.ended', (m) => { if (room && m.room_id === room.id) stopLive(endText(m.reason)); });
sig.on('rejoined', async () => {
  if (!room) return;
  const r = await api('GET', '/v1/rooms/' + room.id).catch(() => null);
  if (r && r.status !== 'live') stopLive(endText(r.end_reason));
});

incomingRequests(sig, {
  list: $('requests'),
  beforeAccept: async () => {
    if (!room) return true;
    return confirmDialog({
      title: 'Go private?',
      body: [h('p', {}, 'Accepting ends your broadcast: your viewers see that you went into a private session.')],
      confirm: 'End broadcast and go private',
    });
  },
});

// Presence: the checkbox says whether fans may ask for private sessions.
api('GET', '/v1/presence/' + me.user.user_id).then((p) => { $('available').checked = p.status === 'online'; }).catch(() => {});
$('available').onchange = async (ev) => {
  try {
    await api('PUT', '/v1/presence', { status: ev.target.checked ? 'online' : 'away' });
    notify(ev.target.checked ? 'You are taking private requests.' : 'You are not taking private requests.', 'info', { ttl: 4000 });
  } catch (e) {
    ev.target.checked = !ev.target.checked;
    showError(e, 'Presence not changed');
  }
};
pricingForm().catch((e) => showError(e, 'Cannot load your price'));

async function goLive() {
  $('golive').disabled = true;
  try {
    stream = stream || await camera();
    $('preview').srcObject = stream;
    room = await api('POST', '/v1/rooms', { title: $('title').value });
    const slot = room.slots.find((s) => s.publish);
    if (!slot) throw new Error('the broker gave no publish endpoint');
    await sig.join(room.id);
    status('starting…');
    const id = room.id;
    const refetch = async () => {
      const r = await api('GET', '/v1/rooms/' + id);
      const s = r.status === 'live' && r.slots.find((x) => x.name === 'host' && x.publish);
      return s ? s.publish : null;
    };
    publisher = publish(stream, firstThen(slot.publish, refetch), (s) => { if (room && room.id === id) status(s === 'ended' ? 'offline' : 'live · ' + s); });
    $('end').disabled = false;
    window.tandemRoom = room;
  } catch (e) {
    room = null;
    status('offline');
    showError(e, 'Could not go live');
    $('golive').disabled = false;
  }
}

async function stopLive(text) {
  if (publisher) await publisher.stop();
  publisher = null;
  room = null;
  stage.reset();
  $('viewers').textContent = '0';
  status(text || 'offline');
  $('golive').disabled = false;
  $('end').disabled = true;
}

async function endRoom() {
  const id = room && room.id;
  await stopLive('Broadcast ended.');
  if (id) await api('POST', '/v1/rooms/' + id + '/end').catch((e) => showError(e, 'Could not end the room'));
  sig.leave();
}

$('golive').onclick = goLive;
$('end').onclick = endRoom;
$('say').onsubmit = (ev) => {
  ev.preventDefault();
  const t = $('text');
  if (t.value) sig.send('chat', { text: t.value }).catch((e) => showError(e, 'Message not sent'));
  t.value = '';
};

window.tandem = { sig, stats: () => inboundVideo(stage.player && stage.player.pc) };
window.tandemStats = window.tandem.stats;
