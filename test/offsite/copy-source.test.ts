// Issue 16: a scheduled data copy from an environment on another server takes its newest
// verified off-site copy from the store (decrypted, checked, into a folder of the target's
// own, keeping only the newest); when the store cannot be reached, or a copy in an S3 bucket
// was altered, the copy fails before anything is touched, and says why in the log and the record.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { offsiteCopySource } from '../../src/agent/copy-source.js';
import { startCopySchedule } from '../../src/agent/copy-schedule.js';
import { createBackup } from '../../src/data/backup-set.js';
import { copyBackupOffsite } from '../../src/data/offsite-copy.js';
import { hostLayout } from '../../src/host/layout.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { createS3Store } from '../../src/store/s3-store.js';
import { tempDir, tempHost } from '../data/fixtures.js';
import { freePort } from '../helpers/free-port.js';
import { S3RVER_CREDENTIALS, startS3Server } from '../helpers/s3.js';
import { APP, ENVIRONMENT, backupsDirEntries, changeData, data, env, fingerprints, hostWithBackup, newKey } from './fixture.js';

test("the source's newest verified off-site copy is fetched into the target's own folder; an older fetched one is removed", async (t) => {
  const production = await hostWithBackup(t);
  const store = createLocalStore(tempDir(t, 'slipway-store-'));
  const { key } = newKey();
  await copyBackupOffsite({ ...production, store, app: APP, environment: ENVIRONMENT, backupId: production.backup.id, key });
  const into = hostLayout(path.join(tempDir(t, 'slipway-staging-'), 'data-copies', ENVIRONMENT));
  const source = offsiteCopySource({ app: APP, environment: ENVIRONMENT, store, key: async () => key, into });

  const first = await source.newestVerified();
  assert.equal(first.id, production.backup.id);
  assert.equal(first.createdAt, production.backup.createdAt);
  assert.equal(first.dir, path.join(into.backupsDir, production.backup.id));
  assert.ok(fs.existsSync(path.join(first.dir, 'backup.json')), 'decrypted in place');

  // A newer backup of production: the next copy takes it, and the one fetched before goes.
  await new Promise((resolve) => setTimeout(resolve, 1100)); // backup ids sort by the second
  const newer = await createBackup({ ...production, environment: ENVIRONMENT, data, env, releaseId: 'rel-1', releaseVersion: 'v1', reason: 'scheduled' });
  await copyBackupOffsite({ ...production, store, app: APP, environment: ENVIRONMENT, backupId: newer.id, key });
  const second = await source.newestVerified();
  assert.equal(second.id, newer.id);
  assert.deepEqual(fs.readdirSync(into.backupsDir).filter((name) => !name.startsWith('.')), [newer.id], 'only the newest fetched copy is kept');
  assert.ok(fs.existsSync(path.join(production.layout.backupsDir, production.backup.id)), "the source's own backups are untouched");
});

test('a store that cannot be reached: the scheduled copy fails before anything changes, logged and recorded with why', async (t) => {
  const staging = await tempHost(t);
  const scrubFile = path.join(tempDir(t, 'slipway-scrub-'), 'scrub.sql');
  fs.writeFileSync(scrubFile, "UPDATE notes SET body = 'scrubbed';\n");
  const port = await freePort(); // nothing listens there
  const store = await createS3Store({ bucket: 'gone', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true }, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_REGION: 'us-east-1' });
  const lines: string[] = [];
  let restores = 0;
  const schedule = startCopySchedule({
    environment: 'staging',
    settings: { from: ENVIRONMENT, schedule: '0 3 * * *', scrubFile },
    source: offsiteCopySource({ app: APP, environment: ENVIRONMENT, store, key: async () => newKey().key, into: hostLayout(path.join(staging.layout.root, 'data-copies', ENVIRONMENT)) }),
    ledger: () => staging.ledger,
    layout: staging.layout,
    run: async () => {
      restores += 1;
      return { ok: true };
    },
    log: (line) => lines.push(line),
  });
  t.after(() => schedule.stop());
  assert.match(lines[0]!, /scheduled data copies from production "0 3 \* \* \*" \(server local time\), scrubbed with scrub\.sql: next at /);

  const result = await schedule.runNow();
  assert.equal(result.ok, false);
  assert.equal(restores, 0, 'nothing was restored');
  const [record] = staging.ledger.listDataCopies();
  assert.equal(record?.trigger, 'schedule');
  assert.equal(record!.outcome, 'failed');
  assert.equal(record!.sourceEnvironment, ENVIRONMENT);
  assert.equal(record!.backupId, null);
  assert.equal(record!.scrubFile, 'scrub.sql');
  assert.match(record!.error!, /store|listing/i);
  assert.match(record!.error!, /nothing was changed/);
  assert.match(lines.join('\n'), /data copy from production FAILED: .*; staging keeps its data/);
});

