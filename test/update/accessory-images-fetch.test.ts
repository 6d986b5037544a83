/**
 * The update's fetch step with a release that carries an accessory's image: the step's line
 * says the image was loaded and named by its reference, and that the accessory was not started.
 * (Goes with the change to src/update/steps/fetch.ts that describes accessory images.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { ensureHostLayout, hostLayout } from '../../src/host/layout.js';
import { openLedger } from '../../src/host/ledger.js';
import { createLocalStore } from '../../src/store/local-store.js';
import type { UpdateContext } from '../../src/update/context.js';
import { fetchStep } from '../../src/update/steps/fetch.js';
import { dockerUnavailableReason, ensureNodeBaseImage, requireDocker } from '../helpers/docker.js';
import { buildAndStore, inspectImage, makeImageRepo, removeImage, removeImagesOf } from '../helpers/image-repo.js';
import { tempDir } from '../helpers/cli.js';

const APP = 'accfetch';
const DB_REF = `slipway-test/${APP}-db:1`;
const scratch = tempDir({ after }, 'slipway-accessory-fetch-');
after(() => {
  if (dockerUnavailableReason() === null) removeImagesOf(APP);
});

test('fetch step: a release\'s accessory image the engine lacks is loaded, named by its reference, and said so', async (t) => {
  if (!requireDocker(t)) return;
  ensureNodeBaseImage();
  const dir = fs.mkdtempSync(path.join(scratch, 'image-'));
  fs.writeFileSync(path.join(dir, 'marker'), randomBytes(4096));
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM slipway-test/node-base:1\nCOPY marker /marker\n');
  assert.equal(spawnSync('docker', ['build', '-q', '--label', `dev.slipway.app=${APP}`, '-t', DB_REF, dir], { env: { ...process.env, DOCKER_BUILDKIT: '0' } }).status, 0);
  const dbId = inspectImage(DB_REF)!.Id;
  const repo = makeImageRepo(t, APP);
  const project = repo.containerProject();
  const store = createLocalStore(path.join(scratch, 'store'));
  const built = await buildAndStore({ project: { ...project, config: { ...project.config, accessories: [{ name: 'db', image: DB_REF, volumes: [], env: {}, secrets: [] }] } }, store, outDir: path.join(scratch, 'out') });
  // The plan says the image comes with the release and is not started.
  const described = fetchStep.describe({ input: { target: built.manifest } } as unknown as Parameters<typeof fetchStep.describe>[0]);
  assert.match(described.what, /the image of accessory db \(2 layers, [\d.]+ MiB, not started\)/);
  removeImage(dbId);
  const layout = hostLayout(path.join(scratch, 'host'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  const result = await fetchStep.run({ layout, ledger, store, app: APP, to: { id: built.id }, signatures: { required: false, publicKeysPem: [] } } as unknown as UpdateContext);
  assert.match(result?.detail ?? '', new RegExp(`; image of web already in the engine; image of accessory db loaded: 1 of 2 layer\\(s\\) fetched \\([\\d.]+ KiB\\), named ${DB_REF.replace(/[./]/g, '\\$&')}$`));
  assert.equal(inspectImage(DB_REF)?.Id, dbId);
});
