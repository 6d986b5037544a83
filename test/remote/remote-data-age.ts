/**
 * Issue 16, the staging loop on remote environments: each host's `slipway status` carries
 * how old its data is, and the CLI shows it per host and for the environment (`status
 * <env>`, `status` of every environment); `promote` records the data copy staging's host ran
 * on; a remote staging's data_copy reaches its host's file, with the scrub file beside it.
 * Run on fleet.test.ts's fleet (set up, v1 deployed): the data ages are ledger records on the hosts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { testedRun } from '../../src/cli/promote-tested.js';
import type { CliContext } from '../../src/cli/context.js';
import { loadProject } from '../../src/config/load.js';
import { openLedger } from '../../src/host/ledger.js';
import type { Fleet } from '../helpers/fleet-fixture.js';
import { freePort } from '../helpers/free-port.js';

const HOUR = 3_600_000;

/** A successful data copy into a host, as its agent records one. */
function recordCopy(root: string, o: { from: string; backupCreatedAt: string; scrubbed: boolean }): void {
  const ledger = openLedger(path.join(root, 'ledger.db'));
  try {
    const id = ledger.startDataCopy({
      trigger: 'schedule',
      sourceEnvironment: o.from,
      backupId: `${o.backupCreatedAt.replace(/[-:]/g, '').slice(0, 15)}Z-abcdef`,
      backupCreatedAt: o.backupCreatedAt,
      scrub: o.scrubbed ? { file: 'data-copy/scrub.sql', sha256: 'a'.repeat(64) } : null,
      who: 'test',
    });
    ledger.finishDataCopy(id, { outcome: 'succeeded' });
  } finally {
    ledger.close();
  }
}