test("a copy altered in the S3 bucket: the scheduled copy is refused before anything is restored; staging keeps its data, and the record and the log say why", async (t) => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const s3 = await startS3Server({ buckets: ['copies'] });
  t.after(() => s3.stop());
  const store = await createS3Store({ bucket: 'copies', endpoint: s3.endpoint, forcePathStyle: true }, s3.env);
  const production = await hostWithBackup(t);
  const { key } = newKey();
  await copyBackupOffsite({ ...production, store, app: APP, environment: ENVIRONMENT, backupId: production.backup.id, key });
  // Someone rewrites one object in the bucket: a byte of the database's encrypted dump flipped.
  const raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  t.after(() => raw.destroy());
  const objectKey = `${APP}/backups/${ENVIRONMENT}/${production.backup.id}/db-main.sqlite.gz.enc`;
  const altered = Buffer.from(await (await raw.send(new GetObjectCommand({ Bucket: 'copies', Key: objectKey }))).Body!.transformToByteArray());
  altered[altered.length >> 1] ^= 0x01;
  await raw.send(new PutObjectCommand({ Bucket: 'copies', Key: objectKey, Body: altered }));

  // staging: data of its own (production's, since changed), which a copy would replace.
  const staging = await hostWithBackup(t);
  changeData(staging.layout);
  const stagingBefore = await fingerprints(staging.layout);
  const stagingBackups = staging.ledger.listBackups().map((b) => b.id);
  const into = hostLayout(path.join(staging.layout.root, 'data-copies', ENVIRONMENT));
  const lines: string[] = [];
  let restores = 0;
  const schedule = startCopySchedule({
    environment: 'staging',
    settings: { from: ENVIRONMENT, schedule: '0 3 * * *' },
    source: offsiteCopySource({ app: APP, environment: ENVIRONMENT, store, key: async () => key, into }),
    ledger: () => staging.ledger,
    layout: staging.layout,
    run: async () => {
      restores += 1;
      return { ok: true };
    },
    log: (line) => lines.push(line),
  });
  t.after(() => schedule.stop());

  const result = await schedule.runNow();
  assert.equal(result.ok, false);
  assert.equal(restores, 0, 'nothing was handed to the restore');
  assert.deepEqual(await fingerprints(staging.layout), stagingBefore, "staging's database and files are as they were");
  assert.deepEqual(staging.ledger.listBackups().map((b) => b.id), stagingBackups);
  assert.deepEqual(backupsDirEntries(into), [], 'nothing of the altered copy is left on the host');
  const [record] = staging.ledger.listDataCopies();
  assert.equal(record?.trigger, 'schedule');
  assert.equal(record!.outcome, 'failed');
  assert.equal(record!.sourceEnvironment, ENVIRONMENT);
  assert.match(record!.error!, /db-main\.sqlite\.gz\.enc failed authentication/);
  assert.match(record!.error!, /s3:\/\/copies\//, 'the store is named');
  assert.match(record!.error!, /nothing was changed/);
  assert.match(lines.join('\n'), /data copy from production FAILED: .*failed authentication.*; staging keeps its data/);
  // The source's own backup is untouched by the attempt.
  assert.ok(fs.existsSync(path.join(production.layout.backupsDir, production.backup.id, 'backup.json')));
});
