import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { appNoteColumns, createHostFixture, processesUnder, waitUntil, type HostFixture } from '../helpers/host-fixture.js';
import { isProcessGroupRunning } from '../../src/runtime/process-info.js';

// DESIGN.md step 8 and promise #2: after a switch the old release keeps running, unrouted,
// for the standby window, so that a code rollback inside it is a proxy switch; through the
// real CLI, agent and example app. Behaviour is asserted (same process, nothing started),
// not timing: bench/rollback.ts measures that.

interface SlotReport {
  role: 'active' | 'standby';
  version: string;
  name: string;
  port: number;
  services: { name: string; pid: number | null }[];
}

interface StatusReport {
  current: { version: string } | null;
  standby: { version: string; slot: string; until: string } | null;
  slots: SlotReport[];
}

/** Sets environments.production.standby in the fixture's working slipway.yml (production is the file's last mapping); read when an agent starts. */
function setStandby(host: HostFixture, value: string): void {
  const file = path.join(host.repo, 'slipway.yml');
  writeFileSync(file, `${readFileSync(file, 'utf8').replace(/^ {4}standby: .*\n/m, '')}    standby: ${value}\n`);
}

async function status(host: HostFixture): Promise<StatusReport> {
  const result = await host.cli(['status', 'production', '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as StatusReport;
}

/** The process group (its leader's pid) of the web service of the slot in `role`. */
function webPid(report: StatusReport, role: 'active' | 'standby'): number {
  const slot = report.slots.find((s) => s.role === role);
  assert.ok(slot, `a slot in role ${role}: ${JSON.stringify(report.slots)}`);
  const pid = slot.services.find((s) => s.name === 'web')?.pid;
  assert.ok(pid, `the web service of the ${role} slot has a pid: ${JSON.stringify(slot)}`);
  return pid;
}

async function deploy(host: HostFixture, version: string): Promise<string> {
  const result = await host.cli(['deploy', 'production', '--version', version, '--yes']);
  assert.equal(result.code, 0, `deploy ${version}:\n${result.stdout}${result.stderr}`);
  return result.stdout + result.stderr;
}

/** The answer of a slot's own port, past the proxy. */
async function direct(port: number, urlPath: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  return response.text();
}

it('keeps v1 warm and unrouted after deploying v2; rollback and rollback forward switch to the same processes; the agent stops them all', { timeout: 180_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '500ms', build: ['v1', 'v2'] });
  setStandby(host, '5m');
  const agent = await host.startAgent();
  await deploy(host, 'v1');
  const v1Pid = webPid(await status(host), 'active');
  const output = await deploy(host, 'v2');
  assert.match(output, /v1 kept warm in standby \(slot \w+, unrouted\) for 5m/, output);

  // (a) v1 still runs, answers on its own port, and the proxy sends nothing to it.
  const afterDeploy = await status(host);
  assert.equal(afterDeploy.current?.version, 'v2');
  assert.equal(afterDeploy.standby?.version, 'v1');
  assert.deepEqual(afterDeploy.slots.map((s) => `${s.role}:${s.version}`), ['active:v2', 'standby:v1']);
  assert.equal(webPid(afterDeploy, 'standby'), v1Pid, 'the standby is the process that served v1');
  assert.ok(isProcessGroupRunning(v1Pid), 'v1 is alive');
  const v1Slot = afterDeploy.slots.find((s) => s.role === 'standby')!;
  assert.equal(await direct(v1Slot.port, '/version'), 'v1');
  for (let i = 0; i < 10; i += 1) assert.equal((await host.get('/version')).body, 'v2', 'the proxy routes only to v2');
  assert.match((await host.cli(['status', 'production'])).stdout, /^ {2}standby {6}v1 warm in slot \w+ until \S+/m, 'status says what is in standby');
  const v2Pid = webPid(afterDeploy, 'active');

  // (b) rollback inside the window: v1's own processes take the traffic, nothing is started.
  const back = await host.cli(['rollback', 'production', '--yes']);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stderr + back.stdout, /warm in slot/, 'the start step says it took the warm slot');
  assert.match(back.stderr + back.stdout, /fetch .*already on this host, running/, 'the running release is not read from disk again');
  assert.equal((await host.get('/version')).body, 'v1');
  const afterRollback = await status(host);
  assert.equal(afterRollback.current?.version, 'v1');
  assert.equal(webPid(afterRollback, 'active'), v1Pid, 'v1 answers from the same process: no new process was started for it');
  assert.equal(afterRollback.standby?.version, 'v2', 'v2 takes its place in standby');
  assert.equal(webPid(afterRollback, 'standby'), v2Pid);
  assert.deepEqual(host.ledgerState(), { currentId: host.releases.get('v1'), previousId: host.releases.get('v2') });

  // Forward again inside the window: the same, the other way.
  const forward = await host.cli(['rollback', 'production', '--to', 'v2', '--yes']);
  assert.equal(forward.code, 0, forward.stderr);
  assert.equal((await host.get('/version')).body, 'v2');
  const afterForward = await status(host);
  assert.equal(webPid(afterForward, 'active'), v2Pid);
  assert.equal(webPid(afterForward, 'standby'), v1Pid);

  const history = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as { kind: string; outcome: string; steps: { name: string; outcome: string }[] }[];
  assert.deepEqual(history.slice(0, 2).map((d) => `${d.kind}:${d.outcome}`), ['rollback:succeeded', 'rollback:succeeded']);
  assert.equal(history[0]!.steps.find((s) => s.name === 'watch')?.outcome, 'skipped', 'a warm switch back has no health window');

  // The agent stops both slots, the standby included.
  assert.equal((await agent.stop()).code, 0);
  assert.ok(!isProcessGroupRunning(v1Pid) && !isProcessGroupRunning(v2Pid));
  assert.deepEqual(processesUnder(host.dir), [], 'no process is left after the agent stopped');
});

