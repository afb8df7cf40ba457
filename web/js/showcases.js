// Showcase helpers shared by the schedule, showcase and dashboard pages.

const KIND = { performance: 'Performance', workshop: 'Workshop' };

/** "Performance 120 min · Workshop 30 min". */
export function segmentsText(segments) {
  return segments.map((s) => `${KIND[s.kind] || s.kind} ${s.minutes} min`).join(' · ');
}

/** The segment kind's label. */
export function kindText(kind) {
  return KIND[kind] || kind;
}

/** A date and time in the viewer's locale. */
export function when(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** mm:ss (or h:mm:ss) until `ms` (Unix ms), never negative. */
export function countdown(ms) {
  const s = Math.max(0, Math.round((ms - Date.now()) / 1000));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hh ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}
