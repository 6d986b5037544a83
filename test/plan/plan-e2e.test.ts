/**
 * Issue 7's acceptance story on a real host: three releases where v3 needs a new
 * config key and can only be reached from v2. Builds and deploys go through the
 * built CLI; `plan` and `config` run their command modules in this process (the
 * same code `slipway plan` / `slipway config` run once wired into main.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import configCommand from '../../src/cli/config.js';
import doctorCommand from '../../src/cli/doctor.js';
import type { DoctorReport } from '../../src/doctor/run-doctor.js';
import type { CliContext, CommandResult } from '../../src/cli/context.js';
import planCommand from '../../src/cli/plan.js';
import type { UpdatePlan } from '../../src/plan/plan.js';
import { describeRun, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { killQuietly, waitForProcessesUnder } from '../helpers/processes.js';
import { removeTree } from '../helpers/temp-dir.js';
import { createTinyAppRepo } from './tiny-app.js';

function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('plan v1 → v3 is refused (missing key, v2 first); after v2 and `config set`, v3 plans clean and deploys', { timeout: 120_000 }, async (t) => {
  const root = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'slipway-plan-e2e-'));
  const home = path.join(root, 'home');
  const repo = path.join(root, 'repo');
  fs.mkdirSync(home);
  const port = await freePort();
  createTinyAppRepo(repo, { port });
  process.env.SLIPWAY_HOME = home; // the in-process commands find the store and host here
  const cli = (args: string[]) => runCli(args, { cwd: repo, home, timeoutMs: 60_000 });
  t.after(async () => {
    await cli(['agent', '--stop', '--env', 'production']).catch(() => undefined);
    // --stop returns once the socket is gone; the agent and the app may take a moment more to exit.
    const survivors = await waitForProcessesUnder(root, 10_000);
    for (const p of survivors) killQuietly(p.pid);
    removeTree(root);
    assert.deepEqual(survivors, [], 'the agent stop left processes behind');
  });

  const progress: string[] = [];
  const ctx: CliContext = {
    cwd: repo,
    env: { ...process.env, SLIPWAY_HOME: home },
    interactive: false,
    canPrompt: false,
    color: false,
    progress: (line) => progress.push(line),
  };
  const plan = (version: string, json: boolean) => planCommand({ args: ['production'], version, json }, ctx);
  const config = (args: string[], o: { json?: boolean; version?: string } = {}) => configCommand({ args: ['production', ...args], ...o }, ctx);
  const jsonOf = <T>(result: CommandResult): T => JSON.parse(result.stdout ?? '') as T;

  for (const tag of ['v1', 'v2', 'v3']) {
    const built = await cli(['build', '--ref', tag, '--json']);
    assert.equal(built.code, 0, describeRun(built));
  }
  const deployedV1 = await cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(deployedV1.code, 0, describeRun(deployedV1));

  // v1 → v3 as JSON: both reasons, and the notes of every release on the way.
  const blockedResult = await plan('v3', true);
  assert.equal(blockedResult.exitCode, 1, 'a plan with blockers exits 1');
  const blocked = jsonOf<UpdatePlan>(blockedResult);
  assert.equal(blocked.from?.version, 'v1');
  assert.equal(blocked.to.version, 'v3');
  assert.equal(blocked.direction, 'upgrade');
  assert.deepEqual(blocked.notes, [
    { version: 'v2', notes: '- counts words in notes' },
    { version: 'v3', notes: '- a title on the front page (set NOTES_TITLE)' },
  ]);
  assert.deepEqual(blocked.config.missing, ['NOTES_TITLE']);
  assert.deepEqual(blocked.config.added, ['NOTES_TITLE', 'TINY_TOKEN']);
  assert.equal(blocked.requiredIntermediate, 'v2');
  assert.deepEqual(blocked.blockerCodes, ['UPGRADE_PATH_REQUIRED', 'CONFIG_KEYS_MISSING']);
  assert.ok(blocked.blockers.some((b) => /NOTES_TITLE/.test(b)), blocked.blockers.join('\n'));
  assert.ok(blocked.blockers.some((b) => /reached from >=v2.*deploy v2 first/.test(b)), blocked.blockers.join('\n'));
  assert.deepEqual(blocked.migrations, { runs: true, reversible: false, command: 'node migrate.js' });
  assert.equal(blocked.downtime, 'maintenance-window');
  assert.ok(blocked.backup.fits && blocked.backup.freeBytes > 0);

  // …and as text.
  const text = await plan('v3', false);
  assert.equal(text.exitCode, 1);
  const out = text.stdout ?? '';
  assert.match(out, /Update plan for production: v1 \([0-9a-f]{12}\) → v3 \([0-9a-f]{12}\), upgrade/);
  assert.match(out, / {2}v2\n {4}- counts words in notes\n {2}v3\n {4}- a title on the front page/);
  assert.match(out, /missing on this host {2}NOTES_TITLE/);
  assert.match(out, /✗ v3 can only be reached from >=v2, and production runs v1: deploy v2 first/);
  assert.match(out, /✗ v3 needs config key this host does not have: NOTES_TITLE/);
  assert.match(out, /What to do next\n {2}1\. slipway deploy production --version v2\n {2}2\. slipway config production set NOTES_TITLE=<value>/);

  // Deploying v3 now is refused, and v1 keeps serving.
  const refused = await cli(['deploy', 'production', '--version', 'v3', '--yes']);
  assert.notEqual(refused.code, 0, describeRun(refused));
  assert.match(refused.stderr, /NOTES_TITLE/);
  assert.equal((await httpGet(port, '/')).body, 'tiny v1\n');

  const deployedV2 = await cli(['deploy', 'production', '--version', 'v2', '--yes']);
  assert.equal(deployedV2.code, 0, describeRun(deployedV2));

  // `config set`: v2 does not know the key, v3 in the store does: no warning; the value is never printed.
  const set = await config(['set', 'NOTES_TITLE=Tiny Notes']);
  assert.equal(set.exitCode ?? 0, 0);
  assert.match(set.stdout ?? '', /^set NOTES_TITLE in .*shared\/\.env/);
  assert.doesNotMatch(set.stdout ?? '', /Tiny Notes/);
  const setSecret = await config(['set', 'TINY_TOKEN=tok-123456'], { json: true });
  assert.deepEqual(jsonOf<{ changed: boolean; declared: boolean }>(setSecret), { environment: 'production', action: 'set', key: 'TINY_TOKEN', file: path.join(home, 'hosts', 'tiny', 'production', 'shared', '.env'), changed: true, created: false, declared: true });
  assert.doesNotMatch(setSecret.stdout ?? '', /tok-123456/);
  assert.deepEqual(progress.filter((l) => /warning/.test(l)), []);
  await config(['set', 'NOT_IN_ANY_SCHEMA=1']);
  assert.ok(progress.some((l) => /warning: NOT_IN_ANY_SCHEMA is declared by neither v2 \(current\) nor v3 \(newest in the store\); the app may not read it/.test(l)), progress.join('\n'));
  await config(['unset', 'NOT_IN_ANY_SCHEMA']);
  const envFile = path.join(home, 'hosts', 'tiny', 'production', 'shared', '.env');
  assert.equal(fs.statSync(envFile).mode & 0o777, 0o600);

  // v2 → v3 plans clean.
  const cleanResult = await plan('v3', true);
  assert.equal(cleanResult.exitCode, 0, cleanResult.stdout);
  const clean = jsonOf<UpdatePlan>(cleanResult);
  assert.equal(clean.from?.version, 'v2');
  assert.deepEqual(clean.blockers, []);
  assert.deepEqual(clean.config.missing, []);
  assert.deepEqual(clean.notes.map((n) => n.version), ['v3']);
  assert.match((await plan('v3', false)).stdout ?? '', /Ready: `slipway deploy production --version v3` does this\./);

  // `config show` of the schema v3 will read: secrets redacted.
  const shown = jsonOf<{ release: { version: string }; keys: Array<{ name: string; source: string; value: string | null }>; missing: string[] }>(
    await config(['show'], { json: true, version: 'v3' }),
  );
  assert.equal(shown.release.version, 'v3');
  assert.deepEqual(shown.keys.map((k) => [k.name, k.source, k.value]), [
    ['NOTES_TITLE', 'env-file', 'Tiny Notes'],
    ['TINY_TOKEN', 'env-file', '***'],
  ]);

  const deployedV3 = await cli(['deploy', 'production', '--version', 'v3', '--yes']);
  assert.equal(deployedV3.code, 0, describeRun(deployedV3));
  assert.equal((await httpGet(port, '/')).body, 'Tiny Notes v3\n', 'the app reads the value set with `config set`');

  // Now the current release is v3: `config show` (text) renders its schema, never the secret.
  const showText = (await config(['show'])).stdout ?? '';
  assert.match(showText, /as v3 \([0-9a-f]{12}, current\) reads it/);
  assert.match(showText, /NOTES_TITLE +Tiny Notes +env-file +required, the title on the front page/);
  assert.match(showText, /TINY_TOKEN +\*\*\* +env-file +secret/);
  assert.doesNotMatch(showText, /tok-123456/);

  // doctor on the live host: the proxy port is held by this environment's own agent, which answers.
  const doctorResult = await doctorCommand({ args: ['production'], json: true }, ctx);
  const report = jsonOf<DoctorReport>(doctorResult);
  const named = (name: string) => report.checks.find((c) => c.name === name);
  assert.equal(named('agent')?.status, 'ok', JSON.stringify(named('agent')));
  assert.match(named('agent')?.detail ?? '', /serving v3/);
  assert.equal(named('proxy port')?.status, 'ok', JSON.stringify(named('proxy port')));
  assert.match(named('proxy port')?.detail ?? '', /held by this environment's agent/);
  assert.equal(named('env file')?.status, 'ok');
  assert.equal(doctorResult.exitCode, 0, doctorResult.stdout);
});
