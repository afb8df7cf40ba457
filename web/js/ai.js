// AI rooms (docs/ai.md): the local preview effect (a WebGL shader over the camera, drawn to a
// canvas that is published over WHIP), the artist's audio meter, the creator's AI panel and the
// audience's prompt proposals and votes.
import { api } from './api.js';
import { $, h, notify, showError } from './ui.js';

/** The tint the local effect gives a prompt: a hue from a hash of its text (FNV-1a), as RGB 0–1. */
export function effectColor(prompt) {
  let x = 0x811c9dc5;
  for (const c of String(prompt)) { x ^= c.codePointAt(0); x = Math.imul(x, 0x01000193) >>> 0; }
  const hue = (x % 360) / 60;
  const f = hue - Math.floor(hue);
  const table = [[1, f, 0], [1 - f, 1, 0], [0, 1, f], [0, 1 - f, 1], [f, 0, 1], [1, 0, 1 - f]];
  return table[Math.floor(hue) % 6];
}

/** How strongly the tint covers the camera: 0.55 plus a little per `guidance_scale`, at most 0.85. */
export function effectStrength(params) {
  const g = Number((params && params.guidance_scale) || 0);
  return Math.min(0.85, 0.55 + 0.03 * g);
}

const VERTEX = `attribute vec2 p; varying vec2 uv;
void main() { uv = vec2((p.x + 1.0) / 2.0, (1.0 - p.y) / 2.0); gl_Position = vec4(p, 0.0, 1.0); }`;
const FRAGMENT = `precision mediump float; varying vec2 uv; uniform sampler2D cam; uniform vec3 tint;
uniform float strength; uniform float ripple; uniform float time;
void main() {
  vec2 w = uv + ripple * 0.01 * vec2(sin(uv.y * 40.0 + time), cos(uv.x * 40.0 + time));
  vec3 c = texture2D(cam, w).rgb;
  gl_FragColor = vec4(mix(c, tint, strength), 1.0);
}`;

/**
 * The local preview effect: the camera drawn through the shader onto a canvas. `stream` is
 * what to publish (the canvas's video plus the camera's audio); `update({prompt, params})`
 * redraws with new values. Falls back to a 2D canvas tint without WebGL.
 */
export function localEffect(camera, canvas) {
  const video = document.createElement('video');
  video.muted = true; video.playsInline = true; video.srcObject = camera; video.play().catch(() => {});
  canvas.width = 640; canvas.height = 360;
  let state = { tint: [1, 1, 1], strength: 0, ripple: 0 };
  const gl = canvas.getContext('webgl', { preserveDrawingBuffer: true });
  let draw;
  if (gl) {
    const shader = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s); return s; };
    const prog = gl.createProgram();
    gl.attachShader(prog, shader(gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(prog);
    gl.useProgram(prog);
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(prog, 'p');
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
    gl.bindTexture(gl.TEXTURE_2D, gl.createTexture());
    for (const [k, v] of [[gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) gl.texParameteri(gl.TEXTURE_2D, k, v);
    const u = (n) => gl.getUniformLocation(prog, n);
    draw = (t) => {
      if (video.readyState >= 2) gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGB, gl.RGB, gl.UNSIGNED_BYTE, video);
      gl.uniform3fv(u('tint'), state.tint);
      gl.uniform1f(u('strength'), state.strength);
      gl.uniform1f(u('ripple'), state.ripple);
      gl.uniform1f(u('time'), t / 300);
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    };
  } else {
    const ctx = canvas.getContext('2d');
    draw = () => {
      if (video.readyState >= 2) ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      const [r, g, b] = state.tint.map((x) => Math.round(x * 255));
      ctx.globalAlpha = state.strength; ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(0, 0, canvas.width, canvas.height); ctx.globalAlpha = 1;
    };
  }
  let running = true;
  const loop = (t) => { if (!running) return; draw(t); requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  // requestAnimationFrame pauses in background tabs; keep frames coming for the viewers.
  const timer = setInterval(() => draw(performance.now()), 100);
  const stream = new MediaStream([...canvas.captureStream(30).getVideoTracks(), ...camera.getAudioTracks()]);
  return {
    stream,
    update({ prompt, params }) {
      state = { tint: effectColor(prompt), strength: effectStrength(params), ripple: Number((params && params.delta) || 0) };
    },
    stop() { running = false; clearInterval(timer); },
  };
}

/** Measure the microphone: `onLevel(level 0–1, beat)` ten times a second. Returns a stop function. */
export function audioMeter(stream, onLevel) {
  const track = stream.getAudioTracks()[0];
  if (!track) return () => {};
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  let avg = 0;
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    const level = Math.min(1, Math.sqrt(sum / buf.length) * 4);
    const beat = level > 0.1 && level > avg * 1.5;
    avg = avg * 0.9 + level * 0.1;
    onLevel(level, beat);
  }, 100);
  return () => { clearInterval(timer); ctx.close().catch(() => {}); };
}

/** Proposals of the current round, with votes, as a list; `actions(p)` gives each row's buttons. */
function proposals(list) {
  const items = new Map();   // proposal id -> {text, votes}
  const render = (actions) => {
    const rows = [...items.entries()].sort((a, b) => b[1].votes - a[1].votes)
      .map(([id, p]) => h('li', { dataset: { proposal: id } }, h('span', { className: 'prompt' }, p.text), ' ', h('span', { className: 'votes' }, p.votes + ' votes'), ...actions(id)));
    list.replaceChildren(...(rows.length ? rows : [h('li', { className: 'muted' }, 'No proposals yet this round.')]));
  };
  return { items, render };
}

