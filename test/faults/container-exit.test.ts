import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import type { PipelineStepName } from '../../src/config/types.js';
import { requireDocker } from '../helpers/docker.js';
import { cellOf, createContainerFixture, dropFromStore, runContainerCase, type ContainerCase, type ContainerFaultSpec, type ContainerHost } from './container-fixture.js';

// Fault matrix, container columns "container exits" and "container OOM-killed": v2's new
// container dies while the update starts it (before `start`) and during the health window
// (before `watch`, just after the switch). The old release must serve on with its own data,
// v2's container must be stopped (only v1's runs), and the error must carry v2's own output.
//
// Exits: v2 exits (code 3, saying why) while the flag file data/crash.flag exists.
// OOM-killed: slipway.yml has no memory limit for a service, so the engine's out-of-memory
// kill is stood in for by `docker kill --signal KILL` of every v2 container as soon as it
// runs (what a service that allocates past its limit at once undergoes), until the update ends.
//
// Column "engine restarted", at the same two moments: the agent's engine goes away for about
// a second and comes back (its socket, a proxy, cut and restored; the engine's containers run
// on, as with a live-restore restart). A start waits for an engine that comes back within
// seconds, and a running container is not taken for dead because its watch lost the engine:
// v2 goes through.
//
// Last, a release whose image neither the host's engine nor the store has is refused at fetch,
// before anything changes (install-image.test.ts proves it at the step; this, through the CLI).

/** How long the engine stays away in the "engine restarted" cases (the agent waits 3 s for it). */
const AWAY_MS = 1_500;

const crashFlag = (host: ContainerHost) => path.join(host.hostRoot, 'shared', 'data', 'crash.flag');

/** Kills (SIGKILL, through the engine) every running service container of the release, every 100 ms, until stopped. */
function killLoop(app: string, releaseId: string): { stop(): void; kills(): number } {
  let killed = 0;
  const timer = setInterval(() => {
    const ids = spawnSync('docker', ['ps', '-q', '--filter', `label=dev.slipway.app=${app}`, '--filter', `label=dev.slipway.release=${releaseId}`, '--filter', 'label=dev.slipway.role=service'], { encoding: 'utf8' }).stdout.trim();
    if (ids === '') return;
    const kill = spawnSync('docker', ['kill', '--signal', 'KILL', ...ids.split(/\s+/)], { stdio: 'ignore' });
    if (kill.status === 0) killed += ids.split(/\s+/).length;
  }, 100);
  return { stop: () => clearInterval(timer), kills: () => killed };
}

function assertRolledBack(c: ContainerCase & { deployResult: { code: number | null; stdout: string; stderr: string }; result: { outcome: string } }, output: RegExp): void {
  const said = c.deployResult.stdout + c.deployResult.stderr;
  assert.equal(c.result.outcome, 'rolled-back', `[${c.step}] v2 does not go through:\n${said}`);
  assert.match(said, output, `[${c.step}] the error carries what v2's container said or how it ended:\n${said}`);
  const v2 = c.host.containers({ all: true }).filter((x) => x.release === c.host.releases.get('v2') && x.role === 'service');
  assert.ok(v2.every((x) => !x.running), `[${c.step}] v2's container is stopped: ${JSON.stringify(v2)}`);
}

function assertWentThrough(c: ContainerCase & { deployResult: { stdout: string; stderr: string }; result: { outcome: string } }): void {
  assert.equal(c.result.outcome, 'succeeded', `[${c.step}] an engine back within seconds does not fail the update:\n${c.deployResult.stdout}${c.deployResult.stderr}`);
}

it('the new container exits or is killed while it starts and during the health window; the engine restarts then', { timeout: 300_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const fx = await createContainerFixture(t);
  const cells: string[] = [];
  const cases: { label: string; step: PipelineStepName; spec: ContainerFaultSpec; output: RegExp }[] = [];
  for (const step of ['start', 'watch'] as const) {
    cases.push({
      label: 'engine-restarted',
      step,
      output: /./,
      spec: {
        when: 'before',
        async inject({ host }) {
          await host.proxy.cut();
          // Back a moment after the update goes on: the step meets the engine away.
          setTimeout(() => void host.proxy.restore(), AWAY_MS).unref();
        },
        lift: ({ host }) => host.proxy.restore(),
      },
    });
    cases.push({
      label: 'exits',
      step,
      output: /crash\.flag is set: exiting/,
      spec: {
        when: 'before',
        inject: async ({ host }) => writeFileSync(crashFlag(host), 'exit\n'),
        lift: async ({ host }) => rmSync(crashFlag(host), { force: true }),
      },
    });
    let loop: ReturnType<typeof killLoop> | undefined;
    cases.push({
      label: 'oom-killed',
      step,
      output: /code 137/,
      spec: {
        when: 'before',
        inject: async ({ host }) => void (loop = killLoop(host.app, host.releases.get('v2')!)),
        lift: async () => loop?.stop(),
      },
    });
  }
  for (const c of cases) {
    await t.test(`${c.label} at ${c.step}`, async () => {
      try {
        const more = c.label === 'engine-restarted' ? assertWentThrough : (x: Parameters<typeof assertRolledBack>[0]) => assertRolledBack(x, c.output);
        const result = await runContainerCase(fx, { ...c.spec, more: async (x) => more(x) }, c.step, c.label);
        cells.push(`${c.label} at ${c.step}: ${cellOf(result)}`);
      } catch (error) {
        cells.push(`${c.label} at ${c.step}: RED ${(error as Error).message.split('\n')[0]}`);
        throw error;
      }
    });
  }
  await t.test('an image neither on the host nor in the store is refused at fetch, before anything changes', async () => {
    const host = fx.freshHost('image-missing', { copyStore: true });
    const agent = await host.startAgent();
    try {
      const v1 = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
      assert.equal(v1.code, 0, v1.stderr);
      // v2's image: out of the engine, and its config out of this host's copy of the store.
      const imageId = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', `slipway/${fx.app}:v2`], { encoding: 'utf8' }).stdout.trim();
      assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
      assert.ok(dropFromStore(path.join(host.home, 'store'), imageId.slice('sha256:'.length)) > 0, 'the store held the image config');
      assert.equal(spawnSync('docker', ['rmi', '-f', imageId], { stdio: 'ignore' }).status, 0);
      const containersBefore = host.containers({ all: true });
      const deploy = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
      const said = deploy.stdout + deploy.stderr;
      assert.notEqual(deploy.code, 0, said);
      assert.match(said, /✗ fetch/, said);
      assert.match(said, /neither the Docker engine on this host nor the store .*refused, nothing was changed/, said);
      assert.doesNotMatch(said, /[✓✗] (preflight|backup|maintenance|migrate|start)/, 'nothing after fetch ran');
      assert.equal(host.currentId(), host.releases.get('v1'));
      assert.equal((await host.request('GET', '/version')).body, 'v1');
      assert.equal(host.schema(), 'v1', 'the data is untouched');
      assert.deepEqual(host.containers({ all: true }), containersBefore, 'no container was made or stopped');
      assert.equal(existsSync(path.join(host.hostRoot, 'releases', host.releases.get('v2')!)), false, 'v2 is not left installed');
    } finally {
      await agent.stop();
    }
  });

  t.diagnostic('container columns "exits", "OOM-killed" and "engine restarted":');
  for (const cell of cells) t.diagnostic(`  ${cell}`);
});
