// Private requests: the creator's incoming list (accept / decline), and the fan's request with
// the price shown and confirmed first.
import { api, describe } from './api.js';
import { getWallet } from './wallet.js';
import { priceOf, perMinute } from './pricing.js';
import { h, money, notify, showError, confirmDialog } from './ui.js';

/**
 * Creator side. `list` is the <ul>; `beforeAccept()` may refuse (returns false) or tidy up (e.g.
 * end the broadcast); accepting opens the private call page.
 */
export function incomingRequests(sig, { list, beforeAccept }) {
  const items = new Map();
  const empty = h('li', { className: 'muted' }, 'No requests right now.');
  const refreshEmpty = () => {
    if (items.size === 0 && !empty.isConnected) list.append(empty);
    if (items.size > 0) empty.remove();
  };
  const remove = (id) => { const li = items.get(id); if (li) li.remove(); items.delete(id); refreshEmpty(); };
  const add = (r) => {
    if (items.has(r.request_id)) return;
    const expires = typeof r.expires_at === 'number' ? r.expires_at * 1000 : Date.parse(r.expires_at);
    const left = h('span', { className: 'muted' });
    const tick = () => {
      const s = Math.round((expires - Date.now()) / 1000);
      if (s <= 0) return remove(r.request_id);
      left.textContent = ` · ${s} s left`;
      setTimeout(tick, 1000);
    };
    const accept = h('button', { type: 'button', className: 'primary accept' }, 'Accept');
    const decline = h('button', { type: 'button', className: 'decline' }, 'Decline');
    const price = typeof r.price_per_minute === 'number' ? (r.price_per_minute ? money(r.price_per_minute, r.currency || 'usd') + ' / min' : 'free') : '';
    const li = h('li', { dataset: { request: r.request_id } },
      h('strong', {}, r.fan_handle || 'A fan'), ' asks for a private session', price ? ' at ' + price : '', left, ' ', accept, ' ', decline);
    accept.onclick = async () => {
      if (beforeAccept && !(await beforeAccept())) return;
      accept.disabled = true;
      try {
        const res = await api('POST', `/v1/private-requests/${r.request_id}/accept`);
        location.href = '/private.html?room=' + res.room.id;
      } catch (e) {
        accept.disabled = false;
        showError(e, 'Could not accept');
        if (e.code === 'request_not_pending') remove(r.request_id);
      }
    };
    decline.onclick = async () => {
      try { await api('POST', `/v1/private-requests/${r.request_id}/decline`); } catch (e) { showError(e); }
      remove(r.request_id);
    };
    items.set(r.request_id, li);
    list.append(li);
    refreshEmpty();
    tick();
  };
  sig.on('private.request', (m) => {
    add(m);
    notify(`${m.fan_handle || 'A fan'} asks for a private session.`, 'info', { ttl: 8000 });
  });
  sig.on('private.declined', (m) => remove(m.request_id));
  refreshEmpty();
  // Requests that arrived while the page was closed.
  api('GET', '/v1/private-requests').then((res) => {
    for (const r of res.requests) if (r.status === 'pending') add({ request_id: r.id, fan_id: r.fan_id, expires_at: r.expires_at, price_per_minute: r.price_per_minute, currency: r.currency });
  }).catch(() => {});
}

/**
 * Fan side: show the price and balance, ask for confirmation, send the request, then wait for the
 * creator (the page's socket delivers private.accepted / private.declined). Resolves to the
 * request, or null when the fan did not confirm or could not pay.
 */
export async function askForPrivate({ creatorId, handle, media }) {
  let price, wallet;
  try {
    [price, wallet] = await Promise.all([priceOf(creatorId), getWallet()]);
  } catch (e) {
    showError(e, 'Cannot read the price');
    return null;
  }
  const enough = price.price_per_minute === 0 || wallet.balance >= price.price_per_minute;
  const body = [
    h('p', { id: 'quote' }, `${handle || 'This creator'} charges `, h('strong', { id: 'quote-price' }, perMinute(price)), '.'),
    price.price_per_minute
      ? h('p', {}, 'The first minute is charged when the creator accepts, then one minute at the start of each minute until either of you hangs up or your balance runs out.')
      : h('p', {}, 'This session is free.'),
    h('p', {}, 'Your balance: ', h('strong', { id: 'quote-balance' }, money(wallet.balance, wallet.currency)),
      price.price_per_minute ? ` (about ${Math.floor(wallet.balance / price.price_per_minute)} min)` : ''),
  ];
  if (!enough) {
    body.push(h('p', { className: 'warn' }, 'Your balance does not cover the first minute. ', h('a', { href: '/wallet.html' }, 'Top up your wallet'), ' first.'));
    await confirmDialog({ title: 'Not enough credit', body, confirm: 'OK', cancel: 'Close' });
    return null;
  }
  const ok = await confirmDialog({ title: 'Request a private session', body, confirm: 'Send request at ' + perMinute(price) });
  if (!ok) return null;
  try {
    const payload = { creator_id: creatorId };
    if (media) payload.media = media;
    const req = await api('POST', '/v1/private-requests', payload);
    const cancel = h('button', { type: 'button', className: 'link' }, 'Cancel request');
    const n = notify(`Request sent to ${handle || 'the creator'} at ${perMinute(price)}; waiting for an answer (up to a minute).`, 'info', { key: 'request', actions: [cancel] });
    cancel.onclick = async () => {
      await api('POST', `/v1/private-requests/${req.id}/cancel`).catch((e) => showError(e));
      if (n) n.remove();
    };
    return req;
  } catch (e) {
    notify('Request not sent: ' + describe(e), 'error', { key: 'request' });
    return null;
  }
}

/** What a fan sees when the creator answers. */
export function fanRequestEvents(sig) {
  sig.on('private.accepted', (m) => { location.href = '/private.html?room=' + m.room_id; });
  sig.on('private.declined', (m) => {
    const why = { declined: 'The creator declined your request.', expired: 'Your request expired: the creator did not answer in time.', cancelled: 'Request cancelled.' };
    notify(why[m.reason] || 'Your request was not accepted.', m.reason === 'cancelled' ? 'info' : 'warn', { key: 'request', ttl: 10000 });
  });
}
