// Issue 16: a scheduled data copy from an environment on another server takes its newest
// verified off-site copy from the store (decrypted, checked, into a folder of the target's
// own, keeping only the newest); when the store cannot be reached the copy fails before
// anything is touched, and says why in the log and the record.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { offsiteCopySource } from '../../src/agent/copy-source.js';
import { startCopySchedule } from '../../src/agent/copy-schedule.js';
import { createBackup } from '../../src/data/backup-set.js';
import { copyBackupOffsite } from '../../src/data/offsite-copy.js';
import { hostLayout } from '../../src/host/layout.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { createS3Store } from '../../src/store/s3-store.js';
import { tempDir, tempHost } from '../data/fixtures.js';
import { freePort } from '../helpers/free-port.js';
import { APP, ENVIRONMENT, data, env, hostWithBackup, newKey } from './fixture.js';

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
  const port = await freePort(); // nothing listens there
  const store = await createS3Store({ bucket: 'gone', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true }, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_REGION: 'us-east-1' });
  const lines: string[] = [];
  let restores = 0;
  const schedule = startCopySchedule({
    environment: 'staging',
    settings: { from: ENVIRONMENT, schedule: '0 3 * * *', scrubFile: '/nowhere/scrub.sql' },
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
