// The operators' page: the abuse report queue (ban platform-wide, end the room, dismiss),
// creators' verification decisions, and the audit log of every privileged action.
import { api, requireLogin } from '../api.js';
import { $, h, header, showError, notify, confirmDialog } from '../ui.js';

requireLogin('operator');
header();

async function decide(report, decision) {
  const reason = h('input', { id: 'decide-reason', required: true, maxlength: 500, autocomplete: 'off' });
  const labels = { ban_platform: 'Ban everywhere', end_room: 'End the room', dismiss: 'Dismiss' };
  const ok = await confirmDialog({
    title: labels[decision],
    body: [h('p', {}, h('label', { for: 'decide-reason' }, 'Reason (for the audit log)'), ' ', reason)],
    confirm: labels[decision],
  });
  if (!ok) return;
  try {
    await api('POST', `/v1/admin/reports/${report.report_id}`, { decision, reason: reason.value.trim() || labels[decision] });
    notify('Done.', 'info', { ttl: 3000 });
    await Promise.all([loadReports(), loadAudit()]);
  } catch (e) {
    showError(e, 'Not done');
  }
}

async function loadReports() {
  const { reports } = await api('GET', '/v1/admin/reports');
  $('reports').replaceChildren(...(reports.length ? reports.map((r) => h('tr', { dataset: { report: r.report_id } },
    h('td', {}, new Date(r.created_at).toLocaleString()),
    h('td', {}, r.target_kind),
    h('td', {}, r.target_user || ''),
    h('td', {}, r.message_text || ''),
    h('td', {}, r.reason),
    h('td', {},
      r.target_user ? h('button', { type: 'button', className: 'link ban-platform', onclick: () => decide(r, 'ban_platform') }, 'ban everywhere') : '',
      r.room_id ? h('button', { type: 'button', className: 'link end-room', onclick: () => decide(r, 'end_room') }, 'end room') : '',
      h('button', { type: 'button', className: 'link dismiss', onclick: () => decide(r, 'dismiss') }, 'dismiss'))))
    : [h('tr', {}, h('td', { colspan: 6, className: 'muted' }, 'No open reports.'))]));
}

async function loadVerifications() {
  const { verifications } = await api('GET', '/v1/admin/verifications');
  $('verifications').replaceChildren(...verifications.map((v) => h('li', {}, `${v.creator_id}: ${v.status.replace('_', ' ')}`)));
}

$('verify').onsubmit = async (ev) => {
  ev.preventDefault();
  const decision = ev.submitter && ev.submitter.value === 'reject' ? 'reject' : 'approve';
  try {
    await api('POST', `/v1/admin/verifications/${$('verify-user').value.trim()}`, { decision, reason: $('verify-reason').value.trim() });
    notify(`Creator ${decision === 'approve' ? 'verified' : 'refused'}.`, 'info', { ttl: 4000 });
    await Promise.all([loadVerifications(), loadAudit()]);
  } catch (e) {
    showError(e, 'Decision not recorded');
  }
};

async function loadAudit() {
  const { entries } = await api('GET', '/v1/admin/audit?limit=200');
  $('audit').replaceChildren(...entries.map((e) => h('tr', { dataset: { action: e.action } },
    h('td', {}, new Date(e.at).toLocaleString()),
    h('td', {}, e.actor_kind === 'stripe' ? 'Stripe' : (e.actor_id || '')),
    h('td', {}, e.action.replaceAll('_', ' ')),
    h('td', {}, e.target_user || ''),
    h('td', {}, e.room_id || ''),
    h('td', {}, e.reason),
    h('td', {}, e.service))));
}

Promise.all([loadReports(), loadVerifications(), loadAudit()]).catch((e) => showError(e, 'Cannot load the operator page'));
