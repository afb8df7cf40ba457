// Browser end-to-end tests: real headless Chromium (Debian's package) with a fake camera and
// microphone against a running `tandem serve` at TANDEM_URL (started by ../run.sh with dev
// top-ups on). Screenshots of every page at desktop and phone widths go to ../out/.
import { test, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = process.env.TANDEM_URL || 'http://127.0.0.1:8080';
// Where the server writes account mail (no SMTP in the tests: <TANDEM_DATA_DIR>/mail).
const MAIL_DIR = process.env.TANDEM_E2E_MAIL_DIR;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'out');
const ARGS = [
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const run = Date.now().toString(36);
const contexts = [];

before(() => mkdirSync(OUT, { recursive: true }));
// Each test's browsers close when it ends, so rooms it leaves behind do not load the next one.
afterEach(async () => {
  for (const { ctx, dir } of contexts.splice(0)) {
    await ctx.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A person: their own browser profile (new empty --user-data-dir) and page. */
async function person() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-'));
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: DESKTOP });
  contexts.push({ ctx, dir });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  return page;
}

/** Screenshot `page` as `name`-desktop.png and `name`-phone.png, then back to desktop. */
async function shots(page, name) {
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: path.join(OUT, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(100);
  await page.screenshot({ path: path.join(OUT, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
}

/** The token of the newest `page` link (`/<page>#token=`) mailed to `to`, waiting for it. */
async function mailedToken(to, page, after = 0) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const files = MAIL_DIR ? (() => { try { return readdirSync(MAIL_DIR).sort(); } catch (_) { return []; } })() : [];
    const found = [];
    for (const f of files) {
      const raw = readFileSync(path.join(MAIL_DIR, f), 'utf8');
      if (!raw.includes(`To: ${to}`)) continue;
      // Undo quoted-printable: soft line breaks and =XX escapes.
      const text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, x) => String.fromCharCode(parseInt(x, 16)));
      const m = text.match(new RegExp(`/${page}#token=([A-Za-z0-9_-]+)`));
      if (m) found.push(m[1]);
    }
    if (found.length > after) return found[found.length - 1];
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`no ${page} link mailed to ${to}`);
}

/** Open the emailed verification link in `page`; the email is verified. */
async function verifyEmail(page, email) {
  const token = await mailedToken(email, 'verify.html');
  await page.goto(`${BASE}/verify.html#token=${token}`);
  await page.waitForSelector('body[data-verified=true]', { timeout: 10000 });
  assert.ok(!page.url().includes(token), 'the token leaves the address bar');
}

/** RFC 6238 code of the base32 `secret`, `offset` steps from now. */
function totp(secret, offset = 0) {
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const mac = createHmac('sha1', key).update(msg).digest();
  const o = mac[mac.length - 1] & 15;
  const bin = ((mac[o] & 0x7f) << 24) | (mac[o + 1] << 16) | (mac[o + 2] << 8) | mac[o + 3];
  return String(bin % 1000000).padStart(6, '0');
}

/** Turn on two-factor sign-in on the account page; the secret and the recovery codes. */
async function enableTotp(page) {
  if (!page.url().includes('/account.html')) await page.goto(BASE + '/account.html');
  await page.waitForSelector('body[data-ready=true]', { timeout: 10000 });
  await page.getByRole('button', { name: 'Enable an authenticator app' }).click();
  await page.locator('#tfa-confirm').waitFor({ state: 'visible', timeout: 10000 });
  const secret = (await page.locator('#tfa-secret').innerText()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/, 'a base32 secret is shown');
  await page.getByLabel('Code from the app', { exact: true }).fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#tfa-code-list li').first().waitFor({ timeout: 10000 });
  const codes = await page.locator('#tfa-code-list li').allInnerTexts();
  assert.equal(codes.length, 10, 'ten recovery codes are shown once');
  assert.equal(await text(page, '#tfa-state'), 'on');
  return { secret, codes };
}

/** The e2e operator's authenticator secret, once a test turned two-factor sign-in on. */
let operatorTotp = null;

/**
 * Sign in as the e2e operator. Operators need two-factor sign-in: the first time turns it on
 * (on the account page the app sends them to), later times answer with a code.
 */
async function signInOperator(page) {
  await page.goto(BASE + '/');
  const login = page.locator('#login');
  await login.getByLabel('Email').fill(process.env.TANDEM_E2E_OPERATOR_EMAIL);
  await login.getByLabel('Password').fill(process.env.TANDEM_E2E_OPERATOR_PASSWORD);
  await login.locator('button[type=submit]').click();
  if (operatorTotp) {
    await page.locator('#totp-field:not([hidden])').waitFor({ timeout: 10000 });
    // The next step's code: the one that turned it on is spent (codes are single-use).
    await page.getByLabel('Authenticator code').fill(totp(operatorTotp, 1));
    await login.locator('button[type=submit]').click();
    await page.waitForURL(/dashboard\.html/, { timeout: 10000 });
  } else {
    await page.waitForURL(/account\.html/, { timeout: 10000 });
    operatorTotp = (await enableTotp(page)).secret;
  }
}

/** Sign up through the form, verify the email through the mailed link; lands on the role's page. */
async function signup(page, role, name) {
  await page.goto(BASE + '/');
  const form = page.locator('#signup');
  const handle = `${name}_${run}`.slice(0, 30);
  await form.getByLabel('Email').fill(`${handle}@example.test`);
  await form.getByLabel('Handle').fill(handle);
  await form.getByLabel('Password').fill('correct horse battery');
  await form.getByLabel('I am').selectOption(role);
  await form.locator('button[type=submit]').click();
  const home = role === 'creator' ? /creator\.html/ : /fan\.html/;
  await page.waitForURL(home, { timeout: 10000 });
  await verifyEmail(page, `${handle}@example.test`);
  await page.goto(BASE + (role === 'creator' ? '/creator.html' : '/fan.html'));
  await page.waitForSelector('#conn[data-state=open]', { timeout: 10000 });
  return handle;
}

const userId = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('tandem.session')).user.user_id);
const text = (page, sel) => page.locator(sel).innerText();
const stats = (page) => page.evaluate(() => (window.tandem ? window.tandem.stats() : { bytesReceived: 0, framesDecoded: 0 }));

