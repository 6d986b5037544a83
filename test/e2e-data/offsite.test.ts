// Issue 4, "Off-site copies" and "Scheduled backups", through the CLI and a real agent.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { createDataFixture, describe, json } from '../helpers/data-fixture.js';

it('agent: manual backup copied off-site, listed, fetched back after loss, restored; schedule in status', { timeout: 180_000 }, async (t) => {
  const fx = await createDataFixture(t, { build: ['v1'] });
  fx.editProjectFile((project) => {
    project.environments.production.backup_key_env = 'SLIPWAY_BACKUP_KEY';
    project.environments.production.backup_schedule = '0 3 * * *';
  });
  const key = randomBytes(32).toString('base64');
  const agent = await fx.startAgent({ env: { SLIPWAY_BACKUP_KEY: key } });
  assert.equal((await fx.cli(['deploy', 'production', '--version', 'v1', '--yes'])).code, 0);
  const app = fx.app();
  await app.addNote('before the backup');
  const backup = await fx.cli(['backup', 'production', '--json']);
  assert.equal(backup.code, 0, describe(backup));
  const record = json<any>(backup);
  assert.equal(record.offsite?.ok, true, JSON.stringify(record.offsite));
  const human = await fx.cli(['backup', 'production']);
  assert.match(human.stdout, /copied off-site, encrypted \(key id [0-9a-f]{16}\)/, describe(human));

  const listed = json<any[]>(await fx.cli(['backups', 'production', '--offsite', '--json']));
  assert.ok(listed.some((b) => b.id === record.id), JSON.stringify(listed));
  const local = json<any[]>(await fx.cli(['backups', 'production', '--json']));
  assert.ok(local.find((b) => b.id === record.id)?.offsite?.keyId);

  await app.addNote('after the backup');
  rmSync(path.join(fx.hostRoot(), 'backups', record.id), { recursive: true });
  const fetched = await fx.cli(['backup', 'fetch', 'production', record.id]);
  assert.equal(fetched.code, 0, describe(fetched));
  assert.match(fetched.stdout, /fetched from the store, decrypted and checked/);
  assert.ok(existsSync(path.join(fx.hostRoot(), 'backups', record.id, 'backup.json')));
  const restored = await fx.cli(['restore', 'production', record.id, '--yes']);
  assert.equal(restored.code, 0, describe(restored));
  const notes = await app.notes();
  assert.ok(JSON.stringify(notes).includes('before the backup') && !JSON.stringify(notes).includes('after the backup'), JSON.stringify(notes));

  const copy = await fx.cli(['backup', 'copy', 'production']);
  assert.equal(copy.code, 0, describe(copy));
  // The restore's pre-restore backup may still be waiting for the background copy: either way, nothing fails.
  assert.match(copy.stdout, /copied off-site: |every backup has an off-site copy/);
  const status = json<any>(await fx.cli(['status', 'production', '--json']));
  assert.equal(status.backups.schedule, '0 3 * * *');
  assert.match(status.backups.nextScheduled, /T\d\d:00:00/);

  // A wrong key: the fetch is refused naming the key id needed.
  await agent.stop();
  await fx.startAgent({ env: { SLIPWAY_BACKUP_KEY: randomBytes(32).toString('base64') } });
  rmSync(path.join(fx.hostRoot(), 'backups', record.id), { recursive: true });
  const wrong = await fx.cli(['backup', 'fetch', 'production', record.id]);
  assert.equal(wrong.code, 1, describe(wrong));
  assert.match(wrong.stderr, new RegExp(`encrypted with the key whose id is ${record.offsite.keyId}`));
  assert.equal(wrong.stderr.includes(key), false);
});
