import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it, type TestContext } from 'node:test';
import { decideStandby, Standby, availableMemoryBytes } from '../../src/runtime/standby.js';
import { stopSlot, type Slot } from '../../src/runtime/slots.js';
import type { ServiceConfig } from '../../src/config/types.js';
import type { ReleaseManifest } from '../../src/release/manifest.js';
import { waitUntilHealthy } from '../../src/runtime/health-check.js';
import { findFreePort } from '../../src/runtime/ports.js';
import { isProcessGroupRunning } from '../../src/runtime/process-info.js';
import { startService } from '../../src/runtime/supervisor.js';

// The standby holder of the agent (src/runtime/standby.ts) with real processes: kept, handed
// over, stopped when its window ends, when memory runs short, or when it no longer answers.

const SERVER = "require('node:http').createServer((q, r) => r.end(q.url === '/healthz' ? 'ok' : process.env.VERSION)).listen(Number(process.env.PORT), '127.0.0.1');\n";
const GiB = 2 ** 30;

async function runningSlot(t: TestContext, version: string, name: 'blue' | 'green' = 'blue'): Promise<Slot> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-standby-'));
  const port = await findFreePort();
  writeFileSync(path.join(dir, 'server.js'), SERVER);
  const config: ServiceConfig = { name: 'web', command: `exec ${JSON.stringify(process.execPath)} server.js`, portEnv: 'PORT', env: {}, health: { path: '/healthz', intervalMs: 50, timeoutMs: 1000, successes: 1, deadlineMs: 10_000 } };
  const service = startService({ name: `web.${name}`, command: config.command!, cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), VERSION: version }, logFile: path.join(dir, 'web.log') });
  t.after(async () => {
    await service.stop({ graceMs: 500 });
    rmSync(dir, { recursive: true, force: true });
  });
  await waitUntilHealthy({ url: `http://127.0.0.1:${port}/healthz`, check: config.health });
  // The holder never reads the manifest: a stand-in is enough.
  return { name, releaseId: `id-${version}`, version, manifest: { version } as ReleaseManifest, port, startedAt: new Date().toISOString(), services: [{ config, port, process: service }] };
}

function holder(o: { windowMs: number; minAvailableBytes?: number; memory?: () => number; recheckMs?: number }): { standby: Standby; logs: string[] } {
  const logs: string[] = [];
  const standby = new Standby({
    config: { windowMs: o.windowMs, minAvailableBytes: o.minAvailableBytes ?? 0 },
    stopSlot: (slot) => stopSlot(slot, 1000),
    log: (line) => logs.push(line),
    availableMemory: o.memory ?? (() => 8 * GiB),
    ...(o.recheckMs === undefined ? {} : { memoryRecheckMs: o.recheckMs }),
  });
  return { standby, logs };
}

const pidOf = (slot: Slot) => slot.services[0]!.process.pid()!;

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 400 && isProcessGroupRunning(pid); i += 1) await new Promise((r) => setTimeout(r, 25));
}

it('decides: off, short of memory, or kept for the window', () => {
  assert.deepEqual(decideStandby({ windowMs: 0, minAvailableBytes: 0 }, 8 * GiB), { keep: false, reason: 'standby is off' });
  assert.deepEqual(decideStandby({ windowMs: 60_000, minAvailableBytes: GiB }, 300 * 2 ** 20), { keep: false, reason: 'only 300 MiB of memory available, standby needs 1024 MiB' });
  assert.deepEqual(decideStandby({ windowMs: 60_000, minAvailableBytes: GiB }, 2 * GiB), { keep: true, windowMs: 60_000 });
  assert.ok(availableMemoryBytes() > 0, 'the host reports its available memory');
});

it('keeps a slot warm and hands the same processes over to a rollback to its release', async (t) => {
  const slot = await runningSlot(t, 'v1');
  const { standby } = holder({ windowMs: 60_000 });
  const line = await standby.retire(slot);
  assert.match(line, /^v1 kept warm in standby \(slot blue, unrouted\) for 1m, until /);
  assert.equal(standby.current()?.slot, slot);
  assert.equal(await standby.take('id-v2'), null, 'another release: nothing handed over, the standby stays');
  assert.equal(standby.current()?.slot, slot);
  const taken = await standby.take('id-v1');
  assert.equal(taken?.slot, slot);
  assert.equal(standby.current(), null);
  assert.ok(isProcessGroupRunning(pidOf(slot)), 'handed over running');
});

