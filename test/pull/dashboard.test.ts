// The dashboard in a real headless Chromium, against the real management
// server with in-process handlers: a unit test of the UI and its signing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startManagementServer } from '../../src/agent/management-server.js';
import { CHROMIUM, chromiumMissingReason, collectPageErrors, saveScreenshot } from '../helpers/browser.js';

const SECRET = 'dashboard-test-secret-0123456789';
const chromiumMissing = chromiumMissingReason('the dashboard test');

const V1 = { id: '1'.repeat(64), version: 'v1' };
const V2 = { id: '2'.repeat(64), version: 'v2' };

function fakeAgent() {
  let current = V2;
  let previous: typeof V1 | null = V1;
  const rollbacks: unknown[] = [];
  const history = [
    {
      id: 2,
      from: 'v1',
      to: 'v2',
      outcome: 'succeeded',
      startedAt: '2025-03-01T10:00:00.000Z',
      finishedAt: '2025-03-01T10:00:06.500Z',
      steps: [
        { name: 'lock', outcome: 'done', ms: 3 },
        { name: 'fetch', outcome: 'done', ms: 420 },
        { name: 'backup', outcome: 'done', ms: 1800 },
        { name: 'migrate', outcome: 'done', ms: 900 },
        { name: 'start', outcome: 'done', ms: 2100 },
        { name: 'switch', outcome: 'done', ms: 12 },
        { name: 'watch', outcome: 'done', ms: 1000 },
      ],
    },
    {
      id: 1,
      from: null,
      to: 'v1',
      outcome: 'succeeded',
      startedAt: '2025-02-28T09:00:00.000Z',
      finishedAt: '2025-02-28T09:00:03.000Z',
      steps: [{ name: 'fetch', outcome: 'done', ms: 300 }, { name: 'start', outcome: 'done', ms: 1500 }, { name: 'migrate', outcome: 'skipped', ms: 0 }],
    },
  ];
  return {
    rollbacks,
    handlers: {
      notify: async () => ({ checking: true }),
      status: async () => ({
        environment: 'production',
        url: 'http://127.0.0.1:8080',
        current,
        previous,
        health: 'healthy',
        lock: null,
        maintenance: null,
        agent: { pid: 4242, startedAt: '2025-03-01T09:00:00.000Z', uptimeSeconds: 3600 },
        channel: { releaseId: current.id, version: current.version, who: 'ci', when: '2025-03-01T09:59:00.000Z', why: 'publish' },
      }),
      rollback: async (body: { to?: string; reason?: string }) => {
        rollbacks.push(body);
        [current, previous] = [V1, V2];
        return { ok: true, version: 'v1', releaseId: V1.id };
      },
      history: async () => history,
      backups: async () => [{ id: 'b-20250301-1000', release: 'v1', reason: 'before deploy', createdAt: '2025-03-01T10:00:01.000Z', size: 40960, sha256: 'ab'.repeat(32), verifiedAt: '2025-03-01T10:00:02.000Z' }],
      logTail: async (lines: number) => Array.from({ length: Math.min(lines, 3) }, (_, i) => `[web] request ${i + 1} answered 200`),
    },
  };
}