it('stops the standby cleanly when its window ends; a rollback after that starts the release cold, as before', { timeout: 180_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '500ms', build: ['v1', 'v2'] });
  setStandby(host, '3s');
  await host.startAgent();
  await deploy(host, 'v1');
  await deploy(host, 'v2');
  const report = await status(host);
  const v1Pid = webPid(report, 'standby');
  const v2Pid = webPid(report, 'active');
  assert.ok(isProcessGroupRunning(v1Pid), 'v1 is warm right after the deploy');

  // (c) the window ends: the slot is stopped, its process group gone, its pid file removed.
  await waitUntil('the standby window to end and v1 to stop', () => !isProcessGroupRunning(v1Pid), 20_000);
  const after = await status(host);
  assert.equal(after.standby, null);
  assert.deepEqual(after.slots.map((s) => `${s.role}:${s.version}`), ['active:v2']);
  assert.deepEqual(
    processesUnder(host.dir).filter((p) => p.cwd.includes(host.releases.get('v1')!)),
    [],
    'nothing of v1 runs any more',
  );
  assert.equal((await host.get('/version')).body, 'v2');

  // Not in standby: the rollback starts v1 cold (a new process), as it always did.
  const back = await host.cli(['rollback', 'production', '--yes']);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stderr + back.stdout, /cold start: it was not in standby/);
  assert.equal((await host.get('/version')).body, 'v1');
  const afterBack = await status(host);
  assert.notEqual(webPid(afterBack, 'active'), v1Pid);
  assert.equal(webPid(afterBack, 'standby'), v2Pid, 'v2 is the standby now');
});

