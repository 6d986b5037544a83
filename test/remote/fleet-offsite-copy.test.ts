/**
 * Issue 16, the staging loop between two servers driven over SSH ("off-site copies in the
 * store"): production on one host and staging on another (real sshd on loopback, a root
 * each), an S3-compatible server as both environments' store. Production's host keeps its
 * releases in a folder of its own but sends its encrypted backups to the S3 store; staging's
 * agent takes the newest one on its data_copy schedule, restores it, scrubs it and records
 * it. Production's data is not touched. The S3 credentials and the backup key reach the hosts
 * through their SSH sessions' environment (as a server's own environment would), never
 * through slipway.yml.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { listOffsiteBackups } from '../../src/data/offsite.js';
import type { DataCopyRecord } from '../../src/host/ledger.js';
import { openStore } from '../../src/store/open-store.js';
import { runCli } from '../helpers/cli.js';
import { createFleet, type Fleet } from '../helpers/fleet-fixture.js';
import { startS3Server } from '../helpers/s3.js';
import { sshdUnavailableReason } from '../helpers/sshd.js';
import { waitUntil } from '../helpers/wait-until.js';

const skip = sshdUnavailableReason();
const BUCKET = 'notes-store';
const SECRET_NOTE = 'card 4111 1111 1111 1111 belongs to Ada';

function postNote(fleet: Fleet, host: string, text: string): Promise<number> {
  const { address, port } = fleet.hosts.get(host)!;
  return fetch(`http://${address}:${port}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) }).then((res) => res.status);
}

async function noteTexts(fleet: Fleet, host: string): Promise<string[]> {
  const answer = await fleet.get(host, '/api/notes');
  assert.equal(answer.status, 200, answer.body);
  return (JSON.parse(answer.body) as { text: string }[]).map((note) => note.text);
}

/** `slipway data copies <env> --json`, run here: the CLI asks the environment's host over SSH. */
async function dataCopies(fleet: Fleet, environment: string): Promise<DataCopyRecord[]> {
  const listed = await fleet.cli(['data', 'copies', environment, '--json']);
  assert.equal(listed.code, 0, `data copies ${environment}:\n${listed.stdout}\n${listed.stderr}`);
  return JSON.parse(listed.stdout) as DataCopyRecord[];
}

/** Every file under `dir` whose bytes hold `text`. */
function filesHolding(dir: string, text: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => fs.readFileSync(file).includes(text));
}

const agentLog = (root: string) => fs.readFileSync(path.join(root, 'logs', 'agent.log'), 'utf8');

