/** planForUpdate: the plan preflight checks, built from a pipeline context over a real local store and host folder. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { resolveAppConfig } from '../../src/host/app-env.js';
import { hostLayout } from '../../src/host/layout.js';
import type { UpdateContext } from '../../src/update/context.js';
import { planForUpdate } from '../../src/update/plan-update.js';
import type { PlannedRelease } from '../../src/plan/plan.js';
import { releaseIdOf } from '../../src/release/manifest.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { key, release } from './releases.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A release as the store keeps it: the manifest under its real id, and its info. */
function stored(r: PlannedRelease): PlannedRelease {
  const { id: _ignored, ...manifest } = r;
  return { ...manifest, id: releaseIdOf(manifest) };
}

async function fixture(t: TestContext, o: { storePath?: string } = {}) {
  const root = tempDir(t, 'slipway-plan-');
  const store = createLocalStore(o.storePath ?? path.join(root, 'store'));
  const layout = hostLayout(path.join(root, 'host'));
  const v1 = stored(release({ version: 'v1', day: 1 }));
  const v2 = stored(release({ version: 'v2', day: 2 }));
  const v3 = stored(release({ version: 'v3', day: 3, config: [key('NOTES_TITLE', { required: true })], upgradeFrom: '>=v2' }));
  if (!o.storePath) {
    for (const [index, r] of [v1, v2, v3].entries()) {
      const { id, ...manifest } = r;
      await store.put(`tiny/releases/${id}/manifest.json`, JSON.stringify(manifest));
      await store.put(`tiny/releases/${id}/info.json`, JSON.stringify({ id, version: r.version, commit: r.commit, createdAt: `2025-02-0${index + 1}T00:00:00Z`, size: 1, signed: false }));
    }
  }
  const context = (from: PlannedRelease | null, to: PlannedRelease, kind: 'deploy' | 'rollback', envFile: Record<string, string> = {}) =>
    ({
      kind,
      app: 'tiny',
      environmentName: 'production',
      environment: { healthWindowMs: 2000 },
      layout,
      store,
      allowOlder: false,
      from: from ? { id: from.id, manifest: from } : null,
      to: { id: to.id, manifest: to },
      appConfig: async (m: PlannedRelease) => resolveAppConfig({ schema: m.runtime.config, envFile, processEnv: {}, secrets: { management: null, store: { type: 'local' } } }),
    }) as unknown as UpdateContext;
  return { v1, v2, v3, context };
}

test('deploy v1 → v3 from the pipeline: the store supplies v2, and the plan refuses', async (t) => {
  const { v1, v3, context } = await fixture(t);
  const plan = await planForUpdate(context(v1, v3, 'deploy'));
  assert.deepEqual(plan.blockerCodes, ['UPGRADE_PATH_REQUIRED', 'CONFIG_KEYS_MISSING']);
  assert.equal(plan.requiredIntermediate, 'v2');
  assert.deepEqual(plan.notes.map((n) => n.version), ['v2', 'v3']);
  assert.match(plan.steps[8]!, /watch health for 2 s/);
});

test('deploy v2 → v3 with the key in the env file goes ahead', async (t) => {
  const { v2, v3, context } = await fixture(t);
  const plan = await planForUpdate(context(v2, v3, 'deploy', { NOTES_TITLE: 'x' }));
  assert.deepEqual(plan.blockers, []);
});

test('a rollback never needs the store', async (t) => {
  const dir = tempDir(t, 'slipway-plan-');
  const notAStore = path.join(dir, 'file');
  fs.writeFileSync(notAStore, '');
  const { v2, v3, context } = await fixture(t, { storePath: notAStore });
  const plan = await planForUpdate(context(v3, v2, 'rollback'));
  assert.equal(plan.direction, 'downgrade');
  assert.deepEqual(plan.blockers, []);
});
