/**
 * A Docker engine of the test's own, beside the machine's shared one: a `dockerd` with its own
 * data root, exec root (its containerd runs there too), pid file and socket, no bridge and no
 * iptables rules (containers use host networking), no live-restore. A test may stop, kill and
 * restart it without touching the engine every other test uses. Stopped, and its folder
 * removed, after the test, even when the test failed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { skipForMissingTool, type SkippableTest } from './missing-tool.js';
import type { AfterHook } from './temp-dir.js';
import { waitUntil } from './wait-until.js';

const run = promisify(execFile);

const DOCKERD_PLACES = ['/usr/sbin/dockerd', '/usr/bin/dockerd', '/usr/local/bin/dockerd'];
/** how long dockerd may take to answer after it is started (it takes 1-3 s here) */
const START_LIMIT_MS = 30_000;
/** how long a stop (SIGTERM: the engine stops its containers first, 10 s each at most) may take */
const STOP_LIMIT_MS = 40_000;

export interface PrivateEngine {
  /** the engine's socket */
  socket: string;
  /** what DOCKER_HOST names for it */
  dockerHost: string;
  /** the folder holding its data root, exec root, pid file, socket and log */
  dir: string;
  /** process.env with DOCKER_HOST set to this engine (for the docker CLI and slipway) */
  env: NodeJS.ProcessEnv;
  /** the docker CLI against this engine; its stdout */
  docker(args: string[]): Promise<string>;
  /** dockerd is running (it may not answer yet) */
  isRunning(): boolean;
  /**
   * The engine goes away. SIGTERM: as a service manager's stop, it stops its containers first
   * (no live-restore); SIGKILL: a crash, its containers run on until it starts again and finds them.
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** starts it again on the same folders; resolves once it answers */
  start(): Promise<void>;
  /** copies an image of the shared engine into this one (`docker save | docker load`) */
  loadImage(tag: string): Promise<void>;
  /** everything dockerd wrote to its log, every run of it */
  log(): string;
}

function findDockerd(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    if (existsSync(path.join(dir, 'dockerd'))) return path.join(dir, 'dockerd');
  }
  return DOCKERD_PLACES.find((p) => existsSync(p)) ?? null;
}

/** Why a private engine cannot run here, or null. */
export function privateEngineUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'a second dockerd needs root';
  if (findDockerd() === null) return 'dockerd is not installed (.ci/run installs docker.io)';
  return null;
}

/** True when a private engine can run here; else skips the test, loudly, or in CI (CI set) fails it. */
export function requirePrivateEngine(t: SkippableTest): boolean {
  const reason = privateEngineUnavailableReason();
  return reason === null || skipForMissingTool(t, 'a private Docker engine', reason);
}

/** GET /_ping on the engine's socket: true when it answers OK. */
function pings(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ socketPath: socket, path: '/_ping', timeout: 2_000 }, (answer) => {
      answer.resume();
      resolve(answer.statusCode === 200);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => (request.destroy(), resolve(false)));
  });
}

/** Live processes whose command line names `dir` (the engine, its containerd, the shims of its containers). */
function processesNaming(dir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').some((arg) => arg.includes(dir))) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The children of `pid`, and theirs. */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const all: number[] = [];
  const walk = (p: number) => {
    for (const child of children.get(p) ?? []) {
      all.push(child);
      walk(child);
    }
  };
  walk(pid);
  return all;
}

/** Mount points at or under `dir` (a container's root file system, the engine's network namespace file), deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => (line.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * After a kill of dockerd, its containerd dies too but, orphaned, may stay a zombie for a
 * while: this machine's PID 1 is not a reaping init. dockerd, started again, finds its pid file
 * naming a process that "exists", takes it for a containerd that still runs, and waits for its
 * socket until it gives up ("timeout waiting for containerd to start"). A zombie's pid file is
 * removed, so that dockerd starts a new containerd, as it does after a crash on a host whose init reaps.
 */
