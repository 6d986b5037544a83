// The dashboard of a REAL agent in headless Chromium: after v1 then v2 came
// through the channel, it shows v2 running and the history; its rollback
// button (after a confirmation) rolls the real agent back to v1, and the
// agent does not bring v2 back although the channel still names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHROMIUM, chromiumMissingReason, collectPageErrors, saveScreenshot } from '../helpers/browser.js';
import { createPullFixture, MANAGEMENT_SECRET } from '../helpers/pull-fixture.js';

const chromiumMissing = chromiumMissingReason('the dashboard e2e test');

test('the dashboard shows what the real agent runs and rolls it back', { skip: chromiumMissing, timeout: 150_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const f = await createPullFixture(t);
  const v1 = await f.cliOk<{ id: string }>(['publish', 'production', '--ref', 'v1', '--json']);
  const agent = await f.startAgent('production');
  await f.waitForVersion('production', 'v1');
  await f.waitForReport('production', 'v1 deployed', (r) => r.current?.version === 'v1' && r.currentDeployment?.outcome === 'succeeded');
  const v2 = await f.cliOk<{ id: string }>(['publish', 'production', '--ref', 'v2', '--json']);
  await f.waitForVersion('production', 'v2');
  await f.waitForReport('production', 'v2 deployed', (r) => r.current?.version === 'v2' && r.currentDeployment?.outcome === 'succeeded');

  // launch() gives the browser a fresh temporary profile of its own, removed when it closes.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.after(() => browser.close().catch(() => undefined));
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  page.setDefaultTimeout(20_000);
  const pageErrors = collectPageErrors(page);

  await page.goto(`${f.envs.production!.managementUrl}/`);
  assert.equal(await page.title(), 'notes / production · slipway');
  await page.fill('#secret', MANAGEMENT_SECRET);
  await page.click('#unlock');
  await page.waitForSelector('#current-version:has-text("v2")');
  assert.equal(await page.textContent('#previous-version'), 'v1');
  assert.equal(await page.textContent('#current-id'), v2.id.slice(0, 12));
  assert.equal(await page.textContent('#health'), 'healthy');
  assert.match((await page.textContent('#channel')) ?? '', /^v2 /, 'the channel pointer the agent follows');
  // How old the data is: production's own newest backup (the one each update takes).
  assert.match((await page.textContent('#data-age')) ?? '', /^newest backup \d{8}T\d{6}Z-[0-9a-f]{6}, taken \S/);
  await page.waitForSelector('#history > li[data-deployment="2"]');
  assert.equal(await page.locator('#history > li').count(), 2);
  const newest = page.locator('#history > li').first();
  assert.match((await newest.textContent()) ?? '', /v1 → v2/);
  assert.match((await newest.locator('.badge').textContent()) ?? '', /succeeded/);
  assert.match((await newest.locator('.steps').textContent()) ?? '', /migrate/, 'the steps of the deployment, with their durations');
  assert.ok((await newest.locator('.bar').count()) >= 5);
  // The live log tail of the app.
  await page.waitForSelector('#log:not(:empty)');

  // Rollback asks first; cancel changes nothing.
  await page.click('#rollback');
  await page.waitForSelector('#confirm-rollback[open]');
  assert.match((await page.textContent('#confirm-text')) ?? '', /from v2 to v1/);
  await page.click('#rollback-cancel');
  await page.waitForSelector('#confirm-rollback', { state: 'hidden' });
  assert.equal((await f.history('production')).length, 2);

  await page.click('#rollback');
  await page.fill('#rollback-reason', 'v2 miscounts words');
  await page.click('#rollback-confirm');
  await page.waitForSelector('#rollback-result:has-text("Rolled back")', { timeout: 60_000 });
  assert.match((await page.textContent('#rollback-result')) ?? '', /v1 is serving/);
  await f.waitForVersion('production', 'v1');
  await page.waitForSelector('#current-version:has-text("v1")');
  await page.waitForSelector('#history > li[data-deployment="3"]');
  assert.match((await page.locator('#history > li').first().textContent()) ?? '', /rollback v2 → v1/);

  const history = await f.history('production');
  assert.deepEqual([history[0]!.from, history[0]!.to, history[0]!.outcome], ['v2', 'v1', 'succeeded']);
  // The channel still names v2: the agent remembers the operator's rollback and does not redeploy v2.
  const report = await f.waitForReport('production', 'v1 with v2 set aside', (r) => r.current?.id === v1.id && r.failedRelease?.id === v2.id);
  assert.match(report.failedRelease!.error, /rolled back/);
  // The page says why the agent does not follow its channel.
  await page.waitForSelector('#channel-note:has-text("v2 was rolled back")');
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal(await f.version('production'), 'v1');
  assert.equal((await f.history('production')).length, 3);

  await saveScreenshot(t, page, 'dashboard-real-agent.png');

  assert.ok(!/refused/.test(agent.output()), 'every call of the page was signed correctly');
  assert.deepEqual(pageErrors, [], 'no script errors or CSP violations in the page');
  await browser.close();
  await agent.stop();
});
