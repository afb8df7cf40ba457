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
import { localEffect, audioMeter, hostPanel } from '../ai.js';
import { $, h, header, showConnection, status, showError, notify, addChat, confirmDialog } from '../ui.js';
import { modButtons, onModeration } from '../moderation.js';

const me = requireLogin('creator');
header();
const sig = new Signaling({ onState: showConnection });
sig.connect();
let room = null;
let publisher = null;
let stream = null;
let effect = null;       // the local preview effect of a `local` AI room
let stopMeter = null;
const handles = new Map();   // user id -> handle, learnt from chat and tips

const stage = hostStage(sig, { list: $('stage-list'), video: $('stage-video'), roomId: () => room && room.id, handles });

const aiPanel = hostPanel(sig, { box: $('ai-box'), room: () => room });
sig.on('ai.updated', (m) => { if (effect && room && m.room_id === room.id) effect.update(m); });

sig.on('viewers', (m) => { if (room && m.room_id === room.id) $('viewers').textContent = m.count; });
sig.on('chat', (m) => {
  if (!room || m.room_id !== room.id) return;
  handles.set(m.from, m.handle);
  const extra = m.from !== me.user.user_id
    ? [h('button', { type: 'button', className: 'link invite', dataset: { user: m.from }, onclick: () => stage.invite(m.from) }, 'invite on stage'),
      ...modButtons(sig, m.from, m.handle)]
    : null;
  addChat($('chat'), m, extra);
});
onModeration(sig, { roomId: () => room && room.id, me: me.user.user_id, handles });
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
    const ai = $('ai-on').checked ? { prompt: $('ai-prompt').value } : undefined;
    room = await api('POST', '/v1/rooms', { title: $('title').value, ai });
    const slot = room.slots.find((s) => s.publish);
    if (!slot) throw new Error('the broker gave no publish endpoint');
    await sig.join(room.id);
    status('starting…');
    const id = room.id;
    // Daydream AI: the camera goes into the pipeline; local: the effect's canvas goes to our slot.
    const daydream = room.ai && room.ai.mode === 'daydream';
    const refetch = async () => {
      const r = await api('GET', '/v1/rooms/' + id);
      if (r.status !== 'live') return null;
      if (daydream) return r.ai && r.ai.publish;
      const s = r.slots.find((x) => x.name === 'host' && x.publish);
      return s ? s.publish : null;
    };
    let outgoing = stream;
    if (room.ai) {
      aiPanel.start(room.ai);
      if (!daydream) {
        effect = localEffect(stream, $('ai-canvas'));
        effect.update(room.ai);
        outgoing = effect.stream;
        $('preview').srcObject = new MediaStream(effect.stream.getVideoTracks());
      }
      stopMeter = audioMeter(stream, (level, beat) => {
        aiPanel.level(level);
        if ($('ai-audio').checked && room && room.id === id) sig.send('ai.audio', { level, beat }).catch(() => {});
      });
    }
    const first = daydream ? room.ai.publish : slot.publish;
    publisher = publish(outgoing, firstThen(first, refetch), (s) => { if (room && room.id === id) status(s === 'ended' ? 'offline' : 'live · ' + s); });
    $('end').disabled = false;
    window.tandemRoom = room;
  } catch (e) {
    room = null;
    status('offline');
    if (e && e.code === 'verification_required') {
      notify('Verify your identity before going live.', 'warn', {
        ttl: 20000, key: 'verify', actions: [h('a', { href: '/safety.html' }, 'Verification')],
      });
    } else {
      showError(e, 'Could not go live');
    }
    $('golive').disabled = false;
  }
}

async function stopLive(text) {
  if (publisher) await publisher.stop();
  publisher = null;
  room = null;
  if (stopMeter) stopMeter();
  if (effect) effect.stop();
  stopMeter = null;
  effect = null;
  aiPanel.stop();
  $('preview').srcObject = stream;
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
