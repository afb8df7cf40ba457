// Moderation in a room: the host's controls on each chat line (mute, kick, ban, with a reason
// that only the audit log keeps), what the room is told (`member.removed`, `member.muted`,
// never the reason), and reporting a chat line to the operators.
import { api } from './api.js';
import { h, notify, showError, confirmDialog } from './ui.js';

/** Ask for a reason (and, for mute and ban, a duration) in a dialog; null when cancelled. */
async function askReason(title, timed) {
  const reason = h('input', { id: 'mod-reason', required: true, maxlength: 500, autocomplete: 'off' });
  const minutes = h('select', { id: 'mod-minutes' },
    h('option', { value: '10' }, '10 minutes'), h('option', { value: '60' }, '1 hour'),
    h('option', { value: '1440' }, '1 day'), h('option', { value: '' }, timed === 'ban' ? 'for good' : 'until the room ends'));
  const body = [h('p', {}, h('label', { for: 'mod-reason' }, 'Reason (kept in the audit log, never shown to the room)'), ' ', reason)];
  if (timed) body.push(h('p', {}, h('label', { for: 'mod-minutes' }, 'For'), ' ', minutes));
  const ok = await confirmDialog({ title, body, confirm: title });
  if (!ok) return null;
  const text = reason.value.trim() || 'no reason given';
  return { reason: text, minutes: timed && minutes.value ? Number(minutes.value) : undefined };
}

/** The host's buttons for a chat line by `userId` (`handle`): mute, kick, ban over signaling. */
export function modButtons(sig, userId, handle) {
  const act = (type, title, timed) => async () => {
    const answer = await askReason(`${title} ${handle}`, timed);
    if (!answer) return;
    try {
      const msg = { user_id: userId, reason: answer.reason };
      if (answer.minutes) msg.minutes = answer.minutes;
      await sig.send(type, msg);
      notify(`${handle}: ${title.toLowerCase()} done.`, 'info', { ttl: 4000 });
    } catch (e) {
      showError(e, `${title} failed`);
    }
  };
  return [
    h('button', { type: 'button', className: 'link mod-mute', dataset: { user: userId }, onclick: act('mod.mute', 'Mute', 'mute') }, 'mute'),
    h('button', { type: 'button', className: 'link mod-kick', dataset: { user: userId }, onclick: act('mod.kick', 'Kick', null) }, 'kick'),
    h('button', { type: 'button', className: 'link mod-ban', dataset: { user: userId }, onclick: act('mod.ban', 'Ban', 'ban') }, 'ban'),
  ];
}

/** A "report" button for a chat line: sends it to the operators' queue. */
export function reportButton(roomId, msg) {
  return h('button', {
    type: 'button', className: 'link report', dataset: { user: msg.from },
    onclick: async () => {
      const answer = await askReason('Report this message', null);
      if (!answer) return;
      try {
        await api('POST', '/v1/abuse-reports', { target: 'message', user_id: msg.from, room_id: roomId, message: msg.text, reason: answer.reason });
        notify('Thanks: the operators will look at it.', 'info', { ttl: 5000 });
      } catch (e) {
        showError(e, 'Report not sent');
      }
    },
  }, 'report');
}

/**
 * Tell the room what moderation did; `onRemovedMe(removal)` when this user is the one removed
 * (`kicked` or `banned`), `onMutedMe(muted)` when they are muted or unmuted.
 */
export function onModeration(sig, { roomId, me, handles, onRemovedMe, onMutedMe }) {
  const name = (id) => (handles && handles.get(id)) || 'someone';
  sig.on('member.removed', (m) => {
    if (m.room_id !== roomId()) return;
    if (m.user_id === me) {
      document.body.dataset.removed = m.removal;
      if (onRemovedMe) onRemovedMe(m.removal);
      return;
    }
    notify(`${name(m.user_id)} was ${m.removal === 'banned' ? 'banned' : 'removed'} by the host.`, 'info', { ttl: 5000 });
  });
  sig.on('member.muted', (m) => {
    if (m.room_id !== roomId()) return;
    if (m.user_id === me) {
      document.body.dataset.muted = m.muted ? 'true' : '';
      if (onMutedMe) onMutedMe(m.muted);
      notify(m.muted ? 'The host muted you in this room.' : 'You may chat again.', m.muted ? 'warn' : 'info', { ttl: 8000 });
    }
  });
  sig.on('room.policy', (m) => {
    if (m.room_id === roomId() && m.slow_mode_secs > 0) {
      notify(`Slow mode: one message every ${m.slow_mode_secs} s.`, 'info', { ttl: 5000, key: 'slow' });
    }
  });
}
