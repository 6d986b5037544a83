/**
 * Issue 17: one backup per host per rollout, over real SSH. The rollout backs every host up
 * before any host changes; each host's update then takes that backup as its own instead of
 * backing up again, and `rollback --with-data` restores it. A host written to after the
 * rollout's backup (v2 migrates, so its undo would restore the backup) takes a fresh one,
 * with writes held, and says why: the write is not lost.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { it } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.js';
import { sshdUnavailableReason } from '../helpers/sshd.js';
import { createFleet, type Fleet } from '../helpers/fleet-fixture.js';
import { buildProgram } from '../../src/cli/main.js';
import { DeployRequestSchema } from '../../src/agent/api.js';

const Database = createRequire(path.join(REPO_ROOT, 'package.json'))('better-sqlite3') as typeof import('better-sqlite3');

/** The host side carries the rollout's backup: `deploy --use-backup <id>` and the agent's deploy request field. */
function hostTakesRolloutBackups(): string | null {
  const deploy = buildProgram().commands.find((c) => c.name() === 'deploy');
  if (!deploy?.options.some((o) => o.long === '--use-backup')) return 'deploy has no --use-backup option (src/cli/main.ts)';
  if (!('rolloutBackupId' in DeployRequestSchema.shape)) return "the agent's deploy request has no rolloutBackupId (src/agent/api.ts)";
  return null;
}
const skip = sshdUnavailableReason() ?? hostTakesRolloutBackups();

interface BackupRow {
  id: string;
  reason: string;
  deploymentId: number | null;
}

/** The host's own catalog (its ledger), oldest first. */
function backupsOn(fleet: Fleet, host: string): BackupRow[] {
  const db = new Database(path.join(fleet.hosts.get(host)!.root, 'ledger.db'), { readonly: true });
  try {
    return db.prepare('SELECT id, reason, deployment_id AS deploymentId FROM backups ORDER BY created_at, id').all() as BackupRow[];
  } finally {
    db.close();
  }
}

/** The host's latest deployment: its id and what each step said. */
function lastDeploymentOn(fleet: Fleet, host: string): { id: number; kind: string; steps: Record<string, string> } {
  const db = new Database(path.join(fleet.hosts.get(host)!.root, 'ledger.db'), { readonly: true });
  try {
    const d = db.prepare('SELECT id, kind FROM deployments ORDER BY id DESC LIMIT 1').get() as { id: number; kind: string };
    const steps = db.prepare('SELECT name, detail FROM deployment_steps WHERE deployment_id = ? ORDER BY id').all(d.id) as { name: string; detail: string | null }[];
    return { ...d, steps: Object.fromEntries(steps.map((s) => [s.name, s.detail ?? ''])) };
  } finally {
    db.close();
  }
}

function postNote(fleet: Fleet, host: string, text: string): Promise<number> {
  const { address, port } = fleet.hosts.get(host)!;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: address, port, path: '/api/notes', method: 'POST', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ text }));
  });
}

const newSince = (before: BackupRow[], after: BackupRow[]) => after.filter((b) => !before.some((o) => o.id === b.id));

