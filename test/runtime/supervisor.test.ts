import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { waitUntilHealthy } from '../../src/runtime/health-check.js';
import { findFreePort } from '../../src/runtime/ports.js';
import { isProcessGroupRunning, isProcessRunning, processStartTime } from '../../src/runtime/process-info.js';
import {
  killStaleProcesses,
  startService,
  tailLines,
  type PidFileContent,
  type ServiceExit,
  type ServiceSpec,
  type SupervisedService,
} from '../../src/runtime/supervisor.js';
import { tempDir } from '../helpers/temp-dir.js';
import { killQuietly } from '../helpers/processes.js';
import { waitUntil } from '../helpers/wait-until.js';

// Liveness is checked with isProcessRunning rather than bare process.kill(pid, 0): on machines whose PID 1
// does not reap orphans (this build VM, some containers) a killed grandchild stays a zombie forever,
// and signal 0 still "reaches" a zombie.

/** A small app: serves on $PORT and starts a grandchild (`sleep`) whose pid it writes to $GRANDCHILD_PID_FILE. */
const SERVER_SCRIPT = `
const http = require('node:http');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const grandchild = spawn(process.env.GRANDCHILD_COMMAND || 'sleep 1000', { shell: true, stdio: 'ignore' });
fs.writeFileSync(process.env.GRANDCHILD_PID_FILE, String(grandchild.pid));
const server = http.createServer((req, res) => res.end('ok'));
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening on ' + process.env.PORT));
process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });
`;

function supervise(t: TestContext, spec: ServiceSpec): SupervisedService {
  const service = startService(spec);
  t.after(() => service.stop({ graceMs: 1000 }));
  return service;
}

function baseSpec(dir: string, overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name: 'web',
    command: 'exec sleep 1000',
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    logFile: path.join(dir, 'logs', 'web.log'),
    ...overrides,
  };
}

const readText = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

