// A creator's earnings (by day and by room, with the split) and payout requests.
import { api } from './api.js';
import { $, h, money, notify, showError } from './ui.js';

const PAYOUT_STATUS = {
  requested: 'requested (waiting for the holding period and an operator)',
  paid: 'paid',
  cancelled: 'cancelled',
};

export function getEarnings() {
  return api('GET', '/v1/creator/earnings');
}

function row(cur, first, r) {
  return h('tr', {}, first,
    h('td', { className: 'num' }, money(r.gross, cur)),
    h('td', { className: 'num' }, money(r.earned, cur)),
    h('td', { className: 'num' }, String(r.private_minutes)),
    h('td', { className: 'num' }, String(r.tips)));
}

function empty(cols) {
  return [h('tr', {}, h('td', { colSpan: cols }, 'Nothing yet.'))];
}

/** The earnings page: figures, tables, payout form and list. */
export async function earningsPage() {
  let cur = 'usd';
  const show = async () => {
    const e = await getEarnings();
    cur = e.currency;
    $('earned-balance').textContent = money(e.balance, cur);
    $('earned-balance').dataset.amount = String(e.balance);
    $('earned-pending').textContent = money(e.pending_payouts, cur);
    $('earned-available').textContent = money(e.available, cur);
    const share = e.creator_share_bps / 100;
    $('split').textContent = `You keep ${share}% of every paid minute and tip; the platform keeps ${100 - share}%.`;
    $('by-day').replaceChildren(...(e.by_day.length ? e.by_day.map((d) => row(cur, h('th', { scope: 'row' }, d.day), d)) : empty(5)));
    $('by-room').replaceChildren(...(e.by_room.length
      ? e.by_room.map((r) => row(cur, h('th', { scope: 'row' }, h('span', { title: r.room_id }, new Date(r.last_at).toLocaleString())), r))
      : empty(5)));
    const p = await api('GET', '/v1/creator/payouts');
    $('payouts').replaceChildren(...(p.payouts.length ? p.payouts.map((x) => h('tr', { dataset: { status: x.status } },
      h('td', {}, new Date(x.requested_at).toLocaleString()),
      h('td', { className: 'num' }, money(x.amount, x.currency)),
      h('td', {}, PAYOUT_STATUS[x.status] || x.status, x.last_error ? h('div', { className: 'muted' }, 'last attempt: ' + x.last_error) : ''),
      h('td', {}, x.status === 'requested' ? new Date(x.available_at).toLocaleString() : (x.executed_at ? new Date(x.executed_at).toLocaleString() : '')),
    )) : empty(4)));
  };
  $('payout-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const digits = new Intl.NumberFormat(undefined, { style: 'currency', currency: cur.toUpperCase() }).resolvedOptions().maximumFractionDigits;
    const amount = Math.round(Number($('payout-amount').value) * 10 ** digits);
    try {
      const p = await api('POST', '/v1/creator/payouts', { amount });
      notify(`Payout of ${money(p.amount, p.currency)} requested; it can be paid from ${new Date(p.available_at).toLocaleString()}.`, 'info', { ttl: 8000 });
      $('payout-amount').value = '';
      await show();
    } catch (e) {
      showError(e, 'Payout not requested');
    }
  };
  await show();
  setInterval(() => show().catch(() => {}), 20000);
}