it('a rollback --with-data restores the backup and starts v1 fresh, saying why it is not a proxy switch; v2 is not kept warm on data restored under it', { timeout: 180_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '500ms', build: ['v1', 'v2'] });
  setStandby(host, '5m');
  await host.startAgent();
  await deploy(host, 'v1');
  await deploy(host, 'v2');
  assert.ok(appNoteColumns(host.hostRoot).includes('words'), 'v2 migrated');
  const v1Pid = webPid(await status(host), 'standby');

  const back = await host.cli(['rollback', 'production', '--with-data', '--yes']);
  assert.equal(back.code, 0, back.stderr);
  const said = back.stderr + back.stdout;
  assert.match(said, /restored data cannot be a proxy switch/, said);
  assert.match(said, /stopped v2 \(not kept warm: the data was restored under it\)/, said);
  assert.equal((await host.get('/version')).body, 'v1');
  assert.ok(!appNoteColumns(host.hostRoot).includes('words'), "the data is v1's again");
  const after = await status(host);
  assert.notEqual(webPid(after, 'active'), v1Pid, 'v1 runs in a new process, started on the restored data');
  assert.ok(!isProcessGroupRunning(v1Pid), 'the old v1 process is gone');
  assert.equal(after.standby, null);
  const history = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as { outcome: string; steps: { name: string; outcome: string }[] }[];
  assert.equal(history[0]!.outcome, 'succeeded');
  assert.equal(history[0]!.steps.find((s) => s.name === 'migrate')?.outcome, 'done', 'the backup was restored');
});

it('standby off, or too little memory available: the old slot stops at the end of the update, and the output says why', { timeout: 180_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '500ms', build: ['v1', 'v2'] });
  setStandby(host, 'off');
  const agent = await host.startAgent();
  await deploy(host, 'v1');
  const v1Pid = webPid(await status(host), 'active');
  const output = await deploy(host, 'v2');
  assert.match(output, /stopped v1 \(not kept warm: standby is off\)/, output);
  assert.ok(!isProcessGroupRunning(v1Pid), 'v1 stopped');
  const report = await status(host);
  assert.equal(report.standby, null);
  assert.deepEqual(report.slots.map((s) => s.role), ['active']);
  assert.equal((await agent.stop()).code, 0);

  // The same host with a memory floor no host meets: memory is short, so v2 is not kept warm either.
  setStandby(host, '{ window: 5m, min_memory: 100000GB }');
  await host.startAgent();
  const v2Pid = webPid(await status(host), 'active');
  const back = await host.cli(['rollback', 'production', '--yes']);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stderr + back.stdout, /stopped v2 \(not kept warm: only \d+ MiB of memory available, standby needs \d+ MiB\)/);
  assert.ok(!isProcessGroupRunning(v2Pid), 'v2 stopped');
  assert.equal((await status(host)).standby, null);
});

it('an agent killed while a slot is in standby leaves no orphan: the next agent stops it and serves the current release', { timeout: 180_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '500ms', build: ['v1', 'v2'] });
  setStandby(host, '5m');
  const agent = await host.startAgent();
  await deploy(host, 'v1');
  await deploy(host, 'v2');
  const report = await status(host);
  const v1Pid = webPid(report, 'standby');
  const v2Pid = webPid(report, 'active');

  // SIGKILL to the agent alone: its app processes, in their own groups, outlive it.
  process.kill(agent.pid, 'SIGKILL');
  await agent.exited;
  assert.ok(isProcessGroupRunning(v1Pid) && isProcessGroupRunning(v2Pid), 'the app outlives a killed agent');

  const next = await host.startAgent();
  assert.ok(!isProcessGroupRunning(v1Pid), 'the standby left by the dead agent is stopped');
  assert.ok(!isProcessGroupRunning(v2Pid), 'so is its active slot (the new agent starts its own)');
  assert.match(next.output(), /stopped 2 processes left by a previous agent/);
  assert.equal((await host.get('/version')).body, 'v2');
  const after = await status(host);
  assert.equal(after.standby, null);
  assert.deepEqual(after.slots.map((s) => `${s.role}:${s.version}`), ['active:v2']);
  assert.equal(processesUnder(host.dir).filter((p) => p.cwd.includes(host.releases.get('v1')!)).length, 0, 'nothing of v1 runs');

  // Nothing in standby now: a rollback starts v1 cold and works.
  const back = await host.cli(['rollback', 'production', '--yes']);
  assert.equal(back.code, 0, back.stderr);
  assert.equal((await host.get('/version')).body, 'v1');
});
