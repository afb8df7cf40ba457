// A creator's profile: availability, price, current broadcast, and the private request.
import { requireLogin } from '../api.js';
import { Signaling } from '../signaling.js';
import { profile, presenceText } from '../directory.js';
import { perMinute } from '../pricing.js';
import { askForPrivate, fanRequestEvents } from '../requests.js';
import { $, h, header, showConnection, showError } from '../ui.js';

requireLogin('fan');
header();
const id = new URLSearchParams(location.search).get('id');
const sig = new Signaling({ onState: showConnection });
sig.connect();
fanRequestEvents(sig);
window.tandem = { sig };

async function show() {
  const p = await profile(id);
  const name = p.handle ? '@' + p.handle : 'Creator';
  $('handle').textContent = name;
  document.title = 'Tandem · ' + name;
  $('presence').textContent = presenceText(p.presence);
  $('presence').className = 'presence ' + p.presence;
  $('price').textContent = perMinute(p.price);
  $('live').hidden = !p.room;
  if (p.room) $('live').replaceChildren('Live now: ', h('a', { href: '/fan.html?room=' + p.room.id }, p.room.title || 'watch'), ` (${p.room.viewers} watching)`);
  $('request').disabled = p.presence !== 'online';
  $('request').onclick = () => askForPrivate({ creatorId: id, handle: p.handle, media: $('mode').value || undefined });
}

if (!id) $('status').textContent = 'No creator given.';
else {
  show().catch((e) => showError(e, 'Cannot load this creator'));
  sig.on('presence', (m) => { if (m.user_id === id) show().catch(() => {}); });
  setInterval(() => show().catch(() => {}), 15000);
}
