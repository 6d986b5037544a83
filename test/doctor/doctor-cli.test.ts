/** `slipway doctor` as a command: exit codes, JSON and text, a project file that does not load. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { CliContext } from '../../src/cli/context.js';
import doctorCommand from '../../src/cli/doctor.js';
import type { DoctorReport } from '../../src/doctor/run-doctor.js';
import { freePort } from '../helpers/free-port.js';
import { tempDir } from '../helpers/temp-dir.js';

function project(t: TestContext, slipwayYml: string): { dir: string; home: string; ctx: CliContext } {
  const root = tempDir(t, 'slipway-doctor-cli-');
  const dir = path.join(root, 'app');
  const home = path.join(root, 'home');
  fs.mkdirSync(dir);
  fs.mkdirSync(home);
  fs.writeFileSync(path.join(dir, 'slipway.yml'), slipwayYml);
  process.env.SLIPWAY_HOME = home; // default host root and store
  const ctx: CliContext = { cwd: dir, env: { ...process.env, SLIPWAY_HOME: home }, interactive: false, canPrompt: false, color: false, progress: () => undefined };
  return { dir, home, ctx };
}

const yml = (port: number) =>
  `app: tiny\nservices:\n  web:\n    command: node server.js\ndata:\n  databases:\n    main: { engine: sqlite, path: data/app.db }\nenvironments:\n  production:\n    port: ${port}\n`;

test('a healthy machine and an unused environment: exit 0, every check listed', async (t) => {
  const { ctx } = project(t, yml(await freePort()));
  const result = await doctorCommand({ args: ['production'], json: true }, ctx);
  const report = JSON.parse(result.stdout ?? '') as DoctorReport;
  assert.equal(result.exitCode, 0, result.stdout);
  assert.equal(report.environment, 'production');
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.checks.map((c) => c.name),
    ['node', 'disk space', 'host root', 'env file', 'file modes', 'database tools', 'clock', 'proxy port', 'agent', 'store'],
  );
  for (const check of report.checks) assert.equal(typeof check.detail, 'string');
});

test('an env file readable by others: exit 1, and the text says how to fix it', async (t) => {
  const { home, ctx } = project(t, yml(await freePort()));
  const envFile = path.join(home, 'hosts', 'tiny', 'production', 'shared', '.env');
  // The host's folders as the agent makes them (0750): only the env file is wrong.
  fs.mkdirSync(path.dirname(envFile), { recursive: true, mode: 0o750 });
  fs.writeFileSync(envFile, 'A=1\n');
  fs.chmodSync(envFile, 0o644);
  const result = await doctorCommand({ args: ['production'] }, ctx);
  assert.equal(result.exitCode, 1);
  const text = result.stdout ?? '';
  assert.match(text, /^slipway doctor: tiny production \(host root .*hosts\/tiny\/production\)/);
  assert.match(text, /FAIL {2}env file +.*mode 644/);
  assert.match(text, new RegExp(`fix: chmod 600 ${envFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(text, /1 check failed/);
});

test('a host root and a ledger other users can read: exit 1, naming both and the chmod that fixes them', async (t) => {
  const { home, ctx } = project(t, yml(await freePort()));
  const root = path.join(home, 'hosts', 'tiny', 'production');
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.chmodSync(root, 0o755);
  fs.writeFileSync(path.join(root, 'ledger.db'), '');
  fs.chmodSync(path.join(root, 'ledger.db'), 0o644);
  const result = await doctorCommand({ args: ['production'] }, ctx);
  assert.equal(result.exitCode, 1, result.stdout);
  const text = result.stdout ?? '';
  assert.match(text, /FAIL {2}file modes +the host root .*production is mode 755: other users can look inside; .*ledger\.db is mode 644: other users can read the deployment history/);
  assert.match(text, /fix: chmod 750 .*production && chmod 600 .*ledger\.db/);
  assert.match(text, /1 check failed/);
});

test('a project file that does not load is a failed check; the machine is still checked', async (t) => {
  const { ctx } = project(t, 'app: tiny\nservices: {}\n');
  const result = await doctorCommand({ args: [], json: true }, ctx);
  assert.equal(result.exitCode, 1);
  const report = JSON.parse(result.stdout ?? '') as DoctorReport;
  assert.equal(report.environment, null);
  const [first, ...rest] = report.checks;
  assert.equal(first!.name, 'project file');
  assert.equal(first!.status, 'fail');
  assert.match(first!.detail, /slipway\.yml has \d+ problems?/);
  assert.ok(first!.fix);
  assert.deepEqual(rest.map((c) => c.name), ['node', 'disk space']);
});
