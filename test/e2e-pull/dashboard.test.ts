// The dashboard of a REAL agent in headless Chromium: after v1 came through the
// channel and v2 was promoted from staging, it shows v2 running, the staging run
// it was tested in, the history and the HTTPS certificate (from pebble, a real
// ACME server); its rollback button (after a confirmation) rolls the real agent
// back to v1, and the agent does not bring v2 back although the channel still
// names it. Staging's page says its data is a copy of production's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { domainFiles, readRenewal, writeRenewal } from '../../src/agent/certificate-files.js';
import { hostLayout } from '../../src/host/layout.js';
import { openLedger } from '../../src/host/ledger.js';
import { CHROMIUM, chromiumMissingReason, collectPageErrors, saveScreenshot } from '../helpers/browser.js';
import { commitAll } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { hasPebble, startPebble } from '../helpers/pebble.js';
import { createPullFixture, MANAGEMENT_SECRET, waitUntil } from '../helpers/pull-fixture.js';

const chromiumMissing = chromiumMissingReason('the dashboard e2e test');
const DOMAIN = 'notes.slipway.test';

test('the dashboard shows what the real agent runs and rolls it back', { skip: chromiumMissing || (hasPebble() ? false : 'pebble is not installed (apt-get install pebble)'), timeout: 180_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const f = await createPullFixture(t, { environments: ['staging', 'production'] });
  // Production serves HTTPS, with a certificate from pebble (the agent trusts pebble's own listener as Node trusts any private CA).
  const [httpPort, tlsPort] = [await freePort(), await freePort()];
  const pebble = await startPebble(t, { httpPort });
  const caFile = path.join(f.dir, 'acme-directory-ca.pem');
  fs.writeFileSync(caFile, pebble.directoryCa);
  const yml = path.join(f.repo, 'slipway.yml');
  fs.writeFileSync(yml, fs.readFileSync(yml, 'utf8').replace('  production:\n', `  production:\n    tls: { domains: [${DOMAIN}], acme_directory: "${pebble.directoryUrl}", port: ${tlsPort}, http_port: ${httpPort} }\n`));
  commitAll(f.repo, 'production: HTTPS');
  const production = hostLayout(f.envs.production!.hostRoot);

  const v1 = await f.cliOk<{ id: string }>(['publish', 'production', '--ref', 'v1', '--json']);
  const agent = await f.startAgent('production', { env: { NODE_EXTRA_CA_CERTS: caFile } });
  await f.waitForVersion('production', 'v1');
  await f.waitForReport('production', 'v1 deployed', (r) => r.current?.version === 'v1' && r.currentDeployment?.outcome === 'succeeded');
  // v2 is tested in staging, on a scrubbed copy of production's data (recorded as staging's agent records one), then promoted.
  const v2 = await f.cliOk<{ id: string }>(['publish', 'staging', '--ref', 'v2', '--json']);
  const staging = await f.startAgent('staging');
  await f.waitForReport('staging', 'v2 healthy after its health window', (r) => r.current?.id === v2.id && r.currentDeployment?.outcome === 'succeeded' && r.currentDeployment.finishedAt !== null);
  const ledger = openLedger(`${f.envs.staging!.hostRoot}/ledger.db`);
  try {
    const id = ledger.startDataCopy({ trigger: 'schedule', sourceEnvironment: 'production', backupId: '20261202T000000Z-abcdef', backupCreatedAt: new Date(Date.now() - 3 * 3_600_000).toISOString(), scrub: { file: 'scrub.sql', sha256: 'a'.repeat(64) }, who: 'test' });
    ledger.finishDataCopy(id, { outcome: 'succeeded' });
  } finally {
    ledger.close();
  }
  await f.cliOk(['promote', 'staging', 'production']);
  await f.waitForVersion('production', 'v2');
  await f.waitForReport('production', 'v2 deployed', (r) => r.current?.version === 'v2' && r.currentDeployment?.outcome === 'succeeded');
  // The certificate is in; its record then gets a failed renewal whose text (the CA's, in real life) is hostile markup and a terminal escape.
  await waitUntil('the certificate', () => fs.existsSync(domainFiles(production, DOMAIN).cert), 30_000, { explain: () => agent.output() });
  const renewal = await readRenewal(production, DOMAIN);
  const hostile = '<img src=x onerror="document.title=\'pwned\'"> \u001b[31mred';
  await writeRenewal(production, DOMAIN, { ...renewal, lastError: { at: new Date().toISOString(), message: hostile } });

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
  // The staging run v2 was tested in (promote recorded it; the agent finds it from the pointer it follows).
  assert.match((await page.textContent('#channel-tested')) ?? '', /^Tested on staging: health window passed \S.*, on a scrubbed copy of production's data taken \S/);
  // The certificate card: domain, issuer, expiry, and the last renewal error shown as text, never as markup or escapes.
  const certificate = page.locator(`#certificates > li[data-domain="${DOMAIN}"]`);
  assert.match((await certificate.locator('.cert-issuer').textContent()) ?? '', /^issued by Pebble Intermediate CA \S+, expires \S.* \(\d+ days\)$/);
  assert.equal(await certificate.locator('.badge').textContent(), 'valid');
  await page.waitForSelector('#certificates .cert-error');
  assert.match((await certificate.locator('.cert-error').textContent()) ?? '', /^last renewal failed \S.*: <img src=x onerror="document\.title='pwned'"> \\x1b\[31mred$/);
  assert.equal(await page.locator('#tls-card img').count(), 0);

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

  // Staging's page: its data is the copy of production's backup, and says how old it is.
  const stagingPage = await browser.newPage();
  const stagingErrors = collectPageErrors(stagingPage);
  await stagingPage.goto(`${f.envs.staging!.managementUrl}/`);
  await stagingPage.fill('#secret', MANAGEMENT_SECRET);
  await stagingPage.click('#unlock');
  await stagingPage.waitForSelector('#data-age:has-text("copy")');
  assert.match((await stagingPage.textContent('#data-age')) ?? '', /^as of \S.*: a scrubbed copy of production's backup 20261202T000000Z-abcdef, copied \S/);
  assert.equal(await page.title(), 'notes / production · slipway', 'no markup of the certificate error ran');
  assert.deepEqual(stagingErrors, []);

  assert.ok(!/refused/.test(agent.output()), 'every call of the page was signed correctly');
  assert.deepEqual(pageErrors, [], 'no script errors or CSP violations in the page');
  await browser.close();
  await staging.stop();
  await agent.stop();
});
