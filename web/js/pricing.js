// Prices: a creator's own per-minute price (studio) and any creator's price (fans, before asking).
import { api } from './api.js';
import { $, money, notify, showError } from './ui.js';

export function priceOf(creatorId) {
  return api('GET', `/v1/creators/${creatorId}/pricing`);
}

export function perMinute(p) {
  return p.price_per_minute ? money(p.price_per_minute, p.currency) + ' / min' : 'free';
}

/** The studio's pricing form (#pricing with #price input, in major units). */
export async function pricingForm() {
  const form = $('pricing');
  const input = $('price');
  let current = await api('GET', '/v1/creator/pricing');
  const digits = () => new Intl.NumberFormat(undefined, { style: 'currency', currency: current.currency.toUpperCase() }).resolvedOptions().maximumFractionDigits;
  const show = () => {
    input.value = (current.price_per_minute / 10 ** digits()).toFixed(digits());
    input.min = String(current.min / 10 ** digits());
    input.max = String(current.max / 10 ** digits());
    $('price-currency').textContent = current.currency.toUpperCase();
    $('price-now').textContent = perMinute(current);
  };
  show();
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const minor = Math.round(Number(input.value) * 10 ** digits());
    try {
      current = await api('PUT', '/v1/creator/pricing', { price_per_minute: minor });
      show();
      notify('Price saved: ' + perMinute(current) + '. New requests are quoted at this price.', 'info', { ttl: 5000 });
    } catch (e) {
      showError(e, 'Price not saved');
    }
  };
  return current;
}
