// A showcase: watch it (or, for its host, broadcast it), the segment banner driven by the
// room's `segment.started` events, the workshop's question queue, and the artists' controls
// (start, next segment, end, multistream targets and their live status).
import { api, requireLogin } from '../api.js';
import { Signaling } from '../signaling.js';
import { play, publish, firstThen, camera, inboundVideo } from '../media.js';
import { $, h, header, showConnection, status, showError, notify, addChat } from '../ui.js';
import { kindText, countdown, when } from '../showcases.js';

const me = requireLogin();
header();
const id = new URLSearchParams(location.search).get('id');
const sig = new Signaling({ onState: showConnection });
sig.connect();
let sc = null;          // the showcase
let joined = null;      // the room id joined
let player = null;      // playing the host slot
let publisher = null;   // the host's (or the staged author's) camera
let stream = null;

const mine = () => me.user.user_id;
const isArtist = () => !!sc && sc.artists.some((a) => a.id === mine());
const isHost = () => !!sc && sc.artists.length > 0 && sc.artists[0].id === mine();
const moderator = () => isArtist() || me.user.role === 'operator';
const inWorkshop = () => !!sc && sc.status === 'live' && sc.current_segment && sc.current_segment.kind === 'workshop';

function banner() {
  const b = $('segment');
  const seg = sc && sc.status === 'live' && sc.current_segment;
  b.hidden = !seg;
  if (!seg) return;
  b.dataset.kind = seg.kind;
  b.textContent = `${kindText(seg.kind)} · ${countdown(new Date(seg.ends_at).getTime())} left`;
}

function render() {
  $('sc-title').textContent = sc.title;
  document.title = 'Tandem · ' + sc.title;
  $('sc-when').textContent = when(sc.starts_at) + (sc.status === 'cancelled' ? ' · cancelled: ' + (sc.cancel_reason || '') : '');
  $('sc-artists').textContent = sc.artists.map((a) => '@' + a.handle).join(', ');
  document.body.dataset.status = sc.status;
  const s = { scheduled: 'Starts ' + when(sc.starts_at), live: 'Live', ended: 'This showcase has ended.', cancelled: 'Cancelled.' };
  status(s[sc.status] || sc.status);
  banner();
  const controls = moderator() && (sc.status === 'scheduled' || sc.status === 'live');
  $('artist-controls').hidden = !controls;
  $('sc-start').hidden = sc.status !== 'scheduled';
  $('sc-next').hidden = sc.status !== 'live';
  $('sc-end').hidden = sc.status !== 'live';
  $('ask').hidden = !inWorkshop();
  $('qa-hint').hidden = inWorkshop();
  $('ms-box').hidden = !moderator() || sc.status === 'ended' || sc.status === 'cancelled';
}

async function load() {
  try {
    sc = await api('GET', '/v1/showcases/' + id);
  } catch (e) {
    return showError(e, 'Cannot load this showcase');
  }
  render();
  if (sc.status === 'live' && sc.room_id && joined !== sc.room_id) await enterRoom(sc.room_id);
  if (sc.status !== 'live' && joined) leaveRoom();
  await loadQuestions();
}

async function enterRoom(roomId) {
  joined = roomId;
  try {
    await sig.join(roomId);
    const room = await api('GET', '/v1/rooms/' + roomId);
    const refetch = (want) => async () => {
      const r = await api('GET', '/v1/rooms/' + roomId);
      if (r.status !== 'live') return null;
      const s = r.slots.find((x) => x.name === 'host' && x[want]);
      return s ? s[want] : null;
    };
    const host = room.slots.find((s) => s.name === 'host');
    if (isHost() && host && host.publish) {
      stream = stream || await camera();
      $('player').srcObject = stream;
      publisher = publish(stream, firstThen(host.publish, refetch('publish')), (s) => status('live · ' + s));
    } else if (host && host.play) {
      player = play($('player'), firstThen(host.play, refetch('play')), (s) => { if (sc.status === 'live') status(s === 'connected' ? 'watching' : s); });
    }
  } catch (e) {
    joined = null;
    showError(e, 'Cannot join the showcase');
  }
}

function leaveRoom() {
  if (player) player.stop();
  if (publisher) publisher.stop();
  player = null;
  publisher = null;
  joined = null;
}

