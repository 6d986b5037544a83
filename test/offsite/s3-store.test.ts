// Off-site copies in an S3 bucket (a real s3rver): copy, read the raw objects through
// the S3 API (no plaintext), lose the local backup, fetch it back, restore; an object
// altered in the bucket is refused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { copyBackupOffsite, fetchOffsiteBackup, listOffsiteBackups } from '../../src/data/offsite.js';
import { restoreBackup } from '../../src/data/restore.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createS3Store } from '../../src/store/s3-store.js';
import { tempHost } from '../data/fixtures.js';
import { expectRejects } from '../helpers/expect-error.js';
import { startS3Server, S3RVER_CREDENTIALS, type RunningS3Server } from '../helpers/s3.js';
import { APP, ENVIRONMENT, assertNoPlaintext, backupsDirEntries, changeData, data, env, fingerprints, hostWithBackup, newKey } from './fixture.js';

const BUCKET = 'slipway-offsite';
const PREFIX = 'team/';
let s3: RunningS3Server;
let raw: S3Client;
let store: BlobStore;

before(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  s3 = await startS3Server({ buckets: [BUCKET] });
  raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  store = await createS3Store({ bucket: BUCKET, endpoint: s3.endpoint, prefix: PREFIX, forcePathStyle: true }, s3.env);
});
after(async () => {
  raw?.destroy();
  await s3?.stop();
});

async function bucketObjects(): Promise<Map<string, Buffer>> {
  const listed = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  const out = new Map<string, Buffer>();
  for (const { Key } of listed.Contents ?? []) {
    const object = await raw.send(new GetObjectCommand({ Bucket: BUCKET, Key: Key! }));
    out.set(Key!, Buffer.from(await object.Body!.transformToByteArray()));
  }
  return out;
}

test('a backup copied to S3 is encrypted there, and fetched back it restores the original data', async (t) => {
  const { layout, ledger, backup, before: original } = await hostWithBackup(t);
  const { key } = newKey();
  const copy = await copyBackupOffsite({ layout, ledger, store, app: APP, environment: ENVIRONMENT, backupId: backup.id, key });
  const objects = await bucketObjects();
  assert.deepEqual([...objects.keys()].sort(), copy.objects.map((k) => `${PREFIX}${k}`).sort());
  assertNoPlaintext(objects, path.join(layout.backupsDir, backup.id));
  assert.deepEqual((await listOffsiteBackups({ store, app: APP, environment: ENVIRONMENT })).map((e) => e.id), [backup.id]);

  fs.rmSync(path.join(layout.backupsDir, backup.id), { recursive: true });
  changeData(layout);
  const fetched = await fetchOffsiteBackup({ layout, ledger, store, app: APP, environment: ENVIRONMENT, backupId: backup.id, key });
  assert.equal(fetched.fetched, true);
  assert.deepEqual(backupsDirEntries(layout), [backup.id]);
  await restoreBackup({ layout, ledger, backupId: backup.id, data, env });
  assert.deepEqual(await fingerprints(layout), original);

  // Someone rewrites an object in the bucket (without slipway's checksum metadata): decryption refuses it.
  const objectKey = `${PREFIX}${APP}/backups/${ENVIRONMENT}/${backup.id}/db-main.sqlite.gz.enc`;
  const altered = Buffer.from(objects.get(objectKey)!);
  altered[altered.length >> 1] ^= 0x01;
  await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: altered }));
  const other = await tempHost(t);
  const error = await expectRejects(fetchOffsiteBackup({ ...other, store, app: APP, environment: ENVIRONMENT, backupId: backup.id, key }), 'BACKUP_CORRUPT', /failed authentication/);
  assert.ok(error.message.includes(`s3://${BUCKET}/`), error.message);
  assert.deepEqual(backupsDirEntries(other.layout), [], 'nothing left');
  assert.deepEqual(other.ledger.listBackups(), []);
});
