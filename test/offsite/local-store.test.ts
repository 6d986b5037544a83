// Off-site copies in a local-folder store: a real SQLite + folder backup copied
// encrypted, deleted on the host, fetched back and restored; wrong keys, tampering
// and an upload failing midway.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { backupKeyId } from '../../src/data/encryption.js';
import {
  backupKeyFromEnv,
  copyBackupOffsite,
  copyPendingOffsite,
  createOffsiteCopier,
  deleteOffsiteBackup,
  fetchOffsiteBackup,
  listOffsiteBackups,
  offsiteEnabled,
  type OffsiteIndex,
} from '../../src/data/offsite.js';
import { createBackup } from '../../src/data/backup-set.js';
import { restoreBackup } from '../../src/data/restore.js';
import type { EnvironmentConfig } from '../../src/config/types.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { allErrorText, flipByte, tempDir, tempHost } from '../data/fixtures.js';
import { APP, ENVIRONMENT, assertNoPlaintext, backupsDirEntries, changeData, data, env, fingerprints, hostWithBackup, newKey } from './fixture.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';

const target = (store: BlobStore) => ({ store, app: APP, environment: ENVIRONMENT });

function storeObjects(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string, prefix: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const key = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path.join(dir, entry.name), key);
      else out.set(key, fs.readFileSync(path.join(dir, entry.name)));
    }
  };
  if (fs.existsSync(root)) walk(root, '');
  return out;
}

test('copied off-site encrypted, deleted on the host, fetched back with the key and restored: the data equals the original', async (t) => {
  const { layout, ledger, backup, before } = await hostWithBackup(t);
  const storeRoot = tempDir(t, 'slipway-offsite-store-');
  const store = createLocalStore(storeRoot);
  const { key, text } = newKey();
  const keyId = backupKeyId(key);
  const prefix = `${APP}/backups/${ENVIRONMENT}/${backup.id}/`;

  const copy = await copyBackupOffsite({ layout, ledger, ...target(store), backupId: backup.id, key });
  assert.equal(copy.keyId, keyId);
  assert.equal(copy.alreadyThere, false);
  assert.deepEqual(copy.objects, [
    `${prefix}db-main.sqlite.gz.enc`,
    `${prefix}files-uploads.tar.gz.enc`,
    `${prefix}backup.json.enc`,
    `${prefix}index.json`,
  ]);
  const objects = storeObjects(storeRoot);
  assert.deepEqual([...objects.keys()].sort(), [...copy.objects].sort(), 'exactly these objects, no temporary ones');
  assert.equal(copy.bytes, copy.objects.slice(0, 3).reduce((sum, k) => sum + objects.get(k)!.length, 0));
  assertNoPlaintext(objects, path.join(layout.backupsDir, backup.id));
  assert.deepEqual(backupsDirEntries(layout), [backup.id], 'the encrypted temporary files are gone');

  // The index: enough to list and check, never the key.
  const indexText = objects.get(`${prefix}index.json`)!.toString('utf8');
  const index = JSON.parse(indexText) as OffsiteIndex;
  assert.equal(index.id, backup.id);
  assert.equal(index.keyId, keyId);
  assert.deepEqual(index.release, { id: 'rel-1', version: 'v1' });
  assert.equal(index.createdAt, backup.createdAt);
  assert.equal(index.verifiedAt, backup.verifiedAt);
  assert.deepEqual(
    index.files.slice(0, 2).map((f) => [f.name, f.sha256, f.size]),
    backup.items.map((i) => [i.file, i.sha256, i.size]),
  );
  assert.equal(index.files[2].name, 'backup.json');
  for (const form of [text, key.toString('hex'), key.toString('base64url')]) assert.equal(indexText.includes(form), false, 'the key is not in the index');

  // Recorded in the catalog; listed; a second copy uploads nothing.
  const offsite = ledger.getBackup(backup.id)?.offsite;
  assert.deepEqual(offsite && { key: offsite.key, keyId: offsite.keyId, at: offsite.at }, { key: prefix, keyId, at: index.copiedAt });
  assert.deepEqual((await listOffsiteBackups(target(store))).map((e) => [e.id, e.keyId]), [[backup.id, keyId]]);
  const again = await copyBackupOffsite({ layout, ledger, ...target(store), backupId: backup.id, key });
  assert.equal(again.alreadyThere, true);
  assert.equal(again.bytes, 0);

  // The host loses the backup and its data moves on; the off-site copy brings both back.
  fs.rmSync(path.join(layout.backupsDir, backup.id), { recursive: true });
  changeData(layout);
  assert.notDeepEqual(await fingerprints(layout), before);
  const fetched = await fetchOffsiteBackup({ layout, ledger, ...target(store), backupId: backup.id, key });
  assert.equal(fetched.fetched, true);
  assert.equal(fetched.sha256, backup.sha256);
  assert.deepEqual(backupsDirEntries(layout), [backup.id], 'no temporary folder left');
  assert.deepEqual(fs.readdirSync(path.join(layout.backupsDir, backup.id)).sort(), ['backup.json', 'db-main.sqlite.gz', 'files-uploads.tar.gz']);
  const restored = await restoreBackup({ layout, ledger, backupId: backup.id, data, env });
  assert.deepEqual(restored.restored, ['main', 'uploads']);
  assert.deepEqual(await fingerprints(layout), before);

  // Fetching again while the local copy is intact changes nothing.
  const second = await fetchOffsiteBackup({ layout, ledger, ...target(store), backupId: backup.id, key });
  assert.equal(second.fetched, false);

  // Another host that never had it: the fetch adds it to its catalog, and it restores there.
  const other = await tempHost(t);
  assert.equal(other.ledger.getBackup(backup.id), null);
  const onOther = await fetchOffsiteBackup({ ...other, ...target(store), backupId: backup.id, key });
  assert.equal(onOther.fetched, true);
  const { offsite: otherOffsite, ...recordOnOther } = other.ledger.getBackup(backup.id)!;
  const { offsite: _offsite, ...original } = ledger.getBackup(backup.id)!;
  assert.deepEqual(recordOnOther, original, 'the catalog entry is the original one (release, reason, digest, verified-at)');
  assert.deepEqual(otherOffsite, { key: prefix, keyId, at: index.copiedAt });
  await restoreBackup({ ...other, backupId: backup.id, data, env });
  assert.deepEqual(await fingerprints(other.layout), before);
});

