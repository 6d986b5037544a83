/**
 * A container app on a host reached over SSH, through the CLI only: `setup`, then v1 whose
 * image the host gets through its store (the engine here is the host's too, so the test
 * takes the built images out of it first: the host must load them from what came over SSH),
 * v2 (one changed layer) under load with no failed request, sending only what the host
 * lacks, and `rollback`. With PostgreSQL installed, the app has a PostgreSQL accessory on the
 * host, backed up and verified before v2.
 *
 * One host: every sshd here shares this machine's one Docker engine, where two hosts of one
 * environment would name their containers alike (on real servers each has its own engine).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { it } from 'node:test';
import { runCli, type CliResult } from '../helpers/cli.js';
import { ensureNodeBaseImage, removeContainersOf, requireDocker } from '../helpers/docker.js';
import { ensurePostgresImage, installedPostgresMajor, psqlOnPort } from '../helpers/docker-postgres.js';
import { removeImagesOf } from '../helpers/image-repo.js';
import { freePort } from '../helpers/free-port.js';
import { startLoad } from '../helpers/load.js';
import { sshdUnavailableReason } from '../helpers/sshd.js';
import { createFleet } from '../helpers/fleet-fixture.js';
import { appContainers, createSshByteCounter, loadedLayers, writeContainerAppRepo } from '../helpers/container-fleet.js';
import type { ReleaseImage } from '../../src/config/types.js';
import { imageIdHex } from '../../src/store/image-objects.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { readReleaseManifest } from '../../src/store/releases.js';

const skip = sshdUnavailableReason();
const PASSWORD = 'cfleet-Pw-5e0c2a91';

function describe(r: CliResult): string {
  return `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
}

/** The digests of an image's objects in the store: its layers and its config. */
function imageObjects(image: ReleaseImage): string[] {
  return [...image.layers.map((l) => l.sha256), imageIdHex(image.id)];
}

