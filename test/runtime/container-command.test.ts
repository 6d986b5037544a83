import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { LABELS } from '../../src/container/engine.js';
import { SlipwayError } from '../../src/errors.js';
import { ProcessRuntime } from '../../src/runtime/process-runtime.js';
import { createProxy } from '../../src/runtime/proxy.js';
import { agentLikeEnvironment, containerRelease, containersWith, ensureContainerAppImage, IMAGE_PATH, layOutRelease } from '../helpers/container-app.js';
import { removeContainersOf, requireDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/temp-dir.js';

it("runCommand of a container release: a one-off container of its image with the release's env and mounts, output by line, failures and timeouts are errors, nothing left behind", { timeout: 120_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-command';
  t.after(() => removeContainersOf(app));
  const imageId = ensureContainerAppImage();
  const root = tempDir(t, 'slipway-ctr-');
  const release = containerRelease({ app, version: 'v1', imageId, env: { GREETING: 'hello' } });
  const releaseDir = await layOutRelease(root, release);
  writeFileSync(path.join(root, 'shared', 'uploads', 'seed.txt'), 'seeded on the host\n');
  const proxy = await createProxy({ host: '127.0.0.1', port: 0 });
  t.after(() => proxy.close());
  const runtime = new ProcessRuntime({
    proxy,
    environmentName: 'production',
    releaseDir: () => releaseDir,
    logsDir: path.join(root, 'logs'),
    runDir: path.join(root, 'run'),
    drainTimeoutMs: 1_000,
    standby: { windowMs: 0, minAvailableBytes: 0 },
    environmentFor: async () => agentLikeEnvironment({ DATABASE_URL: 'postgres://db/app' }),
    log: () => undefined,
  });
  const run = async (command: string, timeoutMs = 30_000) => {
    const lines: string[] = [];
    const error = await runtime
      .runCommand({ release, command, extraEnv: { SLIPWAY_ENV: 'production', SLIPWAY_HOOK: 'migrate' }, timeoutMs, onLine: (line) => lines.push(line) })
      .then(() => null, (e: unknown) => e);
    return { lines, error };
  };
  const commandContainers = () => containersWith({ [LABELS.app]: app, [LABELS.role]: 'command' });

  const ok = await run('echo "hook=$SLIPWAY_HOOK db=$DATABASE_URL greeting=$GREETING path=$PATH"; read seed < uploads/seed.txt; echo "seed: $seed"; echo "to stderr" >&2; echo migrated > uploads/migrated.txt');
  assert.equal(ok.error, null);
  assert.deepEqual(ok.lines.sort(), [`hook=migrate db=postgres://db/app greeting=hello path=${IMAGE_PATH}`, 'seed: seeded on the host', 'to stderr'].sort());
  assert.equal(readFileSync(path.join(root, 'shared', 'uploads', 'migrated.txt'), 'utf8'), 'migrated\n', 'it wrote through the mount into the shared folder');
  assert.deepEqual(commandContainers(), [], 'removed after it ran');

  const failed = await run('echo "about to fail"; exit 7');
  assert.ok(failed.error instanceof SlipwayError);
  assert.equal(failed.error.code, 'COMMAND_FAILED');
  assert.match(failed.error.message, /exited with code 7/);
  assert.deepEqual(failed.error.details, ['last output:', '  about to fail']);
  assert.deepEqual(failed.lines, ['about to fail']);
  assert.deepEqual(commandContainers(), []);

  const started = Date.now();
  const slow = await run('echo "waiting"; node -e "setTimeout(() => {}, 60000)"', 1_500);
  assert.ok(slow.error instanceof SlipwayError);
  assert.equal(slow.error.code, 'COMMAND_FAILED');
  assert.match(slow.error.message, /was killed \(SIGKILL, over its 1500 ms limit\)/);
  assert.ok(Date.now() - started < 20_000, 'killed at its limit, not after the command ended');
  assert.deepEqual(slow.lines, ['waiting']);
  assert.deepEqual(commandContainers(), [], 'nothing left behind');
});