test('the wrong key is refused before anything is written, naming the key id needed', async (t) => {
  const { layout, ledger, backup } = await hostWithBackup(t);
  const store = createLocalStore(tempDir(t, 'slipway-offsite-store-'));
  const { key } = newKey();
  await copyBackupOffsite({ layout, ledger, ...target(store), backupId: backup.id, key });

  const other = await tempHost(t);
  const wrong = newKey().key;
  const error = await expectRejects(fetchOffsiteBackup({ ...other, ...target(store), backupId: backup.id, key: wrong }), 'BACKUP_KEY_MISMATCH');
  assert.match(error.hint ?? '', new RegExp(backupKeyId(key)));
  assert.match(error.message, new RegExp(backupKeyId(wrong)));
  assert.deepEqual(backupsDirEntries(other.layout), [], 'nothing written');
  assert.deepEqual(other.ledger.listBackups(), []);
  for (const form of [key.toString('hex'), key.toString('base64'), wrong.toString('hex'), wrong.toString('base64')]) {
    assert.equal(allErrorText(error).includes(form), false, 'no key in the error');
  }
});

test('tampering with any object is BACKUP_CORRUPT and leaves nothing on the host', async (t) => {
  const { layout, ledger, backup } = await hostWithBackup(t);
  const storeRoot = tempDir(t, 'slipway-offsite-store-');
  const store = createLocalStore(storeRoot);
  const { key } = newKey();
  await copyBackupOffsite({ layout, ledger, ...target(store), backupId: backup.id, key });
  const prefixDir = path.join(storeRoot, APP, 'backups', ENVIRONMENT, backup.id);
  const pristine = new Map(fs.readdirSync(prefixDir).map((name) => [name, fs.readFileSync(path.join(prefixDir, name))]));
  const reset = () => {
    for (const [name, bytes] of pristine) fs.writeFileSync(path.join(prefixDir, name), bytes);
  };
  const other = await tempHost(t);

  const cases: Array<[string, () => void, RegExp]> = [
    ['a flipped byte in an item', () => flipByte(path.join(prefixDir, 'files-uploads.tar.gz.enc')), /files-uploads\.tar\.gz\.enc failed authentication/],
    ['a flipped byte in backup.json', () => flipByte(path.join(prefixDir, 'backup.json.enc')), /backup\.json\.enc failed authentication/],
    ['a flipped byte in the IV', () => flipByte(path.join(prefixDir, 'db-main.sqlite.gz.enc'), 30), /db-main\.sqlite\.gz\.enc failed authentication/],
    ['a missing object', () => fs.rmSync(path.join(prefixDir, 'db-main.sqlite.gz.enc')), /db-main\.sqlite\.gz\.enc is missing/],
    [
      'an item swapped for another item',
      () => fs.copyFileSync(path.join(prefixDir, 'files-uploads.tar.gz.enc'), path.join(prefixDir, 'db-main.sqlite.gz.enc')),
      /db-main\.sqlite\.gz decrypted to other bytes/,
    ],
    [
      'an index that lies about a digest',
      () => {
        const index = JSON.parse(pristine.get('index.json')!.toString('utf8')) as OffsiteIndex;
        index.files[0].sha256 = '0'.repeat(64);
        fs.writeFileSync(path.join(prefixDir, 'index.json'), JSON.stringify(index));
      },
      /decrypted to other bytes/,
    ],
  ];
  for (const [what, tamper, message] of cases) {
    reset();
    tamper();
    const error = await expectRejects(fetchOffsiteBackup({ ...other, ...target(store), backupId: backup.id, key }), 'BACKUP_CORRUPT');
    assert.match(error.message, message, what);
    assert.match(error.message, new RegExp(`local folder ${storeRoot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), `${what}: the store is named`);
    assert.deepEqual(backupsDirEntries(other.layout), [], `${what}: nothing left`);
    assert.deepEqual(other.ledger.listBackups(), [], `${what}: nothing cataloged`);
  }

  // The host that has the backup keeps its intact local copy whatever the store holds.
  reset();
  flipByte(path.join(prefixDir, 'files-uploads.tar.gz.enc'));
  const kept = await fetchOffsiteBackup({ layout, ledger, ...target(store), backupId: backup.id, key });
  assert.equal(kept.fetched, false);
});

test('a damaged local backup is replaced by a fetch, and is never shipped by a copy', async (t) => {
  const { layout, ledger, backup, before } = await hostWithBackup(t);
  const storeRoot = tempDir(t, 'slipway-offsite-store-');
  const store = createLocalStore(storeRoot);
  const { key } = newKey();
  await copyBackupOffsite({ layout, ledger, ...target(store), backupId: backup.id, key });

  flipByte(path.join(layout.backupsDir, backup.id, 'db-main.sqlite.gz'));
  await expectRejects(copyBackupOffsite({ layout, ledger, ...target(createLocalStore(tempDir(t))), backupId: backup.id, key }), 'BACKUP_CORRUPT');

  const fetched = await fetchOffsiteBackup({ layout, ledger, ...target(store), backupId: backup.id, key });
  assert.equal(fetched.fetched, true);
  assert.deepEqual(backupsDirEntries(layout), [backup.id], 'the damaged folder is gone, nothing temporary left');
  changeData(layout);
  await restoreBackup({ layout, ledger, backupId: backup.id, data, env });
  assert.deepEqual(await fingerprints(layout), before);
});

test('an upload failing midway leaves no index.json, no objects and no temporary files, and names the store', async (t) => {
  const { layout, ledger, backup } = await hostWithBackup(t);
  const storeRoot = tempDir(t, 'slipway-offsite-store-');
  const real = createLocalStore(storeRoot);
  let puts = 0;
  const failing: BlobStore = {
    ...real,
    async putFile(key, file, options) {
      if (++puts > 1) throw new Error('connection reset by peer');
      await real.putFile(key, file, options);
    },
  };
  const { key, text } = newKey();
  const error = await expectRejects(copyBackupOffsite({ layout, ledger, ...target(failing), backupId: backup.id, key }), 'OFFSITE_UPLOAD_FAILED');
  assert.equal(puts, 2, 'the first object went up, the second failed');
  assert.match(error.message, /local folder .*connection reset by peer/);
  assert.equal(allErrorText(error).includes(text), false);
  assert.equal(allErrorText(error).includes(key.toString('hex')), false);
  assert.deepEqual([...storeObjects(storeRoot).keys()], [], 'no index.json, and the object sent is removed again');
  assert.deepEqual(await listOffsiteBackups(target(real)), []);
  assert.deepEqual(backupsDirEntries(layout), [backup.id]);
  assert.equal(ledger.getBackup(backup.id)?.offsite, undefined, 'not recorded as copied');

  // Even when the cleanup cannot delete either, what is left is never listed: index.json goes up last.
  const stuck: BlobStore = { ...failing, delete: async () => { throw new Error('store went away'); } };
  puts = 0;
  await expectRejects(copyBackupOffsite({ layout, ledger, ...target(stuck), backupId: backup.id, key }), 'OFFSITE_UPLOAD_FAILED');
  assert.deepEqual([...storeObjects(storeRoot).keys()], [`${APP}/backups/${ENVIRONMENT}/${backup.id}/db-main.sqlite.gz.enc`]);
  assert.deepEqual(await listOffsiteBackups(target(real)), []);
  await real.delete(`${APP}/backups/${ENVIRONMENT}/${backup.id}/db-main.sqlite.gz.enc`);

  // A store that fails on index.json itself: the objects are removed, nothing listed.
  const noIndex: BlobStore = { ...real, put: async () => { throw new Error('quota exceeded'); } };
  await expectRejects(copyBackupOffsite({ layout, ledger, ...target(noIndex), backupId: backup.id, key }), 'OFFSITE_UPLOAD_FAILED');
  assert.deepEqual([...storeObjects(storeRoot).keys()], []);

  // copyPendingOffsite catches up once the store works, and stops at a failure without throwing.
  const lines: string[] = [];
  const failed = await copyPendingOffsite({ layout, ledger, ...target(failing), key, log: (line) => lines.push(line) });
  assert.equal(failed.failed?.id, backup.id);
  assert.match(lines.join('\n'), /not copied off-site/);
  const caughtUp = await copyPendingOffsite({ layout, ledger, ...target(real), key });
  assert.deepEqual(caughtUp, { copied: [backup.id], failed: null, left: 0 });
  assert.deepEqual((await listOffsiteBackups(target(real))).map((e) => e.id), [backup.id]);
});

test('pending copies: only backups without a copy; another key never silently replaces a copy; a deleted copy is no longer listed', async (t) => {
  const { layout, ledger, backup } = await hostWithBackup(t);
  const store = createLocalStore(tempDir(t, 'slipway-offsite-store-'));
  const { key } = newKey();
  await copyBackupOffsite({ layout, ledger, ...target(store), backupId: backup.id, key });
  const second = await createBackup({ layout, ledger, environment: ENVIRONMENT, data, env, releaseId: 'rel-2', releaseVersion: 'v2', reason: 'post-deploy' });
  const pending = await copyPendingOffsite({ layout, ledger, ...target(store), key });
  assert.deepEqual(pending.copied, [second.id]);
  assert.deepEqual((await listOffsiteBackups(target(store))).map((e) => e.id), [second.id, backup.id].sort().reverse());

  // Another key (rotated, or set by mistake): the existing copies stay as they are…
  const rotated = newKey().key;
  const again = await copyPendingOffsite({ layout, ledger, ...target(store), key: rotated });
  assert.deepEqual(again.copied, []);
  assert.deepEqual((await listOffsiteBackups(target(store))).map((e) => e.keyId), [backupKeyId(key), backupKeyId(key)]);
  // …until one is copied again explicitly: replaced under the new key, readable with it only.
  const replaced = await copyBackupOffsite({ layout, ledger, ...target(store), backupId: backup.id, key: rotated });
  assert.equal(replaced.alreadyThere, false);
  assert.equal(ledger.getBackup(backup.id)?.offsite?.keyId, backupKeyId(rotated));
  const other = await tempHost(t);
  await expectRejects(fetchOffsiteBackup({ ...other, ...target(store), backupId: backup.id, key }), 'BACKUP_KEY_MISMATCH');
  assert.equal((await fetchOffsiteBackup({ ...other, ...target(store), backupId: backup.id, key: rotated })).fetched, true);

  await deleteOffsiteBackup({ ...target(store), backupId: backup.id, ledger });
  assert.deepEqual((await listOffsiteBackups(target(store))).map((e) => e.id), [second.id]);
  assert.deepEqual(await store.list(`${APP}/backups/${ENVIRONMENT}/${backup.id}`), []);
  assert.equal(ledger.getBackup(backup.id)?.offsite, undefined);
});

test('the agent\'s copier runs one pass at a time, shares a waiting pass, and never rejects', async (t) => {
  const { layout, ledger, backup } = await hostWithBackup(t);
  const real = createLocalStore(tempDir(t, 'slipway-offsite-store-'));
  const { key } = newKey();
  let active = 0;
  let mostActive = 0;
  let uploading!: () => void;
  const firstUpload = new Promise<void>((resolve) => (uploading = resolve));
  const watched: BlobStore = {
    ...real,
    async putFile(objectKey, file, options) {
      uploading();
      mostActive = Math.max(mostActive, ++active);
      try {
        await new Promise((resolve) => setTimeout(resolve, 5));
        await real.putFile(objectKey, file, options);
      } finally {
        active -= 1;
      }
    },
  };
  const lines: string[] = [];
  const copier = createOffsiteCopier({ layout, ledger, ...target(watched), key: async () => key, log: (line) => lines.push(line) });
  const firstPass = copier.copyPending();
  assert.equal(copier.copyPending(), firstPass, 'a call made before the pass started shares it');
  await firstUpload;
  const secondPass = copier.copyPending();
  assert.notEqual(secondPass, firstPass, 'a call made while a pass runs gets the next one');
  assert.equal(copier.copyPending(), secondPass, 'calls made while a pass waits share it');
  const [first, second] = await Promise.all([firstPass, secondPass]);
  assert.deepEqual(first.copied, [backup.id]);
  assert.deepEqual(second.copied, [], 'the second pass ran after the first: nothing was left to copy');
  assert.equal(mostActive, 1);
  assert.match(lines.join('\n'), new RegExp(`backup ${backup.id} copied off-site to local folder`));

  const environment = { name: ENVIRONMENT, backupKeyEnv: 'NO_SUCH_KEY_VAR' } as EnvironmentConfig;
  const keyless = createOffsiteCopier({ layout, ledger, ...target(real), key: async () => backupKeyFromEnv({ environment, env: {} }), log: (line) => lines.push(line) });
  const result = await keyless.copyPending();
  assert.equal(result.failed?.error.code, 'BACKUP_KEY_MISSING');
  assert.match(lines.at(-1) ?? '', /warning: no off-site copies: NO_SUCH_KEY_VAR/);
  await keyless.idle();
  await copier.idle();
});

test('the key comes from the variable backup_key_env names; off-site copies default to on with a key', () => {
  const environment = { name: 'production', backupKeyEnv: 'SLIPWAY_BACKUP_KEY' } as EnvironmentConfig;
  const { key, text } = newKey();
  assert.deepEqual(backupKeyFromEnv({ environment, env: { SLIPWAY_BACKUP_KEY: text } }), key);
  assert.deepEqual(backupKeyFromEnv({ environment, env: { SLIPWAY_BACKUP_KEY: `${key.toString('hex')}\n` } }), key);
  expectThrows(() => backupKeyFromEnv({ environment, env: {} }), 'BACKUP_KEY_MISSING', { exitCode: 2, message: /SLIPWAY_BACKUP_KEY/ });
  const invalid = expectThrows(() => backupKeyFromEnv({ environment, env: { SLIPWAY_BACKUP_KEY: 'too short to be a key' } }), 'BACKUP_KEY_INVALID', /SLIPWAY_BACKUP_KEY/);
  assert.ok(!invalid.message.includes('too short'), invalid.message);
  expectThrows(() => backupKeyFromEnv({ environment: { name: 'p' } as EnvironmentConfig, env: {} }), 'BACKUP_KEY_NOT_CONFIGURED');
  assert.equal(offsiteEnabled(environment), true);
  assert.equal(offsiteEnabled({ ...environment, offsiteBackups: false }), false);
  assert.equal(offsiteEnabled({ name: 'p' } as EnvironmentConfig), false);
});

test('ids and names never escape the store prefix', async (t) => {
  const { layout, ledger } = await tempHost(t);
  const store = createLocalStore(tempDir(t));
  const { key } = newKey();
  await expectRejects(fetchOffsiteBackup({ layout, ledger, ...target(store), backupId: '../../etc', key }), 'BACKUP_ID_INVALID');
  await expectRejects(fetchOffsiteBackup({ layout, ledger, ...target(store), backupId: '20260101T000000Z-abcdef', key }), 'OFFSITE_BACKUP_NOT_FOUND');
  await expectRejects(listOffsiteBackups({ store, app: APP, environment: '../x' }), 'STORE_BAD_KEY');
});