describe('supervisor', { timeout: 30_000 }, () => {
  it('runs a real server, captures its output, and stop() ends the whole process group', async (t) => {
    const dir = tempDir(t);
    writeFileSync(path.join(dir, 'server.cjs'), SERVER_SCRIPT);
    const port = await findFreePort();
    const grandchildPidFile = path.join(dir, 'grandchild.pid');
    const spec = baseSpec(dir, {
      command: `"${process.execPath}" server.cjs`,
      env: { PATH: process.env.PATH ?? '', PORT: String(port), GRANDCHILD_PID_FILE: grandchildPidFile },
      pidFile: path.join(dir, 'run', 'web.pid'),
    });
    const service = supervise(t, spec);

    await waitUntilHealthy({
      url: `http://127.0.0.1:${port}/`,
      check: { path: '/', intervalMs: 20, timeoutMs: 1000, successes: 1, deadlineMs: 15_000 },
      isAlive: () => service.isAlive(),
    });
    assert.equal(service.state(), 'running');
    assert.equal(service.isAlive(), true);
    const pid = service.pid();
    assert.ok(pid !== undefined && isProcessRunning(pid));
    await waitUntil('the grandchild pid', () => existsSync(grandchildPidFile) && readText(grandchildPidFile).length > 0, 15_000);
    const grandchild = Number(readText(grandchildPidFile));
    assert.ok(isProcessRunning(grandchild));

    const pidFile = JSON.parse(readText(spec.pidFile!)) as PidFileContent;
    assert.equal(pidFile.pid, pid);
    assert.equal(pidFile.pgid, pid);
    assert.equal(pidFile.startTime, processStartTime(pid));
    assert.equal(pidFile.command, spec.command);

    await waitUntil('the server output in the log', () => readText(spec.logFile).includes('listening on'), 15_000);
    assert.ok((await service.lastOutput()).some((line) => line === `listening on ${port}`));

    await service.stop({ graceMs: 5000 });
    assert.equal(service.state(), 'stopped');
    assert.equal(service.isAlive(), false);
    assert.equal(service.pid(), undefined);
    assert.equal(isProcessRunning(pid), false);
    assert.equal(isProcessRunning(grandchild), false, 'the grandchild went with the group');
    assert.equal(isProcessGroupRunning(pid), false);
    assert.equal(existsSync(spec.pidFile!), false, 'a clean stop removes the pid file');

    const log = readText(spec.logFile);
    assert.match(log, /^\S+Z \[slipway\] starting web in .*server\.cjs\n/);
    assert.match(log, /got SIGTERM/);
    // sh may or may not exec the command: the leader ends by exit code or by the signal itself.
    assert.match(log, /\[slipway\] web exited \(code \S+, signal \S+\) after stop\n/);
  });

  it('stop() sends SIGKILL after the grace period to a process group that ignores SIGTERM', async (t) => {
    const dir = tempDir(t);
    writeFileSync(path.join(dir, 'server.cjs'), SERVER_SCRIPT);
    const grandchildPidFile = path.join(dir, 'grandchild.pid');
    const service = supervise(
      t,
      baseSpec(dir, {
        command: `"${process.execPath}" server.cjs`,
        env: {
          PATH: process.env.PATH ?? '',
          PORT: String(await findFreePort()),
          GRANDCHILD_PID_FILE: grandchildPidFile,
          // An ignored signal stays ignored across exec, so this sleep shrugs off SIGTERM.
          GRANDCHILD_COMMAND: `trap '' TERM; exec sleep 1000`,
        },
      }),
    );
    await waitUntil('the server to start', () => readText(path.join(dir, 'logs', 'web.log')).includes('listening on'), 15_000);
    await waitUntil('the grandchild pid', () => readText(grandchildPidFile).length > 0, 15_000);
    const grandchild = Number(readText(grandchildPidFile));
    // Give the shell time to set its trap before exec: wait until the grandchild is `sleep` itself.
    await waitUntil('the grandchild to exec', () => readText(`/proc/${grandchild}/comm`).trim() === 'sleep' || !existsSync('/proc/self'), 15_000);

    await service.stop({ graceMs: 300 });
    assert.equal(isProcessRunning(grandchild), false);
    assert.match(readText(path.join(dir, 'logs', 'web.log')), /still running 300ms after SIGTERM: sending SIGKILL/);
  });

  it('restarts a crashed service with backoff', async (t) => {
    const dir = tempDir(t);
    writeFileSync(path.join(dir, 'server.cjs'), SERVER_SCRIPT);
    const port = await findFreePort();
    const exits: ServiceExit[] = [];
    const service = supervise(
      t,
      baseSpec(dir, {
        // Crashes on its first run only.
        command: `if [ -f crashed-once ]; then exec "${process.execPath}" server.cjs; else touch crashed-once; echo "crashing on purpose"; exit 3; fi`,
        env: { PATH: process.env.PATH ?? '', PORT: String(port), GRANDCHILD_PID_FILE: path.join(dir, 'grandchild.pid') },
        restart: { maxRestarts: 3, initialBackoffMs: 20, maxBackoffMs: 1000 },
      }),
    );
    service.on('exit', (info) => exits.push(info));

    await waitUntil('the restart', () => service.restarts() === 1 && service.state() === 'running', 15_000);
    await waitUntilHealthy({
      url: `http://127.0.0.1:${port}/`,
      check: { path: '/', intervalMs: 20, timeoutMs: 1000, successes: 1, deadlineMs: 15_000 },
      isAlive: () => service.isAlive(),
    });
    assert.deepEqual(exits, [{ code: 3, signal: null, willRestart: true, restartInMs: 20 }]);
    const log = await service.lastOutput(100);
    assert.ok(log.includes('crashing on purpose'));
    assert.ok(log.some((line) => line.includes('web exited (code 3, signal -); restarting in 20ms')));
    assert.ok(log.some((line) => line.includes('starting web (restart 1)')));
  });

  it('gives up after maxRestarts within the window: state failed', async (t) => {
    const dir = tempDir(t);
    const exits: ServiceExit[] = [];
    const pidFile = path.join(dir, 'run', 'web.pid');
    const service = supervise(
      t,
      baseSpec(dir, {
        command: 'echo "boom $$"; exit 1',
        pidFile,
        restart: { maxRestarts: 2, initialBackoffMs: 5, maxBackoffMs: 1000 },
      }),
    );
    service.on('exit', (info) => exits.push(info));

    await waitUntil('the service to fail', () => service.state() === 'failed', 15_000);
    assert.equal(service.restarts(), 2);
    assert.equal(service.isAlive(), false);
    assert.deepEqual(
      exits.map((exit) => [exit.code, exit.willRestart, exit.restartInMs]),
      [
        [1, true, 5],
        [1, true, 10],
        [1, false, undefined],
      ],
    );
    assert.equal(existsSync(pidFile), false);
    const tail = await service.lastOutput(2);
    assert.equal(tail.length, 2);
    assert.match(tail[0], /^boom \d+$/);
    assert.match(tail[1], /web exited \(code 1, signal -\); gave up after 2 restart\(s\)/);

    await service.stop();
    assert.equal(service.state(), 'failed');
  });

  it('reports a command that cannot start (missing folder) as an exit with an error', async (t) => {
    const dir = tempDir(t);
    const exits: ServiceExit[] = [];
    const service = supervise(
      t,
      baseSpec(dir, { cwd: path.join(dir, 'missing'), restart: { maxRestarts: 0, initialBackoffMs: 5, maxBackoffMs: 5 } }),
    );
    service.on('exit', (info) => exits.push(info));
    await waitUntil('the service to fail', () => service.state() === 'failed', 15_000);
    assert.equal(exits.length, 1);
    assert.match(exits[0].error ?? '', /ENOENT/);
    assert.equal(exits[0].willRestart, false);
  });

  it('lastOutput returns the tail of the log', async (t) => {
    const dir = tempDir(t);
    const service = supervise(
      t,
      baseSpec(dir, { command: 'i=1; while [ $i -le 100 ]; do echo line-$i; i=$((i+1)); done; exec sleep 1000' }),
    );
    await waitUntil('the output', () => readText(path.join(dir, 'logs', 'web.log')).includes('line-100\n'), 15_000);
    assert.deepEqual(await service.lastOutput(5), ['line-96', 'line-97', 'line-98', 'line-99', 'line-100']);
    assert.equal((await service.lastOutput()).length, 30);
    assert.deepEqual(await service.lastOutput(0), []);
  });

  it('rotates a log larger than the limit at spawn, keeping three old files', async (t) => {
    const dir = tempDir(t);
    const logFile = path.join(dir, 'logs', 'web.log');
    mkdirSync(path.dirname(logFile));
    writeFileSync(logFile, 'x'.repeat(2000) + '\n');
    writeFileSync(`${logFile}.1`, 'one\n');
    writeFileSync(`${logFile}.2`, 'two\n');
    writeFileSync(`${logFile}.3`, 'three\n');
    // The limit leaves room for the start line and the output: only the file left by earlier runs rotates.
    const service = supervise(t, baseSpec(dir, { command: 'echo fresh; exec sleep 1000', logRotateBytes: 1000 }));
    await waitUntil('the new output', () => readText(logFile).includes('fresh'), 15_000);
    assert.equal(readText(`${logFile}.1`), 'x'.repeat(2000) + '\n');
    assert.equal(readText(`${logFile}.2`), 'one\n');
    assert.equal(readText(`${logFile}.3`), 'two\n');
    assert.equal(existsSync(`${logFile}.4`), false);
    assert.match(readText(logFile), /^\S+ \[slipway\] starting web/);
    await service.stop();
  });
});

