// A fan's wallet: balance, history, and top-ups (Stripe Checkout when the deployment has Stripe,
// the dev top-up when it runs with TANDEM_DEV_TOPUPS=1).
import { api } from './api.js';
import { $, h, money, notify, showError } from './ui.js';

const KIND_TEXT = {
  top_up: 'Top-up',
  dev_top_up: 'Test credit',
  refund: 'Refund',
  dispute: 'Dispute',
  private_minute: 'Private minute',
  tip: 'Tip',
  payout: 'Payout',
};
export const TOP_UP_AMOUNTS = [500, 1000, 2000];

export function getWallet() {
  return api('GET', '/v1/wallet');
}

/**
 * Which top-ups this deployment offers. Neither is advertised anywhere, so each route is asked
 * with amount 0: an `invalid_input` refusal means it is there and working; `not_configured`
 * (Stripe without a key) or no such route means it is not.
 */
export async function topUpMethods() {
  const probe = async (path) => {
    try {
      await api('POST', path, { amount: 0 });
      return true;
    } catch (e) {
      return e.code === 'invalid_input';
    }
  };
  const [stripe, dev] = await Promise.all([probe('/v1/wallet/top-ups'), probe('/v1/dev/wallet/top-ups')]);
  return { stripe, dev };
}

/** Stripe Checkout: the server makes a session, the browser goes to Stripe's page. */
export async function checkout(amount) {
  const s = await api('POST', '/v1/wallet/top-ups', { amount });
  location.assign(s.url);
}

export function devTopUp(amount) {
  return api('POST', '/v1/dev/wallet/top-ups', { amount });
}

/** The history table's rows. */
export function historyRows(entries, currency) {
  return entries.map((e) => h('tr', {},
    h('td', {}, new Date(e.created_at).toLocaleString()),
    h('td', {}, KIND_TEXT[e.kind] || e.kind),
    h('td', { className: 'num ' + (e.amount < 0 ? 'neg' : 'pos') }, money(e.amount, currency))));
}

/**
 * Top-up buttons into `box` (an element). `after(wallet)` runs when credit arrived. Shows what
 * the deployment offers; says so when it offers nothing.
 */
export async function renderTopUps(box, after) {
  const methods = await topUpMethods();
  box.replaceChildren();
  const wallet = await getWallet();
  const cur = wallet.currency;
  if (methods.stripe) {
    box.append(h('p', {}, 'Pay by card (Stripe Checkout): ',
      ...TOP_UP_AMOUNTS.map((a) => h('button', { type: 'button', className: 'topup-card', onclick: () => checkout(a).catch((e) => showError(e, 'Top-up failed')) }, money(a, cur)))));
  }
  if (methods.dev) {
    box.append(h('p', {}, 'Test credit (development only): ',
      ...TOP_UP_AMOUNTS.map((a) => h('button', {
        type: 'button',
        className: 'topup-dev',
        dataset: { amount: String(a) },
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const w = await devTopUp(a);
            notify(`Added ${money(a, w.currency)}. Balance: ${money(w.balance, w.currency)}.`, 'info', { ttl: 6000 });
            if (after) await after(w);
          } catch (e) {
            showError(e, 'Top-up failed');
          } finally {
            ev.target.disabled = false;
          }
        },
      }, 'Add ' + money(a, cur)))));
  }
  if (!methods.stripe && !methods.dev) box.append(h('p', {}, 'Top-ups are not available on this deployment.'));
}

/** The wallet page. */
export async function walletPage() {
  const show = async () => {
    const w = await getWallet();
    $('balance').textContent = money(w.balance, w.currency);
    $('balance').dataset.amount = String(w.balance);
    $('frozen').hidden = !w.frozen;
    const rows = historyRows(w.entries, w.currency);
    $('history').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colSpan: 3 }, 'No activity yet.'))]));
  };
  const params = new URLSearchParams(location.search);
  if (params.get('topup') === 'success') notify('Payment received. Your balance updates as soon as Stripe confirms it.', 'info');
  if (params.get('topup') === 'cancelled') notify('Top-up cancelled: nothing was charged.', 'warn');
  await show();
  await renderTopUps($('topups'), show);
  setInterval(() => show().catch(() => {}), 15000);
}