it('stops the slot when its window ends, and when memory runs short during the window', async (t) => {
  const first = await runningSlot(t, 'v1');
  const { standby, logs } = holder({ windowMs: 300 });
  await standby.retire(first);
  const pid = pidOf(first);
  await waitGone(pid);
  assert.ok(!isProcessGroupRunning(pid), 'stopped at the end of its window');
  await standby.settled();
  assert.equal(standby.current(), null);
  assert.match(logs.join('\n'), /stopping v1 in slot blue: its standby window of 300ms ended/);

  let memory = 8 * GiB;
  const second = await runningSlot(t, 'v2', 'green');
  const secondPid = pidOf(second);
  const short = holder({ windowMs: 60_000, minAvailableBytes: GiB, memory: () => memory, recheckMs: 50 });
  assert.match(await short.standby.retire(second), /kept warm/);
  memory = GiB / 2;
  await waitGone(secondPid);
  assert.ok(!isProcessGroupRunning(secondPid), 'given up when the host needs the memory');
  assert.match(short.logs.join('\n'), /stopping v2 in slot green: only 512 MiB of memory available/);
});

it('stops the slot at once when standby is off or memory is short, and says why', async (t) => {
  const off = await runningSlot(t, 'v1');
  const offPid = pidOf(off);
  assert.equal(await holder({ windowMs: 0 }).standby.retire(off), 'stopped v1 (not kept warm: standby is off)');
  assert.ok(!isProcessGroupRunning(offPid));
  const short = await runningSlot(t, 'v2');
  const shortPid = pidOf(short);
  assert.equal(await holder({ windowMs: 60_000, minAvailableBytes: 4 * GiB, memory: () => GiB }).standby.retire(short), 'stopped v2 (not kept warm: only 1024 MiB of memory available, standby needs 4096 MiB)');
  assert.ok(!isProcessGroupRunning(shortPid));
});

it('a standby that no longer answers is not handed over: it is stopped, and the release starts cold', async (t) => {
  const slot = await runningSlot(t, 'v1');
  const pid = pidOf(slot);
  const { standby, logs } = holder({ windowMs: 60_000 });
  await standby.retire(slot);
  // The app hangs: alive, but it answers nothing (SIGSTOP), which only a health probe can tell.
  process.kill(pid, 'SIGSTOP');
  assert.equal(await standby.take('id-v1'), null);
  assert.ok(!isProcessGroupRunning(pid), 'stopped (SIGKILL reaches a stopped process)');
  assert.match(logs.join('\n'), /v1 in slot blue failed its health check/);
});

it('one slot in standby at a time; stopNow empties it and waits until the processes are gone', async (t) => {
  const v1 = await runningSlot(t, 'v1', 'blue');
  const v2 = await runningSlot(t, 'v2', 'green');
  const [v1Pid, v2Pid] = [pidOf(v1), pidOf(v2)];
  const { standby } = holder({ windowMs: 60_000 });
  await standby.retire(v1);
  await standby.retire(v2);
  assert.ok(!isProcessGroupRunning(v1Pid), 'the earlier standby made room');
  assert.equal(standby.current()?.slot, v2);
  await standby.stopNow('the agent stops');
  assert.equal(standby.current(), null);
  assert.ok(!isProcessGroupRunning(v2Pid));
});

it('a window longer than a timer can wait (24.8 days) keeps the slot, instead of firing at once', async (t) => {
  const slot = await runningSlot(t, 'v1');
  const pid = pidOf(slot);
  const { standby } = holder({ windowMs: 40 * 24 * 3_600_000 });
  assert.match(await standby.retire(slot), /for 960h/);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(standby.current()?.slot, slot, 'still in standby');
  assert.ok(isProcessGroupRunning(pid));
  await standby.stopNow('the test ends');
  assert.ok(!isProcessGroupRunning(pid));
});