/** Inbound video bytes and decoded frames rise over `rounds` samples `ms` apart. */
async function assertVideoFlows(page, label, rounds = 2, ms = 1200) {
  const deadline = Date.now() + 20000;
  let first = await stats(page);
  while (first.framesDecoded === 0 && Date.now() < deadline) {
    await page.waitForTimeout(250);
    first = await stats(page);
  }
  assert.ok(first.framesDecoded > 0, `${label}: video starts decoding (${JSON.stringify(first)})`);
  let prev = first;
  for (let i = 0; i < rounds; i++) {
    await page.waitForTimeout(ms);
    const now = await stats(page);
    assert.ok(now.bytesReceived > prev.bytesReceived, `${label}: inbound bytes rise (${prev.bytesReceived} -> ${now.bytesReceived})`);
    assert.ok(now.framesDecoded > prev.framesDecoded, `${label}: decoded frames rise (${prev.framesDecoded} -> ${now.framesDecoded})`);
    prev = now;
  }
}

/** Within `ms`, two samples a second apart show inbound video bytes and frames rising. */
async function waitVideoFlowing(page, label, ms = 25000) {
  const deadline = Date.now() + ms;
  let prev = await stats(page);
  while (Date.now() < deadline) {
    await page.waitForTimeout(1000);
    const now = await stats(page);
    if (now.bytesReceived > prev.bytesReceived && now.framesDecoded > prev.framesDecoded) return;
    prev = now;
  }
  assert.fail(`${label}: video does not flow again within ${ms} ms`);
}

/** The page's remote <video> element is playing (not paused, has frames, time advancing). */
async function assertVideoPlaying(page, selector, label) {
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    return v && !v.paused && v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0.5;
  }, selector, { timeout: 20000 }).catch(() => assert.fail(`${label}: ${selector} is not playing`));
}

async function goLive(creator, title) {
  await creator.getByLabel('Title').fill(title);
  await creator.click('#golive');
  await creator.waitForFunction(() => /^live/.test(document.getElementById('status').textContent), null, { timeout: 20000 });
}