describe('service logs rotate by size', { timeout: 60_000 }, () => {
  /** A service that writes `lines` numbered lines as fast as it can, then (once they are out) a line on stderr, then stays up. */
  const FAST_WRITER = (lines: number) =>
    `"${process.execPath}" -e 'const pad = "x".repeat(60); let i = 1; const more = () => { while (i <= ${lines}) { if (!process.stdout.write("line-" + i + " " + pad + "\\n")) { i += 1; process.stdout.once("drain", more); return; } i += 1; } process.stdout.write("", () => console.error("stderr-done")); setInterval(() => {}, 1e6); }; more();'`;

  it('a service writing fast: the log never grows past the limit by more than a line, three old files are kept, no line is lost or split', async (t) => {
    const dir = tempDir(t);
    const logFile = path.join(dir, 'logs', 'web.log');
    const limit = 128 * 1024;
    const total = 20_000; // ~1.4 MB: about ten rotations
    const service = supervise(t, baseSpec(dir, { command: FAST_WRITER(total), logRotateBytes: limit }));
    await waitUntil('the last line', () => readText(logFile).includes('stderr-done\n'), 30_000);
    assert.equal(service.state(), 'running');

    assert.equal(existsSync(`${logFile}.4`), false, 'at most three old files');
    const files = [`${logFile}.3`, `${logFile}.2`, `${logFile}.1`, logFile];
    for (const file of files) {
      assert.ok(existsSync(file), `${path.basename(file)} exists`);
      assert.ok(statSync(file).size <= limit + 100, `${path.basename(file)} is ${statSync(file).size} bytes, limit ${limit}`);
    }
    // Across the kept files, the numbered lines follow each other up to the last: none lost at a rotation, none cut in two.
    const lines = files.flatMap((file) => readText(file).split('\n').filter(Boolean));
    const numbers = lines.filter((l) => l.startsWith('line-')).map((l) => {
      assert.match(l, /^line-\d+ x{60}$/, 'a whole line');
      return Number(l.slice(5, l.indexOf(' ')));
    });
    assert.equal(numbers.at(-1), total);
    numbers.forEach((n, i) => i > 0 && assert.equal(n, numbers[i - 1]! + 1, `line-${numbers[i - 1]} is followed by line-${n}`));
    assert.ok(numbers.length > 2_000, `the kept files hold ${numbers.length} lines`);
    assert.equal(lines.at(-1), 'stderr-done', 'stderr comes through the same log, after the stdout written before it');

    // The tail reads across a rotation: more lines than the current file holds come from .1.
    const inCurrent = readText(logFile).split('\n').filter(Boolean).length;
    const tail = await service.lastOutput(inCurrent + 10);
    assert.equal(tail.length, inCurrent + 10);
    assert.deepEqual(tail, lines.slice(-(inCurrent + 10)));
  });

  it('tailLines right after a rotation: the last lines come from the rotated file and the new one, in order', async (t) => {
    const dir = tempDir(t);
    const logFile = path.join(dir, 'web.log');
    writeFileSync(`${logFile}.1`, Array.from({ length: 100 }, (_, i) => `old-${i + 1}`).join('\n') + '\n');
    writeFileSync(logFile, 'new-1\nnew-2\n');
    assert.deepEqual(await tailLines(logFile, 4), ['old-99', 'old-100', 'new-1', 'new-2']);
    assert.deepEqual(await tailLines(logFile, 2), ['new-1', 'new-2']);
    assert.deepEqual(await tailLines(logFile, 0), []);
    // A line the rotation split (a line longer than the limit) reads back whole.
    writeFileSync(`${logFile}.1`, 'first\nhalf of a ');
    writeFileSync(logFile, 'long line\n');
    assert.deepEqual(await tailLines(logFile, 2), ['first', 'half of a long line']);
    rmSync(logFile);
    assert.deepEqual(await tailLines(logFile, 1), ['half of a '], 'only the rotated file: its end');
  });
});

