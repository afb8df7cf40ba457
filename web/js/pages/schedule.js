// The public schedule of showcases (no sign-in needed), with the iCalendar feed; creators
// schedule their own from here.
import { api, session } from '../api.js';
import { $, h, header, showError, notify } from '../ui.js';
import { segmentsText, when } from '../showcases.js';

header();
const me = session();
if (me && me.user && $('logout')) $('logout').hidden = false;

async function load() {
  let list;
  try {
    list = await api('GET', '/v1/showcases');
  } catch (e) {
    return showError(e, 'Cannot load the schedule');
  }
  const items = list.showcases.map((s) => h('li', { className: 'card showcase', dataset: { id: s.id, status: s.status } },
    h('h2', {}, h('a', { href: '/showcase.html?id=' + s.id }, s.title)),
    h('p', {}, when(s.starts_at), ' · ', s.artists.map((a) => '@' + a.handle).join(', ')),
    h('p', { className: 'muted' }, segmentsText(s.segments)),
    h('p', { className: 'status ' + s.status }, s.status === 'cancelled' ? 'cancelled: ' + (s.cancel_reason || '') : s.status),
    s.status === 'live' ? h('a', { className: 'watch button primary', href: '/showcase.html?id=' + s.id }, 'Watch live') : null));
  $('showcases').replaceChildren(...(items.length ? items : [h('li', { className: 'muted' }, 'Nothing scheduled yet.')]));
}

if (me && me.user && me.user.role === 'creator') {
  $('plan').hidden = false;
  const start = new Date(Date.now() + 3600_000);
  start.setSeconds(0, 0);
  $('sc-start').value = new Date(start.getTime() - start.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  $('new-showcase').onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const s = await api('POST', '/v1/showcases', {
        title: $('sc-title').value,
        description: $('sc-desc').value,
        starts_at: new Date($('sc-start').value).toISOString(),
        artists: [me.user.user_id],
        segments: [
          { kind: 'performance', minutes: Number($('sc-perf').value) },
          { kind: 'workshop', minutes: Number($('sc-work').value) },
        ],
      });
      notify('Scheduled: ' + s.title, 'info', { ttl: 4000 });
      await load();
    } catch (e) {
      showError(e, 'Not scheduled');
    }
  };
}

await load();
setInterval(load, 15000);