async function watch(fan, title) {
  const button = fan.locator('#rooms button.watch', { hasText: title });
  await button.first().waitFor({ timeout: 15000 });
  await button.first().click();
}

test('broadcast: a fan watches and chats, the creator stages them and takes them off, the end shows within 2 s', async () => {
  const creator = await person();
  const fan = await person();
  await signup(creator, 'creator', 'cr');
  const fanHandle = await signup(fan, 'fan', 'fa');
  await shots(fan, 'fan-directory-empty');
  const title = `broadcast ${run}`;
  await goLive(creator, title);
  await watch(fan, title);
  await assertVideoFlows(fan, 'fan');
  await assertVideoPlaying(fan, '#player', 'fan');

  // The fan says hello; the creator invites them on stage from the chat line.
  await fan.getByLabel('Message').fill('hello from the fan');
  await fan.getByRole('button', { name: 'Send' }).click();
  const invite = creator.locator('#chat button.invite');
  await invite.first().waitFor({ timeout: 10000 });
  await invite.first().click();
  await fan.locator('#stage-accept').click({ timeout: 10000 });
  await fan.waitForSelector('body[data-onstage=true]', { timeout: 10000 });
  await creator.locator('#stage-list li', { hasText: fanHandle }).waitFor({ timeout: 10000 });
  await assertVideoFlows(creator, 'creator plays the stage guest', 1);
  await shots(creator, 'creator-studio-stage');
  await shots(fan, 'fan-watching-on-stage');
  await creator.locator('#stage-list button.stage-off').click();
  await fan.waitForFunction(() => !document.body.dataset.onstage, null, { timeout: 10000 });
  await creator.locator('#stage-list li', { hasText: 'Nobody is on stage' }).waitFor({ timeout: 10000 });

  const clicked = Date.now();
  await creator.click('#end');
  await fan.waitForSelector('body[data-ended="true"]', { timeout: 2000 });
  const took = Date.now() - clicked;
  assert.ok(took <= 2000, `the fan saw the end after ${took} ms`);
  assert.match(await text(fan, '#status'), /creator ended/);
});

