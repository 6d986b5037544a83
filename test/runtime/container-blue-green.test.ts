import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { it } from 'node:test';
import { LABELS } from '../../src/container/engine.js';
import { ProcessRuntime } from '../../src/runtime/process-runtime.js';
import { createProxy } from '../../src/runtime/proxy.js';
import type { Slot } from '../../src/runtime/slots.js';
import { agentLikeEnvironment, containerRelease, containersWith, ensureContainerAppImage, inspectContainer, layOutRelease } from '../helpers/container-app.js';
import { removeContainersOf, requireDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/temp-dir.js';

// The runtime the agent uses, with a real proxy: two container releases, blue then green, under load.

function request(port: number, agent: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

it('blue/green between two container releases through the runtime and its proxy: not one request fails, the version changes, the old container is stopped and kept', { timeout: 180_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-bluegreen';
  t.after(() => removeContainersOf(app));
  const imageId = ensureContainerAppImage();
  const root = tempDir(t, 'slipway-ctr-');
  const v1 = containerRelease({ app, version: 'v1', imageId });
  const v2 = containerRelease({ app, version: 'v2', imageId });
  const dirs = new Map([
    [v1.id, await layOutRelease(root, v1)],
    [v2.id, await layOutRelease(root, v2)],
  ]);
  const proxy = await createProxy({ host: '127.0.0.1', port: 0 });
  const lines: string[] = [];
  const runtime = new ProcessRuntime({
    proxy,
    environmentName: 'production',
    releaseDir: (id) => dirs.get(id)!,
    logsDir: path.join(root, 'logs'),
    runDir: path.join(root, 'run'),
    drainTimeoutMs: 5_000,
    standby: { windowMs: 0, minAvailableBytes: 0 },
    environmentFor: async () => agentLikeEnvironment({}),
    log: (line) => lines.push(line),
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(async () => {
    agent.destroy();
    await runtime.close();
    await proxy.close();
  });

  const blue = await runtime.startIdle(v1.id, v1.manifest);
  assert.equal(blue.name, 'blue');
  await runtime.activate(blue);

  const failures: string[] = [];
  const answers: string[] = [];
  let stopAt = Number.POSITIVE_INFINITY;
  const client = async () => {
    while (answers.length + failures.length < stopAt) {
      try {
        const answer = await request(proxy.port, agent);
        if (answer.status === 200) answers.push(answer.body);
        else failures.push(`HTTP ${answer.status} ${answer.body}`);
      } catch (error) {
        failures.push(String(error));
      }
    }
  };
  const load = Promise.all(Array.from({ length: 6 }, () => client()));
  while (answers.length < 200 && failures.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));

  const green = await runtime.startIdle(v2.id, v2.manifest);
  assert.equal(green.name, 'green');
  const switched = await runtime.activate(green);
  const retired = await runtime.retire(blue);
  stopAt = answers.length + failures.length + 300;
  const watched = await runtime.watchHealth(green, 300);
  await load;

  assert.deepEqual(failures, []);
  assert.deepEqual(switched, { previous: blue.port, drained: true, inFlightLeft: 0 });
  assert.match(retired, /^stopped v1 \(not kept warm: standby is off\)$/);
  assert.deepEqual(watched, { ok: true });
  assert.deepEqual([...new Set(answers)].sort(), ['v1:blue', 'v2:green']);
  assert.equal(answers.at(-1), 'v2:green');
  assert.equal(proxy.stats().errors, 0);
  assert.equal(runtime.active(), green);
  assert.equal(runtime.isAlive(green), true);
  assert.equal(runtime.isAlive(blue), false);

  const [blueId] = containersWith({ [LABELS.app]: app, [LABELS.release]: v1.id });
  const [greenId] = containersWith({ [LABELS.app]: app, [LABELS.release]: v2.id });
  assert.equal(inspectContainer(blueId!)?.State.Status, 'exited', 'the old container is stopped, kept until its release is pruned');
  assert.equal(inspectContainer(greenId!)?.State.Status, 'running');
  assert.ok((await runtime.logTail(20)).some((l) => l.includes('[slipway] starting web.green from image')));
  assert.ok((blue as Slot).services[0]!.process.state() === 'stopped');
});