/** The audience side: current prompt, proposing, voting. `roomId()` is the room watched. */
export function audiencePanel(sig, { box, roomId }) {
  const props = proposals(box.querySelector('.proposals'));
  let voted = null;
  const render = () => props.render((id) => [h('button', { type: 'button', className: 'vote', disabled: !!voted, onclick: () => vote(id) }, voted === id ? 'voted' : 'vote')]);
  const mine = (m) => roomId() && m.room_id === roomId();
  const vote = (id) => sig.send('prompt.vote', { proposal_id: id }).then(() => { voted = id; render(); }).catch((e) => showError(e, 'Vote not counted'));
  const show = (prompt) => { box.querySelector('.current').textContent = prompt; };
  sig.on('prompt.proposed', (m) => { if (mine(m)) { props.items.set(m.proposal_id, { text: m.text, votes: 0 }); render(); } });
  sig.on('prompt.votes', (m) => { if (mine(m)) { for (const t of m.totals) { const p = props.items.get(t.proposal_id); if (p) p.votes = t.votes; } render(); } });
  sig.on('prompt.vetoed', (m) => { if (mine(m)) { props.items.delete(m.proposal_id); render(); } });
  sig.on('prompt.round', (m) => { if (mine(m)) { props.items.clear(); voted = null; render(); } });
  sig.on('prompt.locked', (m) => { if (mine(m)) box.dataset.locked = m.locked ? 'true' : ''; });
  sig.on('prompt.applied', (m) => { if (mine(m)) { show(m.prompt); notify('Now showing: ' + m.prompt, 'info', { ttl: 5000 }); } });
  sig.on('ai.updated', (m) => { if (mine(m)) show(m.prompt); });
  box.querySelector('form').onsubmit = (ev) => {
    ev.preventDefault();
    const input = box.querySelector('input');
    if (input.value) sig.send('prompt.propose', { text: input.value }).catch((e) => showError(e, 'Proposal not taken'));
    input.value = '';
  };
  return {
    open(ai) { box.hidden = !ai; if (!ai) return; props.items.clear(); voted = null; render(); show(ai.prompt); box.querySelector('.mode').textContent = ai.mode === 'daydream' ? 'Daydream AI' : 'local preview effect'; },
  };
}

/** The creator's AI panel: prompt and model, health, rounds (lock, veto, apply) and the audio meter. */
export function hostPanel(sig, { box, room }) {
  const props = proposals(box.querySelector('.proposals'));
  const mine = (m) => room() && m.room_id === room().id;
  const render = () => props.render((id) => [
    h('button', { type: 'button', className: 'apply', onclick: () => sig.send('prompt.apply', { proposal_id: id }).catch((e) => showError(e, 'Not applied')) }, 'apply'),
    h('button', { type: 'button', className: 'veto', onclick: () => sig.send('prompt.veto', { proposal_id: id }).catch((e) => showError(e, 'Not vetoed')) }, 'veto'),
  ]);
  sig.on('prompt.proposed', (m) => { if (mine(m)) { props.items.set(m.proposal_id, { text: m.text, votes: 0 }); render(); } });
  sig.on('prompt.votes', (m) => { if (mine(m)) { for (const t of m.totals) { const p = props.items.get(t.proposal_id); if (p) p.votes = t.votes; } render(); } });
  sig.on('prompt.vetoed', (m) => { if (mine(m)) { props.items.delete(m.proposal_id); render(); } });
  sig.on('prompt.round', (m) => { if (mine(m)) { props.items.clear(); render(); } });
  $('ai-lock').onchange = (ev) => sig.send('prompt.lock', { locked: ev.target.checked }).catch((e) => { ev.target.checked = !ev.target.checked; showError(e, 'Not changed'); });
  $('ai-form').onsubmit = async (ev) => {
    ev.preventDefault();
    if (!room()) return;
    const body = { prompt: $('ai-prompt').value || undefined, model_id: $('ai-model').value || undefined, reload: $('ai-reload').checked };
    try {
      const ai = await api('PATCH', '/v1/rooms/' + room().id + '/ai', body);
      notify('AI prompt: ' + ai.prompt, 'info', { ttl: 4000 });
    } catch (e) {
      showError(e, e.code === 'reload_required' ? 'Tick "reload" to restart the pipeline' : 'AI not changed');
    }
  };
  let healthTimer = null;
  return {
    start(ai) {
      box.dataset.mode = ai.mode;
      $('ai-mode').textContent = ai.mode === 'daydream' ? 'Daydream AI' : 'local preview effect';
      props.items.clear(); render();
      clearInterval(healthTimer);
      const health = async () => {
        if (!room() || ai.mode !== 'daydream') { $('ai-health').textContent = 'drawn in this browser'; return; }
        const r = await api('GET', '/v1/rooms/' + room().id).catch(() => null);
        const hl = r && r.ai && r.ai.health;
        $('ai-health').textContent = hl ? `in ${hl.input_fps ?? '?'} fps · out ${hl.output_fps ?? '?'} fps${hl.last_error ? ' · ' + hl.last_error : ''}` : 'unknown';
      };
      health();
      healthTimer = setInterval(health, 5000);
    },
    stop() { clearInterval(healthTimer); props.items.clear(); render(); },
    level(level) { $('ai-meter').value = level; },
  };
}