test('paid private session: top-up, price confirmed, both see each other, the balance drops each minute, tip, resume after a drop and after the server closes the socket, funds run out, earnings and payout', async () => {
  const creator = await person();
  const fan = await person();
  await signup(creator, 'creator', 'pc');
  const fanHandle = await signup(fan, 'fan', 'pf');
  await creator.goto(BASE + '/');
  await shots(creator, 'index');
  await creator.goto(BASE + '/creator.html');

  // The creator sets $3.00 a minute and takes requests (once the form has loaded the current
  // price: a save before that is overwritten by it).
  await creator.waitForFunction(() => document.getElementById('price-now').textContent.trim() !== '', null, { timeout: 10000 });
  await creator.getByLabel(/Per minute/).fill('3.00');
  await creator.getByRole('button', { name: 'Save price' }).click();
  await creator.locator('#price-now', { hasText: '$3.00' }).waitFor({ timeout: 5000 });
  await creator.getByLabel(/Take private requests/).check();

  // The fan adds $10.00 of test credit.
  await fan.goto(BASE + '/wallet.html');
  await fan.locator('button.topup-dev[data-amount="1000"]').click({ timeout: 10000 });
  await fan.locator('#balance[data-amount="1000"]').waitFor({ timeout: 5000 });
  await fan.locator('#history td', { hasText: 'Test credit' }).waitFor();
  await shots(fan, 'wallet');

  // The creator goes live; the fan finds them, sees the price, asks and confirms it.
  const title = `paid ${run}`;
  await goLive(creator, title);
  await fan.goto(BASE + '/fan.html');
  const card = fan.locator('#rooms li.card', { hasText: title });
  await card.waitFor({ timeout: 15000 });
  assert.match(await card.innerText(), /\$3\.00 \/ min/);
  assert.match(await card.innerText(), /available for private/);
  await shots(fan, 'fan-directory');
  await watch(fan, title);
  await fan.locator('#price', { hasText: '$3.00 / min' }).waitFor({ timeout: 10000 });
  await assertVideoFlows(fan, 'fan watches', 1);
  await fan.click('#private');
  const dialog = fan.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /\$3\.00 \/ min/);
  assert.match(await dialog.locator('#quote-balance').innerText(), /\$10\.00/);
  await fan.screenshot({ path: path.join(OUT, 'fan-confirm-price-desktop.png') });
  await dialog.getByRole('button', { name: /Send request/ }).click();

  // The creator accepts, which ends the broadcast ("going private").
  const accept = creator.locator('#requests li', { hasText: fanHandle }).locator('button.accept');
  await accept.waitFor({ timeout: 15000 });
  assert.match(await creator.locator('#requests li', { hasText: fanHandle }).innerText(), /\$3\.00 \/ min/);
  await accept.click();
  await creator.getByRole('dialog').getByRole('button', { name: /go private/ }).click();
  await creator.waitForURL(/private\.html/, { timeout: 15000 });
  await fan.waitForURL(/private\.html/, { timeout: 15000 });
  await assertVideoFlows(creator, 'creator (private)');
  await assertVideoFlows(fan, 'fan (private)');
  await assertVideoPlaying(creator, '#remote', 'creator');
  await assertVideoPlaying(fan, '#remote', 'fan');

  // Minute 0 is charged at accept: the fan's page shows the cost and the balance. (The server
  // runs with a 30-second billing minute, TANDEM_BILLING_MINUTE_SECS in run.sh.)
  await fan.locator('#cost[data-amount="300"]').waitFor({ timeout: 10000 });
  await fan.locator('#balance[data-amount="700"]').waitFor({ timeout: 5000 });
  assert.match(await text(fan, '#elapsed'), /^0:\d\d$/);

  // A $1.00 tip: the creator hears of it, the fan's balance drops.
  await fan.locator('#tips button[data-amount="100"]').click();
  await fan.locator('#balance[data-amount="600"]').waitFor({ timeout: 5000 });
  await creator.locator('#chat li', { hasText: 'tipped $1.00' }).waitFor({ timeout: 5000 });

  // The fan's socket drops (a non-normal close); the client comes back and resumes its place:
  // welcome says resumed, the creator sees no member.left, and chat still flows both ways.
  await fan.evaluate(() => window.tandem.sig.drop());
  await fan.waitForFunction(() => window.tandem.sig.stats.resumes >= 1 && window.tandem.sig.state === 'open', null, { timeout: 15000 });
  assert.equal(await fan.evaluate(() => window.tandem.sig.welcome.resumed), true);
  await fan.locator('#activity li', { hasText: 'resumed' }).waitFor();
  await fan.getByLabel('Message').fill('still here');
  await fan.getByRole('button', { name: 'Send' }).click();
  await creator.locator('#chat li', { hasText: 'still here' }).waitFor({ timeout: 5000 });
  assert.equal(await creator.evaluate(() => document.body.dataset.memberLeft), undefined, 'the creator saw no member.left');

  // The fan's publisher is torn down; it is re-established and the creator sees video again.
  await fan.evaluate(() => window.tandem.restartMedia());
  await waitVideoFlowing(creator, 'creator after the fan re-published');

  // Minute 1 starts 30 s after the accept: the page shows it charged, and the low balance.
  await fan.locator('#cost[data-amount="600"]').waitFor({ timeout: 40000 });
  await fan.locator('#balance[data-amount="300"]').waitFor({ timeout: 5000 });
  await fan.locator('[data-key=lowbalance]').waitFor({ timeout: 5000 });

  // Access tokens live 30 s here (TANDEM_ACCESS_TOKEN_TTL_SECS): before the fan's socket token
  // expires, the page refreshes and renews the socket in-band (`auth`): the socket is never
  // closed for it (no 4401, no reconnect), no member.left, chat flows.
  const connectsBefore = await fan.evaluate(() => window.tandem.sig.stats.connects);
  await fan.waitForFunction(() => window.tandem.sig.stats.renewed >= 1 && window.tandem.sig.state === 'open', null, { timeout: 45000 });
  assert.equal(await fan.evaluate(() => window.tandem.sig.stats.expired), 0, 'no socket was closed at its token expiry');
  assert.equal(await fan.evaluate(() => window.tandem.sig.stats.connects), connectsBefore, 'the socket stayed open across token renewals');
  await fan.getByLabel('Message').fill('after renewal');
  await fan.getByRole('button', { name: 'Send' }).click();
  await creator.locator('#chat li', { hasText: 'after renewal' }).waitFor({ timeout: 5000 });
  assert.equal(await creator.evaluate(() => document.body.dataset.memberLeft), undefined, 'the creator saw no member.left');

  await shots(fan, 'private-fan');
  await shots(creator, 'private-creator');

  // Minute 2 takes the last $3.00; $0.00 cannot pay minute 3: billing ends the room when it
  // starts (90 s after the accept).
  await fan.waitForSelector('body[data-reason=funds_exhausted]', { timeout: 100000 });
  await creator.waitForSelector('body[data-reason=funds_exhausted]', { timeout: 5000 });
  assert.match(await text(fan, '#ended'), /balance ran out/i);
  await shots(fan, 'private-fan-funds-exhausted');

  // Earnings: 80% of $9.00 + 80% of $1.00 = $8.00, three paid minutes and one tip in this room.
  await creator.goto(BASE + '/earnings.html');
  await creator.locator('#earned-balance[data-amount="800"]').waitFor({ timeout: 10000 });
  const row = await creator.locator('#by-room tr').first().innerText();
  assert.match(row, /\$10\.00\s+\$8\.00\s+3\s+1/);
  assert.match(await text(creator, '#split'), /80%/);
  // Payouts need two-factor sign-in.
  await enableTotp(creator);
  await creator.goto(BASE + '/earnings.html');
  await creator.locator('#earned-balance[data-amount="800"]').waitFor({ timeout: 10000 });
  await creator.getByLabel('Amount').fill('1.00');
  await creator.getByRole('button', { name: 'Request payout' }).click();
  await creator.locator('#payouts tr[data-status=requested]').waitFor({ timeout: 5000 });
  await shots(creator, 'earnings');
});

