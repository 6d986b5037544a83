// Issue 16, "The staging loop": production → staging copies on real PostgreSQL. A copy
// without a scrub is refused unless --no-scrub says so; every copy is recorded on the
// target (`slipway data copies`), with the source's backup and its time, the scrub file's
// name and digest, and how it ended; a failed copy (bad scrub SQL, a damaged source
// backup) leaves staging on its previous data. The data_copy schedule, run by staging's
// own agent (in this process, so the test moves its clock), copies production's newest
// verified backup, scrubbed, and a failing scheduled copy says why. A scrub file that is not
// there is refused by hand and on the schedule, before anything is backed up or restored.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe as suite, it, type TestContext } from 'node:test';
import { Agent } from '../../src/agent/agent.js';
import { startAgentCopySchedule, type CopySchedule } from '../../src/agent/copy-schedule.js';
import { getEnvironment, loadProject } from '../../src/config/load.js';
import { hostLayout } from '../../src/host/layout.js';
import { openLedger, type DataCopyRecord } from '../../src/host/ledger.js';
import { createDataFixture, describe, json, type AgentProcess, type DataFixture } from '../helpers/data-fixture.js';
import { freePort } from '../helpers/free-port.js';
import { PostgresUnavailableError, startPostgres, type RunningPostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait-until.js';

const ROLE = 'notes';
const PASSWORD = 'C0pyPassw0rd-4e1a';

/** `data copies --json` prints the ledger's records as they are. */
type CopyJson = DataCopyRecord;

let pg: RunningPostgres | null = null;
let unavailable = '';
let fx: DataFixture;
const agents = new Map<string, AgentProcess>();
const cleanups: Array<() => void | Promise<void>> = [];

function sql(statement: string, database = 'postgres'): Promise<string> {
  return pg!.runTool('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg!.socketDir, '-p', String(pg!.port), '-U', 'postgres', '-d', database, '-c', statement]);
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const texts = async (environment: string) => (await fx.app(environment).notes()).map((n) => n.text);

/** Staging's agent in this process instead of its own (its schedule's clock is then the test's), with its log lines. */
async function stagingAgentHere(t: TestContext) {
  await agents.get('staging')!.stop();
  const home = process.env.SLIPWAY_HOME;
  process.env.SLIPWAY_HOME = fx.home;
  t.after(() => {
    if (home === undefined) delete process.env.SLIPWAY_HOME;
    else process.env.SLIPWAY_HOME = home;
  });
  const project = await loadProject({ file: path.join(fx.repo, 'slipway.yml'), cwd: fx.repo });
  const environment = getEnvironment(project, 'staging');
  const layout = hostLayout(fx.hostRoot('staging'));
  const lines: string[] = [];
  const agent = new Agent({ project, environment, layout, processEnv: { ...process.env, SLIPWAY_HOME: fx.home }, log: (line) => lines.push(line) });
  await agent.start();
  return { project, environment, layout, lines, agent, ledger: openLedger(layout.ledgerFile) };
}
const copies = async () => json<CopyJson[]>(await fx.cli(['data', 'copies', 'staging', '--json']));

suite('data copies', () => {
  before(async () => {
    try {
      pg = await startPostgres();
    } catch (error) {
      if (error instanceof PostgresUnavailableError) {
        unavailable = error.message;
        return;
      }
      throw error;
    }
    await sql(`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}'`);
    fx = await createDataFixture({ after: (fn) => cleanups.push(fn) }, { build: [] });
    const stagingPort = await freePort();
    await fx.commitVariant({
      base: 'v1',
      tag: 'v1-pg',
      editProject: (project) => {
        project.data.databases.main = { engine: 'postgres', url_env: 'DATABASE_URL' };
        project.environments.staging = { ...project.environments.production, port: stagingPort };
      },
    });
    await fx.build('v1-pg');
    for (const name of ['production', 'staging']) {
      const database = `notes_${name}_${path.basename(fx.dir).replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
      await sql(`CREATE DATABASE ${database} OWNER ${ROLE}`);
      assert.equal((await fx.cli(['config', name, 'set', `DATABASE_URL=postgres://${ROLE}:${PASSWORD}@127.0.0.1:${pg.port}/${database}`])).code, 0);
      agents.set(name, await fx.startAgent({ environment: name }));
      const deployed = await fx.cli(['deploy', name, '--version', 'v1-pg', '--yes']);
      assert.equal(deployed.code, 0, describe(deployed));
    }
    await fx.app('production').addNote('invoice for alice@example.com');
    await fx.app('production').addNote('call bob.smith@example.org back');
    await fx.app('staging').addNote('a staging experiment');
    writeFileSync(path.join(fx.repo, 'scrub.sql'), "UPDATE notes SET text = 'scrubbed ' || id;\n");
    writeFileSync(path.join(fx.repo, 'bad.sql'), 'UPDATE no_such_table SET text = 1;\n');
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await pg?.stop();
  });

  it('refuses a copy without a scrub unless --no-scrub says so; nothing is copied or recorded', { timeout: 60_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    const refused = await fx.cli(['data', 'copy', 'production', 'staging', '--yes']);
    assert.equal(refused.code, 2, describe(refused));
    assert.match(refused.stderr, /unscrubbed/);
    assert.match(refused.stderr, /personal data should not reach staging/);
    assert.match(refused.stderr, /--scrub <file\.sql>.*--no-scrub/);
    assert.deepEqual(await texts('staging'), ['a staging experiment']);
    assert.deepEqual(await copies(), [], 'nothing recorded');
  });

  it('a bad scrub and a damaged source backup fail, leave staging on its own data, and are recorded with why', { timeout: 90_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    const bad = await fx.cli(['data', 'copy', 'production', 'staging', '--scrub', 'bad.sql', '--yes']);
    assert.equal(bad.code, 1, describe(bad));
    assert.match(bad.stderr, /no_such_table/);
    assert.deepEqual(await texts('staging'), ['a staging experiment'], 'staging is back on its previous data');
    assert.equal((await fx.app('staging').request('GET', '/healthz')).status, 200, 'staging serves');

    const backup = json<{ id: string }>(await fx.cli(['backup', 'production', '--json']));
    const [listed] = json<Array<{ id: string; createdAt: string }>>(await fx.cli(['backups', 'production', '--json']));
    assert.equal(listed?.id, backup.id);
    const folder = path.join(fx.hostRoot('production'), 'backups', backup.id);
    const dump = readdirSync(folder).find((name) => name !== 'backup.json')!;
    appendFileSync(path.join(folder, dump), 'bit rot');
    const damaged = await fx.cli(['data', 'copy', 'production', 'staging', '--backup', backup.id, '--scrub', 'scrub.sql', '--yes']);
    assert.equal(damaged.code, 1, describe(damaged));
    assert.match(damaged.stderr, /damaged/);
    assert.match(damaged.stderr, /nothing changed: staging keeps its own data/);
    assert.deepEqual(await texts('staging'), ['a staging experiment']);

    const [second, first] = await copies();
    assert.equal(first?.outcome, 'failed');
    assert.match(first!.error!, /no_such_table/);
    assert.match(first!.error!, /staging is back on its previous data/);
    assert.equal(first!.scrubFile, 'bad.sql');
    assert.equal(first!.scrubSha256, sha256(path.join(fx.repo, 'bad.sql')));
    assert.equal(first!.sourceEnvironment, 'production');
    assert.ok(first!.deploymentId, 'the failed restore is in history');
    assert.equal(second?.outcome, 'failed');
    assert.equal(second!.backupId, backup.id);
    assert.equal(second!.backupCreatedAt, listed!.createdAt, "the backup's own time");
    assert.match(second!.error!, /damaged.*nothing was changed/);
    assert.equal(second!.deploymentId, null, 'no update started');
  });

  it('a scrubbed copy and a --no-scrub copy are recorded newest first with the backup, its time and the scrub', { timeout: 90_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    const copy = await fx.cli(['data', 'copy', 'production', 'staging', '--scrub', 'scrub.sql', '--yes']);
    assert.equal(copy.code, 0, describe(copy));
    const backupId = /\(backup (\S+)\)/.exec(copy.stdout)![1]!;
    assert.ok((await texts('staging')).every((text) => text.startsWith('scrubbed ')), 'scrubbed');
    assert.equal((await texts('staging')).length, 2);
    const backups = json<Array<{ id: string; createdAt: string }>>(await fx.cli(['backups', 'production', '--json']));
    const [latest] = await copies();
    assert.equal(latest?.outcome, 'succeeded');
    assert.equal(latest!.trigger, 'manual');
    assert.equal(latest!.backupId, backupId);
    assert.equal(latest!.backupCreatedAt, backups.find((b) => b.id === backupId)?.createdAt);
    assert.equal(latest!.scrubbed, true);
    assert.equal(latest!.scrubFile, 'scrub.sql');
    assert.equal(latest!.scrubSha256, sha256(path.join(fx.repo, 'scrub.sql')));
    const [restore] = json<Array<{ id: number; kind: string }>>(await fx.cli(['history', 'staging', '--json']));
    assert.deepEqual([latest!.deploymentId, 'restore'], [restore!.id, restore!.kind]);

    const plain = await fx.cli(['data', 'copy', 'production', 'staging', '--backup', backupId, '--no-scrub', '--yes']);
    assert.equal(plain.code, 0, describe(plain));
    assert.ok((await texts('staging')).some((text) => text.includes('alice@example.com')), 'not scrubbed, as asked');
    const listed = await copies();
    assert.deepEqual(listed.map((c) => [c.outcome, c.scrubbed]), [['succeeded', false], ['succeeded', true], ['failed', true], ['failed', true]]);
    assert.equal(listed[0]!.scrubFile, null);
    const table = await fx.cli(['data', 'copies', 'staging']);
    assert.match(table.stdout, /NOT SCRUBBED/);
    assert.match(table.stdout, /scrub\.sql \([0-9a-f]{12}\)/);
  });

  it("the data_copy schedule: staging's agent copies production's newest verified backup, scrubbed; a failing one keeps the data and says why", { timeout: 90_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    await fx.app('production').addNote('new customer carol@example.net');
    const backup = json<{ id: string }>(await fx.cli(['backup', 'production', '--json']));
    const productionBefore = await texts('production');

    // staging's agent, in this process: its schedule's clock is the test's.
    const { project, environment, layout, lines, agent, ledger } = await stagingAgentHere(t);
    let schedule: CopySchedule | undefined;
    t.after(async () => {
      await schedule?.stop();
      await agent.close();
      ledger.close();
    });
    const before = ledger.listDataCopies().length;
    // The schedule reads this clock every 50 ms; the test moves it to 300 ms before each planned run.
    let offset = 0;
    const clock = () => new Date(Date.now() + offset);
    const skipToNextRun = () => {
      offset = schedule!.next()!.getTime() - 300 - Date.now();
    };
    const settings = { from: 'production', schedule: '* * * * *', scrubFile: 'scrub.sql', noScrub: false };
    schedule = startAgentCopySchedule({
      project,
      environment,
      settings,
      layout,
      ledger: () => ledger,
      processEnv: process.env,
      update: (kind, request, emit) => agent.update(kind, request, emit),
      log: (line) => lines.push(line),
      now: clock,
      maxSleepMs: 50,
    });
    skipToNextRun();
    await waitUntil('the scheduled copy is recorded', () => ledger.listDataCopies().length > before && ledger.listDataCopies({ limit: 1 })[0]?.outcome === 'succeeded', 60_000, { intervalMs: 100, explain: () => lines.join('\n') });
    const [scheduled] = await copies();
    assert.equal(scheduled?.trigger, 'schedule');
    assert.equal(scheduled!.backupId, backup.id, "production's newest verified backup");
    assert.equal(scheduled!.scrubFile, 'scrub.sql');
    const staging = await texts('staging');
    assert.equal(staging.length, 3, "production's three notes");
    assert.ok(staging.every((text) => text.startsWith('scrubbed ')), `scrubbed: ${staging.join(', ')}`);
    assert.deepEqual(await texts('production'), productionBefore, 'production untouched');
    assert.match(lines.join('\n'), /data copy from production done: staging runs on backup/);

    // The scrub breaks: the next run fails, staging stays on the copy it has.
    writeFileSync(path.join(fx.repo, 'scrub.sql'), 'UPDATE notes SET no_such_column = 1;\n');
    await waitUntil('the next run is planned', () => schedule!.next() !== null);
    skipToNextRun();
    await waitUntil('the failing scheduled copy is recorded', () => ledger.listDataCopies({ limit: 1 })[0]?.outcome === 'failed', 60_000, { intervalMs: 100, explain: () => lines.join('\n') });
    const [failed] = await copies();
    assert.equal(failed?.trigger, 'schedule');
    assert.match(failed!.error!, /no_such_column/);
    assert.deepEqual(await texts('staging'), staging, 'staging keeps the data of the last good copy');
    assert.match(lines.join('\n'), /data copy from production FAILED: .*no_such_column.*staging is on its previous data/);
    writeFileSync(path.join(fx.repo, 'scrub.sql'), "UPDATE notes SET text = 'scrubbed ' || id;\n");
  });

  it('status without an environment: one line for each, with the age of its data and its last change', { timeout: 30_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    const result = await fx.cli(['status', '--json']);
    assert.equal(result.code, 0, describe(result));
    type Line = { environment: string; current: { version: string } | null; dataAge: { source: string; at: string; from: string; backupId: string; seconds: number } | null; lastChange: { kind: string; outcome: string } | null };
    const lines = JSON.parse(result.stdout) as Line[];
    assert.deepEqual(lines.map((l) => [l.environment, l.current?.version]), [['production', 'v1-pg'], ['staging', 'v1-pg']]);
    const [production, staging] = lines;
    const [lastGood] = (await copies()).filter((c) => c.outcome === 'succeeded');
    assert.deepEqual(
      { source: staging!.dataAge?.source, at: staging!.dataAge?.at, from: staging!.dataAge?.from, backupId: staging!.dataAge?.backupId },
      { source: 'copy', at: lastGood!.backupCreatedAt, from: 'production', backupId: lastGood!.backupId },
      "staging's data is as old as the production backup of its last good copy",
    );
    const [newestBackup] = json<Array<{ id: string; createdAt: string }>>(await fx.cli(['backups', 'production', '--json']));
    assert.deepEqual([production!.dataAge?.source, production!.dataAge?.at], ['backup', newestBackup!.createdAt]);
    assert.deepEqual([staging!.lastChange?.kind, staging!.lastChange?.outcome], ['restore', 'rolled-back'], 'the failed scheduled copy was the last change');
    assert.equal(production!.lastChange?.kind, 'deploy');

    const table = await fx.cli(['status']);
    assert.equal(table.code, 0, describe(table));
    assert.match(table.stdout, /ENVIRONMENT\s+VERSION\s+HEALTH\s+DATA AGE\s+LAST CHANGE/);
    assert.match(table.stdout, /staging\s+v1-pg\s+\S+\s+.*\(copy of production, scrubbed\)/);
    const one = await fx.cli(['status', 'staging', '--json']);
    assert.equal(JSON.parse(one.stdout).environment, 'staging', 'a named environment is the one-environment status');
  });

  it('a scrub file that is not there: data copy --scrub and the schedule refuse, say which file, and change nothing', { timeout: 90_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    // Staging's agent runs in this process, as above: its schedule names a scrub file that is not there.
    const { project, environment, layout, lines, agent, ledger } = await stagingAgentHere(t);
    t.after(() => ledger.close());
    const stagingBefore = await texts('staging');
    const productionBefore = await texts('production');
    const copiesBefore = await copies();
    const listIds = async (command: string[]) => json<Array<{ id: string | number }>>(await fx.cli([...command, '--json'])).map((entry) => entry.id);
    const productionBackups = await listIds(['backups', 'production']);
    const stagingHistory = await listIds(['history', 'staging']);

    // By hand: refused before production is backed up or staging is touched.
    const manual = await fx.cli(['data', 'copy', 'production', 'staging', '--scrub', 'gone.sql', '--yes']);
    assert.equal(manual.code, 2, describe(manual));
    assert.match(manual.stderr, /error: cannot read the scrub file \S*gone\.sql/);
    assert.match(manual.stderr, /hint: pass a \.sql file that anonymises the copy/);
    assert.doesNotMatch(manual.stderr, /backing up/);
    assert.deepEqual(await copies(), copiesBefore, 'the manual copy recorded nothing');

    let updates = 0;
    const schedule = startAgentCopySchedule({
      project,
      environment,
      settings: { from: 'production', schedule: '0 3 * * *', scrubFile: 'gone.sql', noScrub: false },
      layout,
      ledger: () => ledger,
      processEnv: process.env,
      update: (kind, request, emit) => {
        updates += 1;
        return agent.update(kind, request, emit);
      },
      log: (line) => lines.push(line),
    });
    t.after(async () => {
      await schedule.stop();
      await agent.close();
    });
    await waitUntil('the agent warns of the missing scrub file at once', () => lines.some((line) => line.startsWith('warning: the scrub file of data_copy')), 10_000, { explain: () => lines.join('\n') });
    const result = await schedule.runNow();
    assert.equal(result.ok, false);
    assert.equal(updates, 0, 'no update of staging was started');
    const [refused] = await copies();
    assert.equal(refused?.trigger, 'schedule');
    assert.equal(refused!.outcome, 'failed');
    assert.match(refused!.error!, new RegExp(`the scrub file of data_copy, ${path.join(fx.repo, 'gone.sql').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, cannot be read \\(ENOENT\\): no copy from production is made without it \\(nothing was changed\\)`));
    assert.equal(refused!.backupId, null, 'no backup of production was even looked for');
    assert.equal(refused!.scrubFile, 'gone.sql');
    assert.match(lines.join('\n'), /data copy from production FAILED: the scrub file of data_copy, .*gone\.sql, cannot be read .*; staging keeps its data/);
    assert.doesNotMatch(lines.join('\n'), /looking for its newest verified backup/);

    // Nothing changed: both environments' notes, production's backups, staging's history; one record more, the refused schedule's.
    assert.deepEqual(await texts('staging'), stagingBefore);
    assert.deepEqual(await texts('production'), productionBefore);
    assert.deepEqual(await listIds(['backups', 'production']), productionBackups);
    assert.deepEqual(await listIds(['history', 'staging']), stagingHistory);
    assert.deepEqual((await copies()).slice(1), copiesBefore);
  });

  it('data_copy in slipway.yml: the agent process of staging copies production on its schedule, scrubbed', { timeout: 150_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    const backup = json<{ id: string }>(await fx.cli(['backup', 'production', '--json']));
    fx.editProjectFile((project) => {
      project.environments.staging.data_copy = { from: 'production', schedule: '* * * * *', scrub: 'scrub.sql' };
    });
    // The earlier test's scheduled copies are in the record too: this one is the next.
    const earlier = new Set((await copies()).map((c) => c.id));
    await agents.get('staging')!.stop();
    const agent = await fx.startAgent({ environment: 'staging' });
    const fresh = async () => (await copies()).filter((c) => !earlier.has(c.id));
    await waitUntil('a scheduled copy is recorded', async () => (await fresh()).some((c) => c.trigger === 'schedule' && c.outcome !== null), 80_000, { intervalMs: 1000, explain: () => agent.output() });
    const [copy] = await fresh();
    assert.equal(copy?.outcome, 'succeeded', agent.output());
    assert.equal(copy!.backupId, backup.id);
    assert.ok((await texts('staging')).every((text) => text.startsWith('scrubbed ')));
    assert.match(agent.output(), /scheduled data copies from production/);
    assert.match(agent.output(), /data copy from production done/);
  });
});