it("staging on one SSH-driven server copies production's data from another, through production's encrypted off-site copies in the S3 store", { skip: skip ?? false, timeout: 600_000 }, async (t) => {
  const s3 = await startS3Server({ buckets: [BUCKET] });
  t.after(() => s3.stop());
  // Registered before the fleet's own teardown, so it runs first: that one stops each host's agent by the host's file alone,
  // which names two environments on staging's host (staging, and production as its copy source).
  let stagingRoot: string | null = null;
  t.after(async () => {
    if (stagingRoot === null || !fs.existsSync(path.join(stagingRoot, 'slipway.yml'))) return;
    const stopped = await runCli(['agent', '--stop', '--env', 'staging', '--config', path.join(stagingRoot, 'slipway.yml')], { cwd: stagingRoot, home: stagingRoot, timeoutMs: 30_000 });
    if (stopped.code !== 0) process.stderr.write(`agent --stop on stage1 said (${stopped.code}): ${stopped.stderr}\n`);
  });
  const backupKey = randomBytes(32).toString('base64');
  // Each server's own environment: the store's credentials, and production's backup key (staging's host decrypts with it).
  const serverEnv = { ...s3.env, PROD_BACKUP_KEY: backupKey };
  const storeYaml = `{ type: s3, bucket: ${BUCKET}, endpoint: "${s3.endpoint}", force_path_style: true, region: us-east-1 }`;
  const fleet = await createFleet(t, [{ name: 'prod1', sessionEnv: serverEnv }, { name: 'stage1', sessionEnv: serverEnv }], { build: false, store: { yaml: storeYaml, env: s3.env } });

  // production on prod1, staging on stage1, copying production every minute through a scrub file.
  const host = (name: string) => fleet.hosts.get(name)!;
  stagingRoot = host('stage1').root;
  fs.writeFileSync(path.join(fleet.repo, 'scrub.sql'), "UPDATE notes SET text = 'scrubbed';\n");
  const base = fs.readFileSync(fleet.configFile, 'utf8').replace(/\nenvironments:[\s\S]*$/, '\n');
  fs.writeFileSync(
    fleet.configFile,
    `${base}${[
      'environments:',
      '  production:',
      '    port: 8080',
      `    store: ${storeYaml}`,
      '    backup_key_env: PROD_BACKUP_KEY',
      '    health_window: 300ms',
      '    drain_timeout: 1s',
      '    hosts:',
      `      prod1: { ssh: "${host('prod1').sshd.url}", root: "${host('prod1').root}", port: ${host('prod1').port} }`,
      '  staging:',
      '    port: 8081',
      `    store: ${storeYaml}`,
      '    health_window: 300ms',
      '    drain_timeout: 1s',
      '    data_copy: { from: production, schedule: "* * * * *", scrub: scrub.sql }',
      '    hosts:',
      `      stage1: { ssh: "${host('stage1').sshd.url}", root: "${host('stage1').root}", port: ${host('stage1').port} }`,
    ].join('\n')}\n`,
  );

  const published = await fleet.cli(['publish', 'production', '--ref', 'v1']);
  assert.equal(published.code, 0, published.stderr);
  const setupProduction = await fleet.cli(['setup', 'production']);
  assert.equal(setupProduction.code, 0, `${setupProduction.stdout}\n${setupProduction.stderr}`);
  const hostFile = fs.readFileSync(path.join(host('prod1').root, 'slipway.yml'), 'utf8');
  assert.match(hostFile, /offsite_backups: true/);
  assert.match(hostFile, new RegExp(`offsite_store:[\\s\\S]*bucket: ${BUCKET}`));
  for (const value of [backupKey, s3.env.AWS_SECRET_ACCESS_KEY]) assert.ok(!hostFile.includes(value), "no secret value in the host's file");
  const deployed = await fleet.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);

  for (const text of ['first note', SECRET_NOTE, 'third note']) assert.equal(await postNote(fleet, 'prod1', text), 201);
  const productionNotes = await noteTexts(fleet, 'prod1');
  assert.deepEqual(productionNotes, ['first note', SECRET_NOTE, 'third note']);

  // production's backup: verified, and its encrypted copy sent to the S3 store, not to the host's folder store.
  const backup = await fleet.cli(['backup', 'production', '--json']);
  assert.equal(backup.code, 0, `${backup.stdout}\n${backup.stderr}`);
  const taken = JSON.parse(backup.stdout) as { id: string; verifiedAt: string | null; offsite: { ok: boolean; store?: string; error?: string } | null } | { id: string; verifiedAt: string | null; offsite: { ok: boolean; store?: string; error?: string } | null }[];
  const record = Array.isArray(taken) ? taken[0]! : taken;
  assert.ok(record.verifiedAt, backup.stdout);
  assert.equal(record.offsite?.ok, true, backup.stdout);
  assert.match(record.offsite!.store!, new RegExp(`s3://${BUCKET}/`));
  const store = await openStore({ type: 's3', bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' }, fleet.repo, s3.env);
  const inS3 = await listOffsiteBackups({ store, app: 'notes', environment: 'production' });
  // (the deploy's own backup went there too)
  assert.equal(inS3[0]?.id, record.id, `the newest copy in the store: ${inS3.map((c) => c.id).join(', ')}`);
  assert.ok(inS3[0]!.verifiedAt, 'listed as verified: a copy source takes it');
  assert.deepEqual(filesHolding(s3.dir, SECRET_NOTE), [], 'the copy in the store is encrypted');
  // `backups --offsite`, run on the host, lists what is in the S3 store.
  const listed = await fleet.cli(['backups', 'production', '--offsite', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.ok(listed.stdout.includes(record.id), listed.stdout);
  assert.equal(fs.existsSync(path.join(host('prod1').root, 'store', 'notes', 'backups')), false, "nothing off-site in the host's own folder store");

  // staging on the other server: its schedule takes that copy, restores it, scrubs it.
  const setupStaging = await fleet.cli(['setup', 'staging']);
  assert.equal(setupStaging.code, 0, `${setupStaging.stdout}\n${setupStaging.stderr}`);
  const stagingDeployed = await fleet.cli(['deploy', 'staging', '--version', 'v1', '--yes']);
  assert.equal(stagingDeployed.code, 0, `${stagingDeployed.stdout}\n${stagingDeployed.stderr}`);
  const stageRoot = host('stage1').root;
  // A copy between the two servers is made by staging's agent, not from here: refused, saying how.
  const manual = await fleet.cli(['data', 'copy', 'production', 'staging', '--scrub', 'scrub.sql', '--yes']);
  assert.equal(manual.code, 2, `${manual.stdout}\n${manual.stderr}`);
  assert.match(manual.stderr, /copies between environments on this machine, and production runs on remote hosts \(prod1\): nothing was copied/);
  assert.match(manual.stderr, /hint: staging's own agent copies production's data[\s\S]*data_copy: \{ from: production[\s\S]*slipway data copies staging/);
  await waitUntil('a scheduled copy on staging has finished', async () => (await dataCopies(fleet, 'staging')).some((c) => c.trigger === 'schedule' && c.outcome !== null), 150_000, {
    intervalMs: 2000,
    explain: () => agentLog(stageRoot),
  });
  const [copy] = (await dataCopies(fleet, 'staging')).filter((c) => c.trigger === 'schedule');
  assert.equal(copy!.outcome, 'succeeded', `${copy!.error}\n${agentLog(stageRoot)}`);
  assert.equal(copy!.sourceEnvironment, 'production');
  assert.equal(copy!.backupId, record.id, "production's backup, through its off-site copy");
  assert.equal(copy!.scrubbed, true);
  assert.match(agentLog(stageRoot), new RegExp(`production's off-site copies in s3://${BUCKET}/`));

  // staging runs on the scrubbed copy; production's data and host are as they were.
  assert.deepEqual(await noteTexts(fleet, 'stage1'), ['scrubbed', 'scrubbed', 'scrubbed']);
  assert.deepEqual(await noteTexts(fleet, 'prod1'), productionNotes);
  assert.deepEqual(await dataCopies(fleet, 'production'), [], 'nothing was copied into production');
  const table = await fleet.cli(['data', 'copies', 'staging']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`\\d+ +\\S+ \\S+ +schedule +production +${record.id} .* scrub\\.sql \\([0-9a-f]{12}\\) +succeeded`));
  const status = await fleet.cli(['status', 'staging', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const dataAge = (JSON.parse(status.stdout) as { dataAge: { source: string; environment: string | null; scrubbed?: boolean } | null }).dataAge;
  assert.deepEqual([dataAge?.source, dataAge?.environment, dataAge?.scrubbed], ['copy', 'production', true], status.stdout);
});