test('private session in p2p mode from the creator profile: both see each other', async () => {
  const creator = await person();
  const fan = await person();
  await signup(creator, 'creator', 'qc');
  await signup(fan, 'fan', 'qf');
  await creator.getByLabel(/Take private requests/).check();
  await creator.waitForTimeout(300);
  const id = await userId(creator);
  await fan.goto(`${BASE}/profile.html?id=${id}`);
  await fan.locator('#presence', { hasText: 'available' }).waitFor({ timeout: 10000 });
  assert.match(await text(fan, '#price'), /free/);
  await shots(fan, 'profile');
  await fan.getByLabel('Media').selectOption('p2p');
  await fan.click('#request');
  await fan.getByRole('dialog').getByRole('button', { name: /Send request/ }).click();
  await creator.locator('#requests button.accept').first().click({ timeout: 15000 });
  await creator.waitForURL(/private\.html/, { timeout: 15000 });
  await fan.waitForURL(/private\.html/, { timeout: 15000 });
  await assertVideoFlows(creator, 'creator (p2p)');
  await assertVideoFlows(fan, 'fan (p2p)');
  await creator.click('#hangup');
  await fan.waitForSelector('body[data-ended="true"]', { timeout: 10000 });
  assert.match(await text(fan, '#ended'), /creator ended/);
});

/** Average colour (0–255) of the middle of `page`'s #player video. */
const sampleVideo = (page) => page.evaluate(() => {
  const v = document.getElementById('player');
  const c = document.createElement('canvas');
  c.width = 64; c.height = 36;
  const ctx = c.getContext('2d');
  ctx.drawImage(v, 0, 0, 64, 36);
  const d = ctx.getImageData(16, 9, 32, 18).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) { sum[0] += d[i]; sum[1] += d[i + 1]; sum[2] += d[i + 2]; }
  const n = d.length / 4;
  return sum.map((x) => x / n);
});

const distance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