test('the dashboard shows the running release and its history, and rolls back with a signed request', { skip: chromiumMissing, timeout: 60_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const agent = fakeAgent();
  const serverLog: string[] = [];
  const server = await startManagementServer({ bind: '127.0.0.1', port: 0, secret: SECRET, environment: 'production', host: 'web-1', handlers: agent.handlers, log: (line) => serverLog.push(line), title: 'notes / production' });
  t.after(() => server.close());

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-chromium-'));
  const context = await chromium
    .launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width: 1200, height: 1100 },
    })
    .catch((error) => {
      fs.rmSync(profile, { recursive: true, force: true });
      throw error;
    });
  // The browser writes to its profile until it is closed: close first, then remove.
  t.after(async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const pageErrors = collectPageErrors(page);

  await page.goto(`http://127.0.0.1:${server.port}/`);
  assert.equal(await page.title(), 'notes / production · slipway');
  assert.equal(await page.isVisible('#app'), false, 'nothing is shown before the secret is given');

  // A wrong secret is turned away.
  await page.fill('#secret', 'not the right secret at all');
  await page.click('#unlock');
  await page.waitForSelector('#login-error:has-text("not accepted")');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused secret is not kept');

  await page.fill('#secret', SECRET);
  await page.click('#unlock');
  await page.waitForSelector('#current-version:has-text("v2")');
  assert.equal(await page.textContent('#previous-version'), 'v1');
  assert.equal(await page.textContent('#health'), 'healthy');
  assert.equal(await page.textContent('#lock'), 'free');
  assert.equal(await page.textContent('#maintenance'), 'off');
  await page.waitForSelector('#history li[data-deployment="1"]');
  assert.equal(await page.locator('#history > li').count(), 2);
  const newest = page.locator('#history > li').first();
  assert.match((await newest.textContent()) ?? '', /v1 → v2/);
  assert.match((await newest.locator('.steps').textContent()) ?? '', /backup1\.8 s/);
  assert.equal(await newest.locator('.bar').count(), 7, 'one bar per step');
  await page.waitForSelector('#backups tr');
  assert.match((await page.textContent('#backups')) ?? '', /b-20250301-1000/);
  await page.waitForSelector('#log:has-text("request 3 answered 200")');

  // The browser's SHA-256 fallback (for pages served over plain HTTP to another host) matches Node's HMAC.
  const message = `POST\n/v1/rollback\n1700000000\nnonce\n${'é'.repeat(100)}`;
  const longKey = 'k'.repeat(100);
  const [viaSubtle, viaFallback, longKeyFallback] = await page.evaluate(
    async ([secret, text, key]) => {
      const api = (window as any).slipwayDashboard;
      return [await api.hmacHex(secret, text), await api.hmacHex(secret, text, true), await api.hmacHex(key, text, true)];
    },
    [SECRET, message, longKey],
  );
  const expected = createHmac('sha256', SECRET).update(message).digest('hex');
  assert.equal(viaSubtle, expected);
  assert.equal(viaFallback, expected);
  assert.equal(longKeyFallback, createHmac('sha256', longKey).update(message).digest('hex'));
  assert.equal(await page.evaluate(() => (window as any).slipwayDashboard.sha256Hex('', true)), createHash('sha256').update('').digest('hex'));

  // Rollback: asks first; cancelling does nothing.
  await page.click('#rollback');
  await page.waitForSelector('#confirm-rollback[open]');
  assert.match((await page.textContent('#confirm-text')) ?? '', /from v2 to v1/);
  await page.click('#rollback-cancel');
  await page.waitForSelector('#confirm-rollback', { state: 'hidden' });
  assert.deepEqual(agent.rollbacks, []);

  await page.click('#rollback');
  await page.fill('#rollback-reason', 'v2 breaks uploads');
  await page.click('#rollback-confirm');
  await page.waitForSelector('#rollback-result:has-text("Rolled back")');
  assert.deepEqual(agent.rollbacks, [{ to: V1.id, reason: 'v2 breaks uploads' }]);
  await page.waitForSelector('#current-version:has-text("v1")');
  assert.ok(!serverLog.some((line) => line.includes('refused') && line.includes('/v1/rollback')), serverLog.join('\n'));

  await saveScreenshot(t, page, 'dashboard.png');

  // The page signs for this agent's environment and host: only the wrong secret was refused, for its signature.
  const refused = serverLog.filter((line) => line.includes('refused'));
  assert.ok(refused.length >= 1, 'the wrong secret was refused by the server');
  assert.deepEqual(refused.filter((line) => !line.endsWith(': bad-signature')), [], serverLog.join('\n'));
  assert.deepEqual(pageErrors.filter((e) => !e.includes('401')), [], 'no script errors or CSP violations in the page');
});
