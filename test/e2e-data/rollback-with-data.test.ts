import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { createDataFixture, describe, json, noteColumns } from '../helpers/data-fixture.js';

// Issue 4, "Done when": the example app v1 → v2 with its migration has its data
// backfilled; `slipway rollback --with-data` brings back v1's code and v1's data.

const BACKUP_KEYS = ['id', 'release', 'reason', 'createdAt', 'size', 'sha256', 'verifiedAt'];

interface BackupEntry {
  id: string;
  release: { id: string; version: string | null } | null;
  reason: string;
  createdAt: string;
  size: number;
  sha256: string;
  verifiedAt: string | null;
}

it('v1 → v2 backfills the data; rollback --with-data brings back v1 with the data from before the update', { timeout: 120_000 }, async (t) => {
  const fx = await createDataFixture(t);
  await fx.startAgent();
  const app = fx.app();
  const host = fx.hostRoot();

  assert.equal((await fx.cli(['deploy', 'production', '--version', 'v1', '--yes'])).code, 0);
  await app.addNote('the quick brown fox');
  await app.addNote('jumps over');
  await app.putUpload('photo.txt', 'uploaded on v1');
  const notesOfV1 = await app.notes();

  const deployed = await fx.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  assert.equal(deployed.code, 0, describe(deployed));
  assert.equal(await app.version(), 'v2');
  assert.deepEqual(
    (await app.notes()).map((n) => ({ id: n.id, words: n.words })),
    [
      { id: notesOfV1[0]!.id, words: 4 },
      { id: notesOfV1[1]!.id, words: 2 },
    ],
    'the migration backfilled the word counts of the notes v1 wrote',
  );
  assert.ok(noteColumns(host).includes('words'));

  const backups = json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json']));
  for (const backup of backups) {
    for (const key of BACKUP_KEYS) assert.ok(key in backup, `backups --json entry has "${key}": ${JSON.stringify(backup)}`);
    assert.match(backup.sha256, /^[0-9a-f]{64}$/);
    assert.ok(backup.size > 0);
  }
  const pre = backups.find((b) => b.reason === 'pre-deploy');
  const post = backups.find((b) => b.reason === 'post-deploy' && b.release?.version === 'v2');
  assert.ok(pre, `a pre-deploy backup: ${JSON.stringify(backups)}`);
  assert.ok(post, `a post-deploy backup tagged v2: ${JSON.stringify(backups)}`);
  assert.equal(pre.release?.version, 'v1', 'the pre-deploy backup belongs to the release it was taken from');
  for (const backup of [pre, post]) {
    assert.ok(backup.verifiedAt && !Number.isNaN(Date.parse(backup.verifiedAt)), `${backup.reason} is verified: ${JSON.stringify(backup)}`);
    assert.ok(Date.parse(backup.verifiedAt) >= Date.parse(backup.createdAt));
  }
  assert.ok(Date.parse(pre.createdAt) < Date.parse(post.createdAt));

  // Writes after the update: restoring v1's data means they go.
  await app.addNote('written on v2');
  await app.putUpload('after.txt', 'uploaded on v2');

  const back = await fx.cli(['rollback', 'production', '--with-data', '--yes']);
  assert.equal(back.code, 0, describe(back));
  assert.match(back.stderr, new RegExp(`restored backup ${pre.id}`), 'the backup the update took is the one restored');
  assert.equal(await app.version(), 'v1');
  assert.deepEqual(noteColumns(host), ['id', 'text', 'created_at'], 'v1 schema: no words column');
  assert.deepEqual(await app.notes(), notesOfV1, 'exactly the notes of before the update');
  assert.equal(await app.upload('photo.txt'), 'uploaded on v1');
  assert.equal(await app.upload('after.txt'), null, 'the upload made on v2 went with v2\'s data');
  assert.equal((await app.request('GET', '/healthz')).status, 200);
  assert.equal(path.basename(readlinkSync(path.join(host, 'current'))), pre.release!.id);

  // The data it replaced was kept: the rollback took a backup of it first.
  const after = json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json']));
  const kept = after.find((b) => b.reason === 'pre-restore');
  assert.equal(kept?.release?.version, 'v2', `a pre-restore backup of v2's data: ${JSON.stringify(after)}`);
});