test('AI room without Daydream: the fan proposes and votes, and the applied prompt tints the fan\'s video as the local effect defines', async () => {
  const creator = await person();
  const fan = await person();
  await signup(creator, 'creator', 'ai');
  await signup(fan, 'fan', 'av');
  const title = `ai show ${run}`;
  const first = 'first light';
  await creator.check('#ai-on');
  await creator.fill('#ai-prompt', first);
  await goLive(creator, title);
  assert.match(await text(creator, '#ai-mode'), /local preview effect/);
  await watch(fan, title);
  await fan.locator('#ai-box:not([hidden])').waitFor({ timeout: 10000 });
  assert.equal(await text(fan, '#ai-current'), first);
  await assertVideoFlows(fan, 'fan');
  await assertVideoPlaying(fan, '#player', 'fan');

  // The tint of a prompt, as the effect defines it; pick a next prompt whose tint is far away.
  const tint = (p) => fan.evaluate((x) => window.tandem.effectColor(x).map((c) => c * 255), p);
  const firstTint = await tint(first);
  let next = null;
  let nextTint = null;
  for (const candidate of ['midnight ocean', 'molten gold', 'green aurora', 'violet storm', 'red desert', 'ice cave']) {
    const t = await tint(candidate);
    if (distance(t, firstTint) > 250) { next = candidate; nextTint = t; break; }
  }
  assert.ok(next, 'a prompt with a clearly different tint');
  const before = await sampleVideo(fan);
  assert.ok(distance(before, firstTint) < distance(before, nextTint), `the video carries the first tint (${before})`);
  await shots(creator, 'creator-studio-ai');

  // Propose and vote (again if the round closed in between), until the round applies it.
  for (let attempt = 0; attempt < 3; attempt++) {
    await fan.fill('#ai-propose', next);
    await fan.locator('#ai-box button[type=submit]').click();
    const row = fan.locator('#ai-box .proposals li', { hasText: next });
    await row.first().waitFor({ timeout: 5000 });
    await row.first().locator('button.vote').click();
    const voted = await row.first().locator('button.vote', { hasText: 'voted' }).waitFor({ timeout: 2000 }).then(() => true, () => false);
    if (voted) break;
  }
  await fan.waitForFunction((p) => document.getElementById('ai-current').textContent === p, next, { timeout: 15000 });

  // The fan's own video turns to the new tint.
  const deadline = Date.now() + 10000;
  let after = await sampleVideo(fan);
  while (!(distance(after, nextTint) < distance(after, firstTint)) && Date.now() < deadline) {
    await fan.waitForTimeout(250);
    after = await sampleVideo(fan);
  }
  assert.ok(distance(after, nextTint) < distance(after, firstTint), `the video now carries the tint of "${next}" (${before} -> ${after})`);
  assert.ok(distance(after, before) > 60, `the pixels changed visibly (${before} -> ${after})`);
  await shots(fan, 'fan-watching-ai');
  await creator.click('#end');
  await fan.waitForSelector('body[data-ended="true"]', { timeout: 5000 });
});