function forgetDeadContainerd(execRoot: string): void {
  const pidFile = path.join(execRoot, 'containerd', 'containerd.pid');
  let pid: string;
  try {
    pid = readFileSync(pidFile, 'utf8').trim();
  } catch {
    return;
  }
  let state = 'gone';
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    // gone: dockerd copes with that itself
  }
  if (state === 'Z' || state === 'gone') rmSync(pidFile, { force: true });
}

/** Starts a private dockerd and waits for it to answer; it is stopped and its folder removed after `t`. */
export async function startPrivateEngine(t: AfterHook): Promise<PrivateEngine> {
  const dockerd = findDockerd();
  if (dockerd === null) throw new Error('dockerd is not installed');
  // Short: the socket paths under it (containerd's among them) must stay under 108 bytes.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slw-dockerd-'));
  const socket = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  const configFile = path.join(dir, 'daemon.json');
  for (const sub of ['data', 'exec']) mkdirSync(path.join(dir, sub));
  // Its own (empty) config file: nothing of the machine's /etc/docker/daemon.json (hosts, live-restore…) applies.
  writeFileSync(configFile, '{}\n');
  const args = [
    `--config-file=${configFile}`,
    `--data-root=${path.join(dir, 'data')}`,
    `--exec-root=${path.join(dir, 'exec')}`,
    `--pidfile=${path.join(dir, 'dockerd.pid')}`,
    `--host=unix://${socket}`,
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
  ];
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}` };
  let child: ChildProcess | null = null;

  const start = async () => {
    if (child !== null && child.exitCode === null && child.signalCode === null) return;
    forgetDeadContainerd(path.join(dir, 'exec'));
    const log = openSync(logFile, 'a');
    try {
      child = spawn(dockerd, args, { cwd: dir, stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const started = child;
    await waitUntil('the private dockerd to answer', async () => {
      if (started.exitCode !== null || started.signalCode !== null) throw new Error(`the private dockerd exited (${started.exitCode ?? started.signalCode}):\n${tail()}`);
      return pings(socket);
    }, START_LIMIT_MS, { intervalMs: 100, explain: tail });
  };

  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    const running = child;
    if (running === null || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_LIMIT_MS)));
    const how = await Promise.race([exited.then(() => 'exited' as const), late]);
    clearTimeout(timer);
    if (how === 'late') {
      running.kill('SIGKILL');
      await exited;
    }
  };

  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  };

  /** Everything it made goes: its containers, its processes (containerd and shims left by a kill), its mounts, its folder. */
  const remove = async () => {
    const problems: string[] = [];
    try {
      // Started again if a test left it down, so that it stops its containers itself.
      await start();
      const ids = (await run('docker', ['ps', '-aq'], { env })).stdout.trim();
      if (ids !== '') await run('docker', ['rm', '-f', '-v', ...ids.split(/\s+/)], { env });
    } catch (error) {
      problems.push(`emptying it: ${(error as Error).message}`);
    }
    await stop('SIGTERM');
    for (const pid of processesNaming(dir)) {
      for (const p of [...descendantsOf(pid), pid]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    for (const point of mountsUnder(dir)) {
      const unmounted = await run('umount', ['-l', point]).then(() => null, (error: Error) => error.message);
      if (unmounted !== null) problems.push(`umount ${point}: ${unmounted}`);
    }
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      problems.push(`removing ${dir}: ${(error as Error).message}`);
    }
    if (problems.length > 0) throw new Error(`the private dockerd in ${dir} was not cleaned up:\n${problems.join('\n')}`);
  };
  t.after(remove);

  await start();
  return {
    socket,
    dockerHost: env.DOCKER_HOST,
    dir,
    env,
    docker: async (dockerArgs) => (await run('docker', dockerArgs, { env, maxBuffer: 64 * 1024 * 1024 })).stdout,
    isRunning: () => child !== null && child.exitCode === null && child.signalCode === null,
    stop,
    start,
    async loadImage(tag) {
      // One pipe: the shared engine's image streams into this one, nothing written in between.
      await run('bash', ['-c', 'set -euo pipefail; docker --host "$FROM" save "$TAG" | docker --host "$TO" load --quiet'], {
        env: { ...process.env, FROM: process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock', TO: env.DOCKER_HOST, TAG: tag },
        maxBuffer: 1024 * 1024,
      });
    },
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };
}