it('deploys a container app to a host over SSH: image through the store, v2 under load, rollback', { skip: skip ?? false, timeout: 600_000 }, async (t) => {
  if (!requireDocker(t)) return;
  ensureNodeBaseImage();
  const app = `cfleet-${randomBytes(3).toString('hex')}`;
  const pgMajor = installedPostgresMajor();
  if (pgMajor === null) t.diagnostic('SKIPPED in part: PostgreSQL is not installed, so the accessory and its backup are left out');
  const postgres = pgMajor === null ? undefined : { image: ensurePostgresImage(pgMajor), port: await freePort() };
  // Where the time went, for the report (nothing asserts on it).
  const phases: string[] = [];
  let phaseStart = performance.now();
  const phase = (name: string) => {
    phases.push(`${name} ${Math.round(performance.now() - phaseStart)} ms`);
    phaseStart = performance.now();
  };
  const counter = createSshByteCounter();
  // Registered first, so it runs before the fleet's teardown: nothing uses SSH by then.
  t.after(() => counter.remove());
  const fleet = await createFleet(t, [{ name: 'web1' }], { build: false, app: async (repo) => writeContainerAppRepo(repo, { app, ...(postgres ? { postgres } : {}) }), sshOptions: [counter.sshOption] });
  // After the fleet's teardown (its agent stopped): what is left of the app in the engine.
  t.after(() => {
    removeContainersOf(app);
    removeImagesOf(app);
  });
  const host = fleet.hosts.get('web1')!;
  phase('fleet');

  const ids: Record<string, string> = {};
  const images: Record<string, ReleaseImage> = {};
  const cliStore = createLocalStore(path.join(fleet.home, 'store'));
  for (const version of ['v1', 'v2']) {
    const built = await runCli(['build', '--ref', version, '--json'], { cwd: fleet.repo, home: fleet.home, timeoutMs: 180_000 });
    assert.equal(built.code, 0, describe(built));
    ids[version] = (JSON.parse(built.stdout) as { id: string }).id;
    const manifest = await readReleaseManifest(cliStore, app, ids[version]!);
    images[version] = manifest.runtime.services.find((s) => s.name === 'web')!.image!;
  }
  assert.equal(images.v1!.layers.length, 3, 'the base layer, lib.js, server.js');
  assert.deepEqual(images.v2!.layers.slice(0, 2), images.v1!.layers.slice(0, 2), 'v2 changes only its top layer');
  assert.notEqual(images.v2!.layers[2]!.sha256, images.v1!.layers[2]!.sha256);
  // The build left its images in the engine, which the host shares: out they go, so the host has to load them.
  removeImagesOf(app);
  phase('build v1, v2');

  const setup = await fleet.cli(['setup', 'production']);
  assert.equal(setup.code, 0, describe(setup));
  phase('setup');

  const outputs: CliResult[] = [];
  if (postgres) {
    // The secrets go as the README says: `config set KEY` with the value piped in, read here and handed to the host's command on its stdin.
    for (const [key, value] of [['POSTGRES_PASSWORD', PASSWORD], ['DATABASE_URL', `postgres://app:${PASSWORD}@127.0.0.1:${postgres.port}/app`]] as const) {
      const set = await fleet.cli(['config', 'production', 'set', key], { input: `${value}\n` });
      assert.equal(set.code, 0, describe(set));
      outputs.push(set);
    }
    const started = await fleet.cli(['accessory', 'start', 'production']);
    outputs.push(started);
    assert.equal(started.code, 0, describe(started));
    assert.match(started.stdout, new RegExp(`db: created \\(container slipway-${app}-production-db, .*\\), answering on 127\\.0\\.0\\.1:${postgres.port}`), describe(started));
    const written = psqlOnPort({ port: postgres.port, user: 'app', password: PASSWORD, database: 'app', sql: "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('written on v1')" });
    assert.ok(written.ok, written.out);
    phase('accessory');
  }

  // v1: the release, its image's layers and config, go over SSH into the host's store; the host loads what its engine lacks.
  let sent = counter.sentBytes();
  const v1 = await fleet.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  const sentV1 = counter.sentBytes() - sent;
  phase('deploy v1');
  outputs.push(v1);
  assert.equal(v1.code, 0, describe(v1));
  assert.match(v1.stderr, /web1: release v1 streamed to the host/, v1.stderr);
  // The base layer is in the engine (it is the local base image); lib.js's and server.js's are not.
  assert.deepEqual(loadedLayers(v1.stderr), [2, 3], v1.stderr);
  const hostStore = createLocalStore(path.join(host.root, 'store'));
  const onHost = await loadObjectIndex(hostStore, app);
  for (const digest of imageObjects(images.v1!)) assert.ok(onHost.has(digest), `the host's store holds ${digest.slice(0, 12)} of v1's image`);
  const baseLayer = images.v1!.layers[0]!;
  t.diagnostic(`deploy v1 sent ${sentV1} bytes over SSH; the base layer is ${baseLayer.size} bytes`);
  assert.equal((await fleet.get('web1', '/version')).body, 'v1');

  const serving = () => appContainers(app).filter((c) => c.state === 'running' && c.labels['dev.slipway.role'] === 'service');
  const [container, ...others] = serving();
  assert.equal(others.length, 0, JSON.stringify(serving()));
  assert.equal(container!.labels['dev.slipway.app'], app);
  assert.equal(container!.labels['dev.slipway.environment'], 'production');
  assert.equal(container!.labels['dev.slipway.service'], 'web');
  assert.match(container!.labels['dev.slipway.slot'] ?? '', /^(blue|green)$/);
  assert.equal(container!.labels['dev.slipway.release'], ids.v1);

  // v2 under load: one new layer, and only what the host lacks goes over SSH.
  const load = startLoad({ port: host.port, clients: 2, maxDurationMs: 300_000, nextRequest: () => ({ method: 'GET', path: '/version' }), keepBody: () => true });
  sent = counter.sentBytes();
  const v2 = await fleet.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  const sentV2 = counter.sentBytes() - sent;
  phase('deploy v2');
  const report = await load.stop();
  outputs.push(v2);
  assert.equal(v2.code, 0, describe(v2));
  assert.equal(report.connectionErrors + report.non2xx, 0, `failed requests during v1 → v2: ${report.errorMessages.join('; ')}`);
  const answers = report.samples.map((s) => s.body);
  assert.ok(answers.includes('v1') && answers.at(-1) === 'v2', `the load saw v1, then v2 (${report.answered} answers)`);
  assert.deepEqual(loadedLayers(v2.stderr), [1, 3], v2.stderr);
  const onHostAfter = await loadObjectIndex(hostStore, app);
  for (const digest of imageObjects(images.v2!)) assert.ok(onHostAfter.has(digest), `the host's store holds ${digest.slice(0, 12)} of v2's image`);
  // What the host's store gained: v2's top layer, its image config and the one changed file of the release.
  const changedFile = (await readReleaseManifest(cliStore, app, ids.v2!)).files.find((f) => f.path === 'server.js')!.sha256;
  const gained = [...onHostAfter.keys()].filter((d) => !onHost.has(d)).sort();
  assert.deepEqual(gained, [images.v2!.layers[2]!.sha256, imageIdHex(images.v2!.id), changedFile].sort());
  // Over SSH, v1 carried the base layer (gzipped, about 40% of its size). v2 carried less than half of the smallest
  // layer it shares with v1 (lib.js's, of random text: gzip keeps some 3/4 of it): it sent none of them again.
  const smallestShared = Math.min(...images.v2!.layers.slice(0, 2).map((l) => l.size));
  t.diagnostic(`deploy v2 sent ${sentV2} bytes over SSH (the smallest layer it shares with v1: ${smallestShared} bytes); ${report.answered} requests answered under load`);
  assert.ok(sentV1 > baseLayer.size / 4, `v1 sent the base layer (${sentV1} bytes sent)`);
  assert.ok(sentV2 < smallestShared / 2, `v2 sent no layer the host had (${sentV2} bytes sent)`);
  assert.equal((await fleet.get('web1', '/version')).body, 'v2');

  if (postgres) {
    const backedUp = /web1: backed up \((\S+)\)/.exec(v2.stderr);
    assert.ok(backedUp, `the rollout backed the host up first:\n${v2.stderr}`);
    const backups = await fleet.cli(['backups', 'production', '--json']);
    outputs.push(backups);
    assert.equal(backups.code, 0, describe(backups));
    const backup = (JSON.parse(backups.stdout) as { id: string; release: { id: string } | null; verifiedAt: string | null }[]).find((b) => b.id === backedUp[1]);
    assert.ok(backup, backups.stdout);
    assert.equal(backup.release?.id, ids.v1, `taken of v1: ${JSON.stringify(backup)}`);
    assert.ok(backup.verifiedAt, `the backup was verified: ${JSON.stringify(backup)}`);
  }

  const back = await fleet.cli(['rollback', 'production', '--yes']);
  phase('rollback');
  outputs.push(back);
  assert.equal(back.code, 0, describe(back));
  assert.equal((await fleet.get('web1', '/version')).body, 'v1');
  // v1's container answers again (v2's may stay up, unrouted, in standby).
  assert.ok(serving().some((c) => c.labels['dev.slipway.release'] === ids.v1), JSON.stringify(serving()));
  const verify = await fleet.cli(['verify', 'production']);
  assert.equal(verify.code, 0, describe(verify));
  assert.match(verify.stdout, /its containers run the release's images, unchanged/, verify.stdout);

  if (postgres) {
    // The accessory lived through both updates, its data with it; no output ever showed its password.
    const kept = psqlOnPort({ port: postgres.port, user: 'app', password: PASSWORD, database: 'app', sql: 'SELECT v FROM kept' });
    assert.deepEqual([kept.ok, kept.out.trim()], [true, 'written on v1']);
    assert.deepEqual(appContainers(app).filter((c) => c.labels['dev.slipway.role'] === 'accessory').map((c) => [c.name, c.state]), [[`slipway-${app}-production-db`, 'running']]);
    for (const r of outputs) assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD), `the password is in no output:\n${describe(r)}`);
  }
  phase('checks');
  t.diagnostic(`phases: ${phases.join(', ')}`);
});