test('showcase: a fan finds it on the schedule and joins it live, asks in the workshop, another fan upvotes, the artist sees it first; the operator dashboard draws its charts', async () => {
  const artist = await person();
  const fan = await person();
  const other = await person();
  await signup(artist, 'creator', 'sa');
  await signup(fan, 'fan', 'sf');
  await signup(other, 'fan', 'sg');

  // The artist schedules a showcase (1 minute of performance, then the workshop) and starts it.
  const title = `showcase ${run}`;
  await artist.goto(BASE + '/schedule.html');
  await artist.getByLabel('Title').fill(title);
  await artist.getByLabel('Performance (minutes)').fill('1');
  await artist.getByRole('button', { name: 'Schedule' }).click();
  const card = artist.locator('#showcases li.showcase', { hasText: title });
  await card.waitFor({ timeout: 10000 });
  await card.locator('h2 a').click();
  await artist.waitForURL(/showcase\.html\?id=/);
  const url = artist.url();
  await artist.click('#sc-start');
  await artist.waitForSelector('body[data-status=live]', { timeout: 20000 });

  // A fan opens the schedule, sees it live and joins: the banner says performance, video plays.
  await fan.goto(BASE + '/schedule.html');
  await shots(fan, 'schedule');
  const live = fan.locator('#showcases li.showcase[data-status=live]', { hasText: title });
  await live.waitFor({ timeout: 15000 });
  await live.locator('a.watch').click();
  await fan.waitForSelector('#segment[data-kind=performance]', { timeout: 15000 });
  await assertVideoFlows(fan, 'showcase fan', 1);

  // The artist moves on to the workshop: the fan's banner follows (segment.started).
  await artist.click('#sc-next');
  await fan.waitForSelector('#segment[data-kind=workshop]', { timeout: 10000 });
  await fan.waitForSelector('#ask:not([hidden])', { timeout: 5000 });

  // Another fan asks first; the fan asks later and the other fan upvotes the fan's question.
  await other.goto(url);
  await other.waitForSelector('#ask:not([hidden])', { timeout: 15000 });
  await other.getByLabel('Your question').fill('an early question');
  await other.getByRole('button', { name: 'Ask' }).click();
  await other.locator('#questions li.question', { hasText: 'an early question' }).waitFor({ timeout: 10000 });
  await fan.getByLabel('Your question').fill('how do you tune your guitar?');
  await fan.getByRole('button', { name: 'Ask' }).click();
  const mine = other.locator('#questions li.question', { hasText: 'how do you tune your guitar?' });
  await mine.waitFor({ timeout: 10000 });
  await mine.locator('button.vote').click();
  await other.locator('#questions li.question[data-votes="1"]', { hasText: 'how do you tune' }).waitFor({ timeout: 10000 });

  // The artist sees it first in the queue.
  await artist.waitForFunction(() => {
    const first = document.querySelector('#questions li.question');
    return first && first.textContent.includes('how do you tune your guitar?') && first.dataset.votes === '1';
  }, null, { timeout: 15000 });
  await shots(artist, 'showcase-artist-queue');
  await shots(fan, 'showcase-fan-workshop');

  // The operator's dashboard draws the viewers over time, views per showcase, and retention.
  const op = await person();
  // Operators enable two-factor sign-in before the dashboard works.
  await signInOperator(op);
  await op.goto(BASE + '/dashboard.html');
  await op.waitForSelector('body[data-ready=true]', { timeout: 20000 });
  await op.waitForSelector('#chart-viewers path.series', { state: 'attached', timeout: 10000 });
  assert.ok(await op.locator('#chart-viewers circle.point').count() >= 1, 'viewers over time has points');
  assert.equal(await op.locator('#chart-retention rect.bar').count(), 16, 'four quarters of four series');
  assert.ok(await op.locator('#chart-views rect.bar').count() >= 2, 'views and watch minutes bars');
  assert.ok(Number(await op.locator('#figures dd[data-key=unique_viewers]').innerText()) >= 1, 'the fans are counted');
  await shots(op, 'dashboard');
});

test('accounts: the email is verified by its link, two-factor sign-in is turned on and asked for, sessions are listed, a forgotten password is reset by mail', async () => {
  const page = await person();
  const handle = await signup(page, 'fan', 'acct');
  const email = `${handle}@example.test`;
  await page.goto(BASE + '/account.html');
  await page.waitForSelector('body[data-ready=true]', { timeout: 10000 });
  assert.equal(await text(page, '#email-state'), 'verified');
  assert.equal(await page.locator('#sessions tr[data-current=true]').count(), 1, 'this device is listed');
  const { secret, codes } = await enableTotp(page);
  await shots(page, 'account');

  // Signing in again asks for the code.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(BASE + '/', { timeout: 10000 });
  const login = page.locator('#login');
  await login.getByLabel('Email').fill(email);
  await login.getByLabel('Password').fill('correct horse battery');
  await login.locator('button[type=submit]').click();
  await page.locator('#totp-field:not([hidden])').waitFor({ timeout: 10000 });
  await shots(page, 'signin-totp');
  // The next step's code: the one that turned it on is spent.
  await page.getByLabel('Authenticator code').fill(totp(secret, 1));
  await login.locator('button[type=submit]').click();
  await page.waitForURL(/fan\.html/, { timeout: 10000 });

  // Forgot the password: a link by mail, a new password, every device signed out.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(BASE + '/', { timeout: 10000 });
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.waitForURL(/reset\.html/);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await page.waitForSelector('body[data-sent=true]', { timeout: 10000 });
  const token = await mailedToken(email, 'reset.html');
  await page.goto(`${BASE}/reset.html#token=${token}`);
  await page.locator('#choose').waitFor({ state: 'visible', timeout: 10000 });
  assert.ok(!page.url().includes(token), 'the token leaves the address bar');
  await page.getByLabel('New password').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.waitForSelector('body[data-reset=true]', { timeout: 10000 });
  await shots(page, 'password-reset');
  await page.goto(BASE + '/');
  await login.getByLabel('Email').fill(email);
  await login.getByLabel('Password').fill('a brand new passphrase');
  await login.locator('button[type=submit]').click();
  await page.locator('#totp-field:not([hidden])').waitFor({ timeout: 10000 });
  // A recovery code instead (the app's next code may be the one just used).
  await page.getByLabel('Authenticator code').fill(codes[0]);
  await login.locator('button[type=submit]').click();
  await page.waitForURL(/fan\.html/, { timeout: 10000 });
});