/** On a fleet whose production (hosts app1, app2 and others) is set up: adds a staging environment on app1's server. */
export async function checkRemoteDataAge(fleet: Fleet): Promise<void> {
  // staging: one host on app1's server, with a root of its own, copying production nightly through a scrub file.
  const stageRoot = path.join(fleet.dir, 'hosts', 'stage1');
  const scrub = "UPDATE notes SET body = 'scrubbed';\n";
  fs.writeFileSync(path.join(fleet.repo, 'scrub.sql'), scrub);
  fs.appendFileSync(
    fleet.configFile,
    [
      '  staging:',
      '    port: 8081',
      '    data_copy: { from: production, schedule: "0 3 * * *", scrub: scrub.sql }',
      '    hosts:',
      '      stage1:',
      `        ssh: ${fleet.hosts.get('app1')!.sshd.url}`,
      `        root: ${stageRoot}`,
      `        port: ${await freePort()}`,
      '',
    ].join('\n'),
  );
  // production is set up already; staging's host gets its own root on app1's server.
  const setup = await fleet.cli(['setup', 'staging']);
  assert.equal(setup.code, 0, `setup staging:\n${setup.stdout}\n${setup.stderr}`);

  // data_copy reached staging's host: its file names the schedule and the scrub file, which arrived intact beside it.
  const arrived = path.join(stageRoot, 'data-copy', 'scrub.sql');
  assert.equal(createHash('sha256').update(fs.readFileSync(arrived)).digest('hex'), createHash('sha256').update(scrub).digest('hex'));
  const hostProject = await loadProject({ file: path.join(stageRoot, 'slipway.yml') });
  const hostStaging = hostProject.config.environments.find((e) => e.name === 'staging')!;
  assert.deepEqual(hostStaging.dataCopy, { from: 'production', schedule: '0 3 * * *', scrubFile: 'data-copy/scrub.sql', noScrub: false });
  assert.equal(path.resolve(hostProject.dir, hostStaging.dataCopy!.scrubFile!), arrived, 'the host agent resolves it to the file setup sent');

  // app2 runs on a copy of production taken 3 h ago; app1 has none; staging's host on a scrubbed one taken 2 h ago.
  const prodCopyAt = new Date(Date.now() - 3 * HOUR).toISOString();
  const stageCopyAt = new Date(Date.now() - 2 * HOUR).toISOString();
  recordCopy(fleet.hosts.get('app2')!.root, { from: 'production-eu', backupCreatedAt: prodCopyAt, scrubbed: false });
  recordCopy(stageRoot, { from: 'production', backupCreatedAt: stageCopyAt, scrubbed: true });

  const status = await fleet.cli(['status', 'production', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout) as { environment: string; hosts: { host: string; dataAge?: { source: string; at: string; environment: string | null; scrubbed?: boolean } | null }[]; dataAge: { at: string } | null };
  assert.equal(report.environment, 'production', 'the contract fields are still there');
  const byHost = Object.fromEntries(report.hosts.map((h) => [h.host, h.dataAge]));
  assert.notEqual(byHost.app1?.source, 'copy', 'app1 ran on no copy (its age, if any, is its own backup\'s)');
  assert.deepEqual({ ...byHost.app2, backupId: undefined, copiedAt: undefined }, { source: 'copy', at: prodCopyAt, environment: 'production-eu', scrubbed: false, backupId: undefined, copiedAt: undefined });
  assert.equal(report.dataAge?.at, prodCopyAt, "the environment's data age: the oldest a host reports");
  const table = await fleet.cli(['status', 'production']);
  assert.match(table.stdout, /data {2}3 h 0 min old: an UNSCRUBBED copy of production-eu's backup/);
  assert.match(table.stdout, /DATA AGE/);
  assert.match(table.stdout, /app2 .* 3 h 0 min \(copy of production-eu\)/);

  // `slipway status` of every environment shows the remote ones' data age.
  const all = await fleet.cli(['status', '--json']);
  assert.equal(all.code, 0, all.stderr);
  const lines = JSON.parse(all.stdout) as { environment: string; dataAge: { source: string; seconds: number; from: string | null; scrubbed?: boolean } | null }[];
  const production = lines.find((l) => l.environment === 'production')!;
  const staging = lines.find((l) => l.environment === 'staging')!;
  assert.equal(production.dataAge?.from, 'production-eu');
  assert.ok(production.dataAge!.seconds >= 3 * 3600 && production.dataAge!.seconds < 3 * 3600 + 120, `${production.dataAge!.seconds} s`);
  assert.deepEqual([staging.dataAge?.source, staging.dataAge?.from, staging.dataAge?.scrubbed], ['copy', 'production', true]);
  const allTable = await fleet.cli(['status']);
  assert.match(allTable.stdout, /staging .* 2 h 0 min \(copy of production, scrubbed\)/);
  // …and their last change: the newest deployment any of the environment's hosts recorded, asked of each over SSH.
  const history = JSON.parse((await fleet.cli(['history', 'production', '--json'])).stdout) as { kind: string; to: string | null; outcome: string | null; startedAt: string; finishedAt: string | null }[];
  const newest = history.map((d) => d.finishedAt ?? d.startedAt).sort().at(-1);
  const withChange = lines as unknown as { environment: string; lastChange: { kind: string; to: string | null; outcome: string | null; at: string } | null }[];
  assert.deepEqual(withChange.find((l) => l.environment === 'production')!.lastChange, { kind: 'deploy', from: null, to: 'v1', outcome: 'succeeded', at: newest }, all.stdout);
  assert.equal(withChange.find((l) => l.environment === 'staging')!.lastChange, null, 'staging is set up, nothing deployed');
  assert.match(allTable.stdout, /production +v1 +.* deploy v1 succeeded, \d+ (s|min) ago/);
  assert.match(allTable.stdout, /staging +- +.* +- *$/m, 'no change on staging yet');

  // `data copies` of an environment of several hosts: one array, each copy saying which host it went to.
  const copiesOut = await fleet.cli(['data', 'copies', 'production', '--json']);
  assert.equal(copiesOut.code, 0, copiesOut.stderr);
  const copies = JSON.parse(copiesOut.stdout) as { host: string; sourceEnvironment: string; backupCreatedAt: string; outcome: string }[];
  assert.deepEqual(copies.map((c) => [c.host, c.sourceEnvironment, c.backupCreatedAt, c.outcome]), [['app2', 'production-eu', prodCopyAt, 'succeeded']]);

  // promote staging → …: the tested run names the copy staging's host ran on, asked of that host over SSH.
  const project = await loadProject({ file: fleet.configFile });
  const progress: string[] = [];
  const ctx: CliContext = { cwd: fleet.repo, env: { ...process.env, SLIPWAY_SSH_CONFIG: fleet.sshConfig }, interactive: false, canPrompt: false, color: false, progress: (line) => progress.push(line) };
  const tested = await testedRun({ source: project.config.environments.find((e) => e.name === 'staging')!, app: project.config.app, reports: [], releaseId: 'x'.repeat(64), healthy: false }, ctx);
  assert.deepEqual(progress, []);
  assert.equal(tested.dataCopy?.from, 'production');
  assert.equal(tested.dataCopy?.backupCreatedAt, stageCopyAt);
  assert.equal(tested.dataCopy?.scrubbed, true);
  assert.ok(tested.dataCopy!.ageSeconds >= 2 * 3600 && tested.dataCopy!.ageSeconds < 2 * 3600 + 120, `${tested.dataCopy!.ageSeconds} s`);
  assert.ok(tested.dataCopy!.copiedAt, 'when the copy was made');
}