describe('killStaleProcesses', { timeout: 30_000 }, () => {
  it('kills the process group left behind by a supervisor that was killed', async (t) => {
    const dir = tempDir(t);
    const runDir = path.join(dir, 'run');
    const grandchildPidFile = path.join(dir, 'grandchild.pid');
    const supervisorModule = new URL('../../src/runtime/supervisor.js', import.meta.url).href;
    const script = path.join(dir, 'dying-agent.mjs');
    writeFileSync(
      script,
      `import { startService } from ${JSON.stringify(supervisorModule)};
const service = startService({
  name: 'web',
  command: 'sleep 1000 & echo $! > ${grandchildPidFile}; exec sleep 1000',
  cwd: ${JSON.stringify(dir)},
  env: { PATH: ${JSON.stringify(process.env.PATH ?? '')} },
  logFile: ${JSON.stringify(path.join(dir, 'web.log'))},
  pidFile: ${JSON.stringify(path.join(runDir, 'web.pid'))},
});
process.stdout.write(String(service.pid()), () => process.kill(process.pid, 'SIGKILL'));
`,
    );
    const agent = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    agent.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exitSignal = await new Promise((resolve) => agent.once('exit', (_code, signal) => resolve(signal)));
    assert.equal(exitSignal, 'SIGKILL');
    const servicePid = Number(out);
    t.after(() => killQuietly(-servicePid));
    await waitUntil('the grandchild pid', () => readText(grandchildPidFile).trim().length > 0, 15_000);
    const grandchild = Number(readText(grandchildPidFile));
    assert.ok(isProcessRunning(servicePid), 'the service outlived its supervisor');
    assert.ok(isProcessRunning(grandchild));

    assert.equal(await killStaleProcesses(runDir, { graceMs: 5000 }), 1);
    assert.equal(isProcessRunning(servicePid), false);
    assert.equal(isProcessRunning(grandchild), false);
    assert.equal(existsSync(path.join(runDir, 'web.pid')), false);
    assert.equal(await killStaleProcesses(runDir), 0, 'nothing left the second time');
  });

  it('leaves alone a process whose start time does not match its pid file, and removes unreadable pid files', async (t) => {
    const dir = tempDir(t);
    const stranger = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
    const pid = stranger.pid!;
    t.after(() => killQuietly(-pid));
    // The pid was "reused": same number, but a process that started at another time.
    const record: PidFileContent = { name: 'web', pid, pgid: pid, startedAt: new Date(0).toISOString(), startTime: '1', command: 'sleep 1000' };
    writeFileSync(path.join(dir, 'web.pid'), JSON.stringify(record));
    writeFileSync(path.join(dir, 'worker.pid'), 'not json');
    writeFileSync(path.join(dir, 'other.pid'), JSON.stringify({ pid: 'abc' }));
    writeFileSync(path.join(dir, 'notes.txt'), 'not a pid file');

    assert.equal(await killStaleProcesses(dir), 0);
    assert.ok(isProcessRunning(pid), 'a process that is not ours was not touched');
    assert.equal(existsSync(path.join(dir, 'web.pid')), false);
    assert.equal(existsSync(path.join(dir, 'worker.pid')), false);
    assert.equal(existsSync(path.join(dir, 'other.pid')), false);
    assert.equal(existsSync(path.join(dir, 'notes.txt')), true);
    assert.equal(await killStaleProcesses(path.join(dir, 'missing')), 0);
  });
});