test('safety: the creator sets a blocklist, bans a fan from a chat line, the fan is out; the operator sees it in the audit log and dismisses a report', async () => {
  const creator = await person();
  const fan = await person();
  const bystander = await person();
  await signup(creator, 'creator', 'mc');
  const fanHandle = await signup(fan, 'fan', 'mf');
  await signup(bystander, 'fan', 'mb');

  // The safety page: verification is automatic here, the rules save.
  await creator.goto(BASE + '/safety.html');
  await creator.waitForSelector('body[data-verified=true]', { timeout: 10000 });
  await creator.getByLabel(/Blocked words/).fill('forbidden phrase\nslur');
  await creator.locator('#rules button[type=submit]').click();
  await creator.waitForSelector('body[data-saved=true]', { timeout: 10000 });
  await shots(creator, 'creator-safety');
  await creator.goto(BASE + '/creator.html');
  await creator.waitForSelector('#conn[data-state=open]', { timeout: 10000 });

  const title = `moderated ${run}`;
  await goLive(creator, title);
  await watch(fan, title);
  await watch(bystander, title);
  await assertVideoFlows(fan, 'fan', 1);

  // A blocked word is refused with a clear notice and never shown in the room.
  await fan.getByLabel('Message').fill('what a SLUR');
  await fan.getByRole('button', { name: 'Send' }).click();
  await fan.locator('.notice.error', { hasText: /blocks/ }).waitFor({ timeout: 10000 });
  await fan.getByLabel('Message').fill('first clean line');
  await fan.getByRole('button', { name: 'Send' }).click();
  await bystander.locator('#chat li', { hasText: 'first clean line' }).waitFor({ timeout: 10000 });
  assert.equal(await bystander.locator('#chat li', { hasText: 'SLUR' }).count(), 0);

  // The bystander reports the line; the creator bans its author from the chat line.
  await bystander.locator('#chat li', { hasText: 'first clean line' }).locator('button.report').click();
  await bystander.locator('#mod-reason').fill('rude to everyone');
  await bystander.locator('dialog button[value=ok]').click();
  await bystander.locator('.notice', { hasText: 'operators will look' }).waitFor({ timeout: 10000 });
  const line = creator.locator('#chat li', { hasText: 'first clean line' });
  await line.waitFor({ timeout: 10000 });
  await line.locator('button.mod-ban').click();
  await creator.locator('#mod-reason').fill('spamming the room');
  await creator.locator('dialog button[value=ok]').click();
  await fan.waitForSelector('body[data-removed=banned]', { timeout: 5000 });
  assert.match(await text(fan, '#status'), /banned/);
  await shots(fan, 'fan-banned');

  // The operator's page lists the report and the ban in the audit log; dismissing empties the queue.
  const op = await person();
  await signInOperator(op);
  await op.goto(BASE + '/admin.html');
  await op.locator('#audit tr[data-action=ban]').first().waitFor({ timeout: 10000 });
  const report = op.locator('#reports tr', { hasText: 'rude to everyone' });
  await report.waitFor({ timeout: 10000 });
  await shots(op, 'operator-reports-audit');
  await report.locator('button.dismiss').click();
  await op.locator('#decide-reason').fill('a ban already covers it');
  await op.locator('dialog button[value=ok]').click();
  await op.locator('#audit tr[data-action=report_dismissed]').first().waitFor({ timeout: 10000 });
  assert.ok(fanHandle);
});
