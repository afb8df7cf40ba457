// Tip buttons for a room (fans), and the room's tip announcements (everyone).
import { api } from './api.js';
import { h, money, notify, showError } from './ui.js';

export const TIP_AMOUNTS = [100, 500, 1000];

/** Fill `box` with one button per amount; `roomId()` names the room being watched. */
export function tipButtons(box, roomId, currency = 'usd', onTipped) {
  box.replaceChildren(...TIP_AMOUNTS.map((amount) => h('button', {
    type: 'button',
    className: 'tip',
    dataset: { amount: String(amount) },
    onclick: async (ev) => {
      const room = roomId();
      if (!room) return;
      ev.target.disabled = true;
      try {
        // One key per click: a retried request cannot tip twice.
        const receipt = await api('POST', '/v1/tips', { room_id: room, amount }, { 'Idempotency-Key': crypto.randomUUID() });
        notify(`You tipped ${money(receipt.amount, receipt.currency)}. Balance: ${money(receipt.balance, receipt.currency)}.`, 'info', { ttl: 6000 });
        if (onTipped) onTipped(receipt);
      } catch (e) {
        showError(e, 'Tip not sent');
      } finally {
        ev.target.disabled = false;
      }
    },
  }, 'Tip ' + money(amount, currency))));
}

/** A tip in the room (billing's `tip` notice) as one line of text. */
export function tipText(data) {
  return `${data.from_handle || 'someone'} tipped ${money(data.amount, data.currency)}`;
}

/** Listen for tips in the room and the creator's notes; `show(text, data)` displays them. */
export function onTips(sig, show) {
  sig.on('notice', (m) => {
    if (m.event === 'tip') show(tipText(m.data), m.data);
    if (m.event === 'tip.note' && m.data && m.data.note) show(`${m.data.from_handle}: “${m.data.note}”`, m.data);
  });
}
