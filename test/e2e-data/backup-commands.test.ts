import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { createDataFixture, describe, json, noteColumns, type DataFixture } from '../helpers/data-fixture.js';

// CONTRACT.md: `slipway backup`, `backups`, `restore`; issue 4: "Corrupted backup
// file: verify fails, restore refuses"; retention never deletes the newest verified backup.

interface BackupEntry {
  id: string;
  release: { id: string; version: string | null } | null;
  reason: string;
  createdAt: string;
  verifiedAt: string | null;
  items: Array<{ name: string; engine: string; file: string; size: number; sha256: string }>;
}

interface PruneReport {
  pruned: Array<{ id: string }>;
  kept: Array<{ backup: { id: string }; reasons: string[] }>;
}

async function takeBackup(fx: DataFixture): Promise<BackupEntry> {
  const result = await fx.cli(['backup', 'production', '--json']);
  assert.equal(result.code, 0, describe(result));
  return json<BackupEntry>(result);
}

/** Flips one byte in the middle of a backup's database file: the damage a failing disk does. */
function corruptDatabaseFile(fx: DataFixture, backup: BackupEntry): string {
  const item = backup.items.find((i) => i.engine === 'sqlite')!;
  const file = path.join(fx.hostRoot(), 'backups', backup.id, item.file);
  const bytes = readFileSync(file);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  writeFileSync(file, bytes);
  return item.file;
}

async function appPid(fx: DataFixture): Promise<number> {
  const status = json<{ slots: Array<{ services: Array<{ pid: number | null }> }> }>(await fx.cli(['status', 'production', '--json']));
  return status.slots[0]!.services[0]!.pid!;
}