it('a fleet rollout backs each host up once: the update uses the backup taken first, rollback --with-data restores it; a host written to since takes a fresh one', { skip: skip ?? false, timeout: 600_000 }, async (t) => {
  const fleet = await createFleet(t, [{ name: 'auth' }, { name: 'app1', dependsOn: ['auth'] }]);
  const setup = await fleet.cli(['setup', 'production']);
  assert.equal(setup.code, 0, `setup:\n${setup.stdout}\n${setup.stderr}`);
  const v1 = await fleet.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(v1.code, 0, `deploy v1:\n${v1.stdout}\n${v1.stderr}`);
  const before = { auth: backupsOn(fleet, 'auth'), app1: backupsOn(fleet, 'app1') };

  // app1 gets a note once every host is backed up and auth's level starts: a write after app1's backup, before its update.
  let stderr = '';
  let written: Promise<number> | null = null;
  let app1StartedBeforeTheWrite = false;
  const v2 = await fleet.cli(['deploy', 'production', '--version', 'v2', '--yes', '--json'], {
    onStderr: (chunk) => {
      stderr += chunk;
      if (!written && stderr.includes('level 1 of 2: auth')) {
        written = postNote(fleet, 'app1', 'written between the rollout backup and the update').then((status) => {
          app1StartedBeforeTheWrite = stderr.includes('app1: updating');
          return status;
        });
      }
    },
  });
  assert.equal(v2.code, 0, `deploy v2:\n${v2.stdout}\n${stderr}`);
  assert.ok(written, `the rollout announced its first level:\n${stderr}`);
  assert.equal(await written, 201, 'the note was accepted');
  assert.equal(app1StartedBeforeTheWrite, false, 'the note landed before app1 began its update');

  const summary = JSON.parse(v2.stdout) as { rows: { host: string; outcome: string; backup: string; backupReused?: boolean }[] };
  const row = (host: string) => summary.rows.find((r) => r.host === host)!;
  assert.ok(summary.rows.every((r) => r.outcome === 'updated'), v2.stdout);
  const authBackup = row('auth').backup;
  const app1Backup = row('app1').backup;
  assert.match(authBackup, /^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
  assert.match(app1Backup, /^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
  assert.equal(row('auth').backupReused, true, v2.stdout);
  assert.equal(row('app1').backupReused, false, v2.stdout);

  // The output names the backup each host used, and why app1 did not use the rollout's.
  assert.match(stderr, new RegExp(`auth: backed up \\(${authBackup}\\)`));
  assert.match(stderr, new RegExp(`auth \\|.*backup\\s+\\d+ ms\\s+backup ${authBackup} taken at the start of the rollout \\(\\d+ s ago\\); the data is unchanged since \\(compared with writes held\\)`), stderr);
  assert.match(stderr, new RegExp(`app1 \\|.*backup\\s+\\d+ ms\\s+\\d{8}T\\d{6}Z-[0-9a-f]{6}, .*verified; writes held from the snapshot on; backup ${app1Backup} taken at the start of the rollout not used: the data changed since it was taken \\(main: notes`), stderr);
  assert.match(stderr, new RegExp(`auth: v2 serving and healthy \\([\\d.]+s; its backup: ${authBackup}, taken first\\)`));
  assert.match(stderr, /app1: v2 serving and healthy \([\d.]+s; it took a fresh backup\)/);

  // Counted in each host's catalog: auth took one pre-update backup in the whole rollout, app1 two.
  const authNew = newSince(before.auth, backupsOn(fleet, 'auth'));
  const app1New = newSince(before.app1, backupsOn(fleet, 'app1'));
  const authUpdate = lastDeploymentOn(fleet, 'auth');
  assert.deepEqual(authNew.filter((b) => b.reason === 'pre-deploy'), [{ id: authBackup, reason: 'pre-deploy', deploymentId: authUpdate.id }], JSON.stringify(authNew));
  assert.deepEqual(authNew.map((b) => b.reason), ['pre-deploy', 'post-deploy'], 'one backup before the update, one after it (step 10), nothing else');
  const app1Update = lastDeploymentOn(fleet, 'app1');
  assert.deepEqual(app1New.map((b) => b.reason), ['pre-deploy', 'pre-deploy', 'post-deploy']);
  assert.equal(app1New[0]!.id, app1Backup);
  assert.equal(app1New[0]!.deploymentId, null, "the rollout's backup stays unclaimed");
  assert.equal(app1New[1]!.deploymentId, app1Update.id, "the fresh one is the update's");

  // rollback --with-data on every host restores the backup each update used.
  const back = await fleet.cli(['rollback', 'production', '--yes', '--with-data']);
  assert.equal(back.code, 0, `rollback:\n${back.stdout}\n${back.stderr}`);
  for (const host of ['auth', 'app1']) {
    assert.equal((await fleet.get(host, '/version')).body, 'v1', `${host} serves v1`);
    assert.ok(!fleet.noteColumns(host).includes('words'), `${host} has v1's schema again`);
  }
  const authBack = lastDeploymentOn(fleet, 'auth');
  assert.equal(authBack.kind, 'rollback-with-data');
  assert.match(authBack.steps.migrate!, new RegExp(`^restored backup ${authBackup} `), JSON.stringify(authBack.steps));
  const app1Back = lastDeploymentOn(fleet, 'app1');
  assert.match(app1Back.steps.migrate!, new RegExp(`^restored backup ${app1New[1]!.id} `), JSON.stringify(app1Back.steps));
  const notes = JSON.parse((await fleet.get('app1', '/api/notes')).body) as { text: string }[];
  assert.ok(notes.some((n) => n.text === 'written between the rollout backup and the update'), `the note written after the rollout backup survives: ${JSON.stringify(notes)}`);
});
