// The fan's page: who is live (with availability and price), watching a broadcast, chat, tips,
// the stage, and asking for a private session.
import { api, requireLogin } from '../api.js';
import { Signaling } from '../signaling.js';
import { play, firstThen, inboundVideo } from '../media.js';
import { liveCreators, renderDirectory, presenceOf, presenceText } from '../directory.js';
import { priceOf, perMinute } from '../pricing.js';
import { tipButtons, onTips } from '../tips.js';
import { askForPrivate, fanRequestEvents } from '../requests.js';
import { viewerStage } from '../stage.js';
import { endText } from '../reasons.js';
import { audiencePanel, effectColor, effectStrength } from '../ai.js';
import { $, header, showConnection, status, showError, addChat } from '../ui.js';
import { reportButton, onModeration } from '../moderation.js';

const me = requireLogin('fan');
header();
const sig = new Signaling({ onState: showConnection });
sig.connect();
let watching = null;   // {room, player, handle}

fanRequestEvents(sig);
const aiPanel = audiencePanel(sig, { box: $('ai-box'), roomId: () => watching && watching.room.id });
viewerStage(sig, { box: $('stage'), roomId: () => watching && watching.room.id, me: me.user.user_id });
sig.on('chat', (m) => {
  if (!watching || m.room_id !== watching.room.id) return;
  addChat($('chat'), m, m.from !== me.user.user_id ? reportButton(watching.room.id, m) : null);
});
onModeration(sig, {
  roomId: () => watching && watching.room.id,
  me: me.user.user_id,
  onRemovedMe: (removal) => {
    status(removal === 'banned' ? 'The host banned you from their rooms.' : 'The host removed you from this room.');
    $('status').className = 'ended';
    $('actions').hidden = true;
    if (watching && watching.player) watching.player.stop();
  },
});
onTips(sig, (text, data) => {
  if (watching && data.room_id === watching.room.id) addChat($('chat'), { handle: '★', text });
});
sig.on('room.ended', (m) => { if (watching && m.room_id === watching.room.id) ended(m.reason); });
sig.on('rejoined', async () => {
  // The socket came back without its place: the room may have ended meanwhile.
  if (!watching) return;
  const room = await api('GET', '/v1/rooms/' + watching.room.id).catch(() => null);
  if (room && room.status !== 'live') ended(room.end_reason);
});
sig.on('presence', (m) => { if (watching && m.user_id === watching.room.host_id) showCreator(m.status); });

function ended(reason) {
  status(endText(reason));
  $('status').className = 'ended';
  document.body.dataset.ended = 'true';
  $('actions').hidden = true;
  if (watching && watching.player) watching.player.stop();
}

function showCreator(presence) {
  $('creator-presence').textContent = presenceText(presence);
  $('creator-presence').className = 'presence ' + presence;
  $('private').disabled = presence !== 'online';
}

let entries = [];
async function loadRooms() {
  try {
    entries = await liveCreators();
    renderDirectory($('rooms'), entries, watch);
  } catch (e) {
    showError(e, 'Cannot list live rooms');
  }
}

async function watch(id) {
  if (watching && watching.player) await watching.player.stop();
  document.body.dataset.ended = '';
  document.body.dataset.removed = '';
  $('status').className = '';
  $('chat').replaceChildren();
  let room;
  try {
    room = await api('GET', '/v1/rooms/' + id);
  } catch (e) {
    return showError(e, 'Cannot open this room');
  }
  const listed = entries.find((r) => r.id === id);
  const handle = listed ? listed.creator.handle : null;
  watching = { room, player: null, handle };
  history.replaceState(null, '', '?room=' + id);
  $('roomtitle').textContent = room.title || 'Live';
  $('creator-link').hidden = false;
  $('creator-link').href = '/profile.html?id=' + room.host_id;
  $('creator-link').textContent = handle ? '@' + handle : 'the creator';
  if (room.status !== 'live') return ended(room.end_reason);
  $('actions').hidden = false;
  const [price, presence] = await Promise.all([priceOf(room.host_id).catch(() => null), presenceOf(room.host_id)]);
  $('price').textContent = price ? 'Private: ' + perMinute(price) : '';
  showCreator(presence);
  tipButtons($('tips'), () => watching && watching.room.id, price ? price.currency : 'usd');
  try {
    await sig.join(room.id);
  } catch (e) {
    return showError(e, 'Cannot join the room');
  }
  aiPanel.open(room.ai);
  // Daydream AI rooms play the pipeline's output; everything else plays the host slot (a local
  // preview effect is already drawn into it).
  const daydream = room.ai && room.ai.mode === 'daydream' && room.ai.play;
  const hostSlot = room.slots.find((s) => s.name === 'host' && s.play);
  if (!hostSlot && !daydream) return status('This room has no playable stream.');
  const refetch = async () => {
    const r = await api('GET', '/v1/rooms/' + id);
    if (r.status !== 'live') return null;
    if (daydream) return r.ai && r.ai.play;
    const s = r.slots.find((x) => x.name === 'host' && x.play);
    return s ? s.play : null;
  };
  watching.player = play($('player'), firstThen(daydream ? room.ai.play : hostSlot.play, refetch), (s) => { if (!document.body.dataset.ended) status(s === 'connected' ? 'watching' : s); });
}

$('private').onclick = () => {
  if (!watching) return;
  askForPrivate({ creatorId: watching.room.host_id, handle: watching.handle, media: $('mode').value || undefined });
};
$('say').onsubmit = (ev) => {
  ev.preventDefault();
  const t = $('text');
  if (t.value) sig.send('chat', { text: t.value }).catch((e) => showError(e, 'Message not sent'));
  t.value = '';
};

window.tandem = { sig, stats: () => inboundVideo(watching && watching.player && watching.player.pc), effectColor, effectStrength };
window.tandemStats = window.tandem.stats;
await loadRooms();
setInterval(loadRooms, 10000);
const wanted = new URLSearchParams(location.search).get('room');
if (wanted) watch(wanted);