it('backup, verify, a corrupted backup that verify catches and restore refuses, and a prune that keeps the newest verified backup', { timeout: 120_000 }, async (t) => {
  const fx = await createDataFixture(t, { build: ['v1'] });
  // Keep as little as the policy allows, so that the dry run has something to list.
  fx.editProjectFile((project) => {
    project.environments.production.retention = { backups: { last: 1, daily: 0, weekly: 0 } };
  });
  await fx.startAgent();
  const app = fx.app();
  assert.equal((await fx.cli(['deploy', 'production', '--version', 'v1', '--yes'])).code, 0);
  const [postDeploy] = json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json']));
  assert.equal(postDeploy?.reason, 'post-deploy');
  await app.addNote('first');
  await app.addNote('second');
  await app.putUpload('a.txt', 'file a');

  const manual = await takeBackup(fx);
  for (const key of ['id', 'release', 'items']) assert.ok(key in manual, `backup --json has "${key}": ${JSON.stringify(manual)}`);
  assert.equal(manual.release?.version, 'v1');
  assert.deepEqual(manual.items.map((i) => `${i.name}:${i.engine}`).sort(), ['main:sqlite', 'uploads:files']);
  for (const item of manual.items) {
    assert.match(item.sha256, /^[0-9a-f]{64}$/);
    assert.ok(existsSync(path.join(fx.hostRoot(), 'backups', manual.id, item.file)), `${item.file} exists`);
  }
  const listed = json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json'])).find((b) => b.id === manual.id);
  assert.equal(listed?.reason, 'manual');
  assert.ok(listed?.verifiedAt, 'a backup is listed as verified once it passed its checks');

  const verified = await fx.cli(['backup', 'verify', 'production', manual.id]);
  assert.equal(verified.code, 0, describe(verified));
  assert.match(verified.stdout, /verified/);
  const newest = await takeBackup(fx);

  const damagedFile = corruptDatabaseFile(fx, manual);
  const verifyDamaged = await fx.cli(['backup', 'verify', 'production', manual.id]);
  assert.equal(verifyDamaged.code, 1, describe(verifyDamaged));
  assert.match(verifyDamaged.stdout, new RegExp(`${damagedFile.replace(/\./g, '\\.')}: sha256 .* differs`));

  const notesBefore = await app.notes();
  const pidBefore = await appPid(fx);
  const idsBefore = json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json'])).map((b) => b.id);
  const restore = await fx.cli(['restore', 'production', manual.id, '--yes']);
  assert.equal(restore.code, 1, describe(restore));
  assert.match(restore.stderr, /damaged/);
  assert.deepEqual(await app.notes(), notesBefore, 'the data is untouched');
  assert.equal(await app.upload('a.txt'), 'file a');
  assert.equal(await appPid(fx), pidBefore, 'the app was not even restarted: the restore was refused before anything changed');
  assert.deepEqual(json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json'])).map((b) => b.id), idsBefore, 'no backup was taken for a restore that cannot happen');

  const dryRun = await fx.cli(['backup', 'prune', 'production', '--dry-run', '--json']);
  assert.equal(dryRun.code, 0, describe(dryRun));
  const report = json<PruneReport>(dryRun);
  const wouldPrune = report.pruned.map((b) => b.id);
  assert.ok(wouldPrune.includes(postDeploy.id), `the policy (last 1) would prune older backups: ${JSON.stringify(wouldPrune)}`);
  assert.equal(wouldPrune.includes(newest.id), false, 'never the newest verified backup');
  assert.ok(report.kept.find((k) => k.backup.id === newest.id)?.reasons.includes('newest-verified'), JSON.stringify(report.kept));
  const text = await fx.cli(['backup', 'prune', 'production', '--dry-run']);
  assert.match(text.stdout, new RegExp(`would remove ${postDeploy.id}`));
  assert.doesNotMatch(text.stdout, new RegExp(newest.id));
  assert.deepEqual(json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json'])).map((b) => b.id), idsBefore, 'a dry run deletes nothing');
  assert.ok(existsSync(path.join(fx.hostRoot(), 'backups', postDeploy.id)));

  await t.test('a backup that fails verify no longer counts as verified', async () => {
    const damaged = await takeBackup(fx);
    corruptDatabaseFile(fx, damaged);
    assert.equal((await fx.cli(['backup', 'verify', 'production', damaged.id])).code, 1);
    const entry = json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json'])).find((b) => b.id === damaged.id);
    assert.equal(entry?.verifiedAt, null, 'backups --json must not show a backup that failed verify as verified');
    const pruned = json<PruneReport>(await fx.cli(['backup', 'prune', 'production', '--dry-run', '--json'])).pruned.map((b) => b.id);
    assert.equal(pruned.includes(newest.id), false, `${newest.id} is now the newest backup that passed verify`);
  });
});

it('restore <id> of a backup taken on v1 while v2 serves brings back v1 with that backup\'s data', { timeout: 120_000 }, async (t) => {
  const fx = await createDataFixture(t);
  await fx.startAgent();
  const app = fx.app();
  assert.equal((await fx.cli(['deploy', 'production', '--version', 'v1', '--yes'])).code, 0);
  await app.addNote('in the backup');
  await app.putUpload('in-backup.txt', 'backed up');
  const notesInBackup = await app.notes();
  const backup = await takeBackup(fx);
  assert.equal(backup.release?.version, 'v1');
  await app.addNote('after the backup, on v1');
  await app.putUpload('later.txt', 'not in the backup');
  assert.equal((await fx.cli(['deploy', 'production', '--version', 'v2', '--yes'])).code, 0);
  await app.addNote('on v2');

  const unknown = await fx.cli(['restore', 'production', '20200101T000000Z-000000', '--yes']);
  assert.equal(unknown.code, 2, `an unknown backup id is a usage error: ${describe(unknown)}`);
  assert.match(unknown.stderr, /no backup 20200101T000000Z-000000/);
  const dataOnly = await fx.cli(['restore', 'production', backup.id, '--data-only', '--yes']);
  assert.equal(dataOnly.code, 2, `--data-only refuses a backup of another release: ${describe(dataOnly)}`);
  assert.equal(await app.version(), 'v2');

  const restored = await fx.cli(['restore', 'production', backup.id, '--yes']);
  assert.equal(restored.code, 0, describe(restored));
  assert.match(restored.stdout, new RegExp(`now serves v1 with the data of backup ${backup.id}`));
  assert.equal(await app.version(), 'v1');
  assert.deepEqual(noteColumns(fx.hostRoot()), ['id', 'text', 'created_at']);
  assert.deepEqual(await app.notes(), notesInBackup);
  assert.equal(await app.upload('in-backup.txt'), 'backed up');
  assert.equal(await app.upload('later.txt'), null);
  assert.equal((await app.request('GET', '/healthz')).status, 200);

  const backups = json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json']));
  assert.equal(backups.find((b) => b.reason === 'pre-restore')?.release?.version, 'v2', 'the data the restore replaced was backed up first');
  const status = json<{ current: { version: string } | null }>(await fx.cli(['status', 'production', '--json']));
  assert.equal(status.current?.version, 'v1');
});