async function loadQuestions() {
  if (!sc || sc.status === 'scheduled') return;
  let list;
  try {
    list = await api('GET', `/v1/showcases/${id}/questions`);
  } catch (e) {
    return;
  }
  const act = (path, label, cls) => h('button', { type: 'button', className: cls, onclick: () => post(path, label) }, label);
  const items = list.questions.map((q) => h('li', { className: 'question ' + q.status, dataset: { id: q.id, status: q.status, votes: String(q.votes) } },
    h('span', { className: 'votes', 'aria-label': q.votes + ' votes' }, String(q.votes)), ' ',
    h('span', { className: 'text' }, q.text), ' ',
    h('span', { className: 'muted' }, '@' + q.author_handle, q.status !== 'open' ? ' · ' + q.status : ''), ' ',
    q.status === 'open' ? h('button', { type: 'button', className: 'vote', disabled: q.voted, onclick: () => post(`/v1/showcases/${id}/questions/${q.id}/vote`, 'Vote') }, q.voted ? 'Voted' : '▲ Vote') : null,
    moderator() && q.status === 'open' ? act(`/v1/showcases/${id}/questions/${q.id}/answered`, 'Answered', 'answered') : null,
    moderator() && q.status !== 'hidden' ? act(`/v1/showcases/${id}/questions/${q.id}/hide`, 'Hide', 'hide') : null,
    isHost() && q.status === 'open' && q.author_id !== mine() ? act(`/v1/showcases/${id}/questions/${q.id}/stage`, 'Bring on stage', 'stage') : null));
  $('questions').replaceChildren(...(items.length ? items : [h('li', { className: 'muted' }, 'No questions yet.')]));
}

async function post(path, what) {
  try {
    await api('POST', path, {});
    await loadQuestions();
  } catch (e) {
    showError(e, what + ' failed');
  }
}

async function loadTargets() {
  if (!moderator()) return;
  try {
    const list = await api('GET', `/v1/showcases/${id}/multistream`);
    $('ms-list').replaceChildren(...list.targets.map((t) => h('li', { dataset: { status: t.status } },
      `${t.name} (${t.protocol}) · ${t.status} `,
      h('button', { type: 'button', onclick: async () => {
        try { await api('DELETE', `/v1/showcases/${id}/multistream/${t.id}`); await loadTargets(); } catch (e) { showError(e, 'Not removed'); }
      } }, 'Remove'))));
  } catch (e) {
    $('ms-list').replaceChildren(h('li', { className: 'muted' }, e.message));
  }
}

async function goOnStage() {
  try {
    const room = await api('GET', '/v1/rooms/' + joined);
    const guest = room.slots.find((s) => s.name === 'guest' && s.publish);
    if (!guest) return;
    stream = stream || await camera();
    publisher = publish(stream, () => Promise.resolve(guest.publish), () => {});
    document.body.dataset.onstage = 'true';
    notify('You are on stage: ask your question.', 'info', { ttl: 6000 });
  } catch (e) {
    showError(e, 'Cannot go on stage');
  }
}

sig.on('segment.started', (m) => {
  if (!sc || m.showcase_id !== sc.id) return;
  sc.current_segment = { index: m.index, kind: m.kind, ends_at: new Date(m.ends_at).toISOString() };
  render();
  notify(kindText(m.kind) + ' starts now', 'info', { ttl: 4000 });
});
sig.on('room.ended', (m) => { if (m.room_id === joined) load(); });
sig.on('chat', (m) => { if (m.room_id === joined) addChat($('chat'), m); });
sig.on('notice', (m) => {
  if (m.event && m.event.startsWith('question.')) loadQuestions();
  if (m.event === 'multistream.status') loadTargets();
  if (m.event === 'showcase.on_stage' && m.data && m.data.room_id === joined) goOnStage();
});

$('ask').onsubmit = async (ev) => {
  ev.preventDefault();
  const text = $('question').value.trim();
  if (!text) return;
  try {
    await api('POST', `/v1/showcases/${id}/questions`, { text });
    $('question').value = '';
    await loadQuestions();
  } catch (e) {
    showError(e, 'Question not sent');
  }
};
$('say').onsubmit = (ev) => {
  ev.preventDefault();
  const t = $('text');
  if (t.value) sig.send('chat', { text: t.value }).catch((e) => showError(e, 'Message not sent'));
  t.value = '';
};
for (const [btn, action] of [['sc-start', 'start'], ['sc-next', 'next'], ['sc-end', 'end']]) {
  $(btn).onclick = async () => {
    try {
      sc = await api('POST', `/v1/showcases/${id}/${action}`, {});
      await load();
    } catch (e) {
      showError(e, 'Could not ' + action);
    }
  };
}
$('ms-add').onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    await api('POST', `/v1/showcases/${id}/multistream`, { name: $('ms-name').value, url: $('ms-url').value });
    $('ms-url').value = '';
    await loadTargets();
  } catch (e) {
    showError(e, 'Target not added');
  }
};

window.tandem = { sig, stats: () => inboundVideo(player && player.pc) };
await load();
loadTargets();
setInterval(banner, 1000);
setInterval(() => { if (sc && sc.status === 'live') loadQuestions(); }, 3000);
setInterval(load, 10000);
