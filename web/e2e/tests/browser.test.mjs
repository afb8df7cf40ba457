// Browser end-to-end tests: real headless Chromium (Debian's package) with a fake camera and
// microphone against a running `tandem serve` at TANDEM_URL. Screenshots go to ../out/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = process.env.TANDEM_URL || 'http://127.0.0.1:8080';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'out');
const ARGS = [
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];
const run = Date.now().toString(36);
const contexts = [];

before(() => mkdirSync(OUT, { recursive: true }));
after(async () => {
  for (const { ctx, dir } of contexts) {
    await ctx.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A person: their own browser profile (new empty --user-data-dir) and page. */
async function person() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-e2e-'));
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 700 } });
  contexts.push({ ctx, dir });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  return page;
}

/** Sign up through the form; lands on the role's page. */
async function signup(page, role, name) {
  await page.goto(BASE + '/');
  const form = page.locator('#signup');
  const handle = `${name}_${run}`.slice(0, 30);
  await form.locator('[name=email]').fill(`${handle}@example.test`);
  await form.locator('[name=handle]').fill(handle);
  await form.locator('[name=password]').fill('correct horse battery');
  await form.locator('[name=role]').selectOption(role);
  await form.locator('button').click();
  await page.waitForURL(role === 'creator' ? /creator\.html/ : /fan\.html/, { timeout: 10000 });
  return handle;
}

async function stats(page) {
  return page.evaluate(() => (window.tandemStats ? window.tandemStats() : { bytesReceived: 0, framesDecoded: 0 }));
}

/** Inbound video bytes and decoded frames rise over `rounds` samples `ms` apart. */
async function assertVideoFlows(page, label, rounds = 3, ms = 1500) {
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

async function goLive(creator, title) {
  await creator.fill('#title', title);
  await creator.click('#golive');
  await creator.waitForFunction(() => /^live/.test(document.getElementById('status').textContent), null, { timeout: 20000 });
}

async function watch(fan, title) {
  const button = fan.locator('#rooms button', { hasText: title });
  await button.first().waitFor({ timeout: 15000 });
  await button.first().click();
}

test('a creator goes live, a fan watches, and sees the end within 2 s', async () => {
  const creator = await person();
  const fan = await person();
  await signup(creator, 'creator', 'cr');
  await signup(fan, 'fan', 'fa');
  const title = `broadcast ${run}`;
  await goLive(creator, title);
  await watch(fan, title);
  await assertVideoFlows(fan, 'fan');
  await creator.screenshot({ path: path.join(OUT, 'creator-live.png') });
  await fan.screenshot({ path: path.join(OUT, 'fan-watching.png') });

  const clicked = Date.now();
  await creator.click('#end');
  await fan.waitForSelector('body[data-ended="true"]', { timeout: 2000 });
  const took = Date.now() - clicked;
  assert.ok(took <= 2000, `the fan saw the end after ${took} ms`);
  await fan.screenshot({ path: path.join(OUT, 'fan-ended.png') });
});

for (const media of ['relay', 'p2p']) {
  test(`a private session in ${media} mode: both sides see each other`, async () => {
    const creator = await person();
    const fan = await person();
    await signup(creator, 'creator', `pc${media}`);
    await signup(fan, 'fan', `pf${media}`);
    await creator.check('#available');
    const title = `private ${media} ${run}`;
    await goLive(creator, title);
    await watch(fan, title);
    await fan.selectOption('#mode', media);
    await fan.click('#private');
    const accept = creator.locator('#requests button', { hasText: 'accept' });
    await accept.first().waitFor({ timeout: 15000 });
    await accept.first().click();
    await creator.waitForURL(/private\.html/, { timeout: 15000 });
    await fan.waitForURL(/private\.html/, { timeout: 15000 });
    await assertVideoFlows(creator, `creator (${media})`);
    await assertVideoFlows(fan, `fan (${media})`);
    await creator.screenshot({ path: path.join(OUT, `private-${media}-creator.png`) });
    await fan.screenshot({ path: path.join(OUT, `private-${media}-fan.png`) });
    await creator.click('#hangup');
    await fan.waitForSelector('body[data-ended="true"]', { timeout: 5000 });
  });
}
