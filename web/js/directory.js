// Who is on now: live broadcasts with their creators' availability and price, and a creator's
// profile. The API lists live broadcasts only, so creators who are online for private sessions
// without broadcasting do not appear here (their profile link still works).
import { api } from './api.js';
import { priceOf, perMinute } from './pricing.js';
import { h } from './ui.js';

const PRESENCE_TEXT = {
  online: 'available for private',
  away: 'not taking requests',
  busy: 'in a private session',
  offline: 'offline',
};

export function presenceText(status) {
  return PRESENCE_TEXT[status] || status;
}

export function presenceOf(userId) {
  return api('GET', `/v1/presence/${userId}`).then((p) => p.status).catch(() => 'offline');
}

/** Live rooms, each with `presence` and `price` of its creator. */
export async function liveCreators() {
  const { rooms } = await api('GET', '/v1/rooms?live=true&limit=50');
  return Promise.all(rooms.map(async (r) => {
    const [presence, price] = await Promise.all([presenceOf(r.creator.id), priceOf(r.creator.id).catch(() => null)]);
    return { ...r, presence, price };
  }));
}

/** One card per live creator into `list`; `watch(roomId)` opens a room. */
export function renderDirectory(list, entries, watch) {
  if (!entries.length) return list.replaceChildren(h('li', { className: 'muted' }, 'Nobody is live right now.'));
  list.replaceChildren(...entries.map((r) => h('li', { className: 'card', dataset: { room: r.id, creator: r.creator.id } },
    h('button', { type: 'button', className: 'watch', onclick: () => watch(r.id) }, r.title || 'Untitled broadcast'),
    h('div', {},
      h('a', { href: `/profile.html?id=${r.creator.id}` }, '@' + r.creator.handle),
      ` · ${r.viewers} watching · `,
      h('span', { className: 'presence ' + r.presence }, presenceText(r.presence)),
      r.price ? h('span', { className: 'price' }, ' · ' + perMinute(r.price)) : ''))));
}

/** A creator's profile: presence, price, the broadcast they run now (if any). */
export async function profile(creatorId) {
  const [presence, price, live] = await Promise.all([
    presenceOf(creatorId),
    priceOf(creatorId),
    api('GET', '/v1/rooms?live=true&limit=50'),
  ]);
  const room = live.rooms.find((r) => r.creator.id === creatorId) || null;
  return { presence, price, room, handle: room ? room.creator.handle : null };
}
