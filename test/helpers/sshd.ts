import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { findFreePort } from '../../src/runtime/ports.js';

/**
 * Real OpenSSH servers for the remote tests: each "host" is an sshd of its own with
 * its own host key, port and authorized key, on a loopback address or inside a
 * network namespace.
 */

const run = promisify(execFile);

function findExecutable(name: string, extraDirs: string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Why real sshd tests cannot run here (pass it to t.skip), or null when they can. */
export function sshdUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'sshd tests need root (sshd switches to the logged-in user and needs its privilege separation folder)';
  if (!findExecutable('sshd', SBIN)) return 'sshd is not installed (apt install openssh-server)';
  if (!findExecutable('ssh-keygen')) return 'ssh-keygen is not installed (apt install openssh-client)';
  if (!findExecutable('ssh')) return 'ssh is not installed (apt install openssh-client)';
  return null;
}

export interface SshClientKeys {
  dir: string;
  /** path of the private key file */
  privateKey: string;
  /** path of the public key file */
  publicKey: string;
}

/** An ed25519 key pair without passphrase in a temp folder of its own (remove `dir` when done). */
export async function createClientKeys(): Promise<SshClientKeys> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-sshkey-'));
  const privateKey = path.join(dir, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-test', '-f', privateKey]);
  return { dir, privateKey, publicKey: `${privateKey}.pub` };
}

export interface RunningSshd {
  name: string;
  address: string;
  port: number;
  /** ssh://root@address:port */
  url: string;
  /** "ssh-ed25519 AAAA..." (no comment) */
  hostPublicKey: string;
  pid: number;
  /** what sshd printed so far (with logLevel INFO: one "Accepted publickey" line per connection) */
  log(): string;
  /** Kills sshd and every connection it serves (commands first, so each is reaped), removes its folder; safe to call twice. */
  stop(): Promise<void>;
  /**
   * Kills the connections first, like a server going down, then stops as stop() does.
   * The commands those connections ran are orphaned for a moment, so each stays a
   * zombie (PID 1 here reaps nothing): use it only where a dying server is the point.
   */
  crash(): Promise<void>;
}

interface Descendant {
  pid: number;
  /** 1 = a child of the root process */
  depth: number;
  zombie: boolean;
}

/** Processes whose parent chain leads to `pid`, zombies included (their parent has not reaped them yet). */
function descendantsOf(pid: number): Descendant[] {
  const processes = new Map<number, { ppid: number; zombie: boolean }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      processes.set(Number(name), { ppid: Number(fields[1]), zombie: fields[0] === 'Z' });
    } catch {
      // gone meanwhile
    }
  }
  const found: Descendant[] = [];
  const walk = (parent: number, depth: number) => {
    for (const [child, info] of processes) {
      if (info.ppid !== parent) continue;
      found.push({ pid: child, depth, zombie: info.zombie });
      walk(child, depth + 1);
    }
  };
  walk(pid, 1);
  return found;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Kills the processes under `pid`, deepest first, and waits each time until their
 * parents have reaped them: PID 1 here reaps nothing, so an orphan would stay a zombie.
 */
async function killDescendants(pid: number): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const found = descendantsOf(pid);
    if (found.length === 0) return;
    const live = found.filter((p) => !p.zombie);
    if (live.length > 0) {
      const deepest = Math.max(...live.map((p) => p.depth));
      // a parent of a zombie is about to reap it: kill it only once that happened
      const parentsOfZombies = new Set(found.filter((p) => p.zombie).map((p) => p.depth - 1));
      for (const p of live) if (p.depth === deepest && !parentsOfZombies.has(p.depth)) killQuietly(p.pid);
    }
    await delay(20);
  }
}

function acceptsTcp(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function sshdConfig(o: { dir: string; address: string; port: number; hostKey: string; authorizedKeys: string; logLevel: string; setEnv?: Record<string, string> }): string {
  return [
    // what a server's own environment would give its sessions (e.g. the host's credentials for a bucket)
    // (one line: sshd takes the first SetEnv it reads)
    ...(o.setEnv && Object.keys(o.setEnv).length > 0 ? [`SetEnv ${Object.entries(o.setEnv).map(([key, value]) => `${key}="${value}"`).join(' ')}`] : []),
    `ListenAddress ${o.address}`,
    `Port ${o.port}`,
    `HostKey ${o.hostKey}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    `PidFile ${path.join(o.dir, 'sshd.pid')}`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AllowTcpForwarding yes',
    'AllowStreamLocalForwarding yes',
    'MaxSessions 50',
    'MaxStartups 100',
    `LogLevel ${o.logLevel}`,
    '',
  ].join('\n');
}

/**
 * Starts `sshd -D -e` with a fresh host key on a free port (inside `netns` when given)
 * and resolves once it accepts TCP connections. Root logs in with `keys`.
 */
export async function startSshd(options: {
  name: string;
  keys: SshClientKeys;
  /** default 127.0.0.1 */
  address?: string;
  netns?: string;
  /** default ERROR; INFO logs every accepted connection */
  logLevel?: 'ERROR' | 'INFO' | 'VERBOSE' | 'DEBUG';
  /** variables every session gets (sshd's SetEnv) */
  setEnv?: Record<string, string>;
}): Promise<RunningSshd> {
  const sshd = findExecutable('sshd', SBIN);
  if (!sshd) throw new Error('sshd is not installed');
  // sshd's privilege separation folder; the package creates it at boot, which never happened here
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const address = options.address ?? '127.0.0.1';
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `slipway-sshd-${options.name}-`));
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${options.name}-host`, '-f', hostKey]);
  const hostPublicKey = (await fs.readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const configFile = path.join(dir, 'sshd_config');

  let lastFailure = '';
  // a free port can be taken by someone else before sshd binds it: try a few
  for (let attempt = 0; attempt < 5; attempt++) {
    // an empty namespace has every port free; in the root namespace ask the OS
    const port = options.netns ? 20000 + Math.floor(Math.random() * 40000) : await findFreePort(address);
    await fs.writeFile(configFile, sshdConfig({ dir, address, port, hostKey, authorizedKeys: options.keys.publicKey, logLevel: options.logLevel ?? 'ERROR', ...(options.setEnv ? { setEnv: options.setEnv } : {}) }));
    const argv = [sshd, '-D', '-e', '-f', configFile];
    const child = options.netns ? spawn('ip', ['netns', 'exec', options.netns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
    let exited = false;
    const exit = new Promise<void>((resolve) => child.on('close', () => resolve()));
    void exit.then(() => (exited = true));
    child.on('error', (error) => (log += `\n${error.message}`));

    const deadline = Date.now() + 15_000;
    while (!exited && Date.now() < deadline && !(await acceptsTcp(address, port))) await delay(30);
    if (exited || Date.now() >= deadline) {
      child.kill('SIGKILL');
      await exit;
      lastFailure = log;
      if (/Address already in use/.test(log)) continue;
      break;
    }

    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        await killDescendants(child.pid!);
        if (!exited) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(timer);
        await fs.rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    };
    return {
      name: options.name,
      address,
      port,
      url: `ssh://root@${address}:${port}`,
      hostPublicKey,
      pid: child.pid!,
      log: () => log,
      stop,
      crash() {
        const tree = descendantsOf(child.pid!).filter((p) => !p.zombie);
        for (const p of tree) if (p.depth === 1) killQuietly(p.pid);
        for (const p of tree) if (p.depth > 1) killQuietly(p.pid);
        return stop();
      },
    };
  }
  await fs.rm(dir, { recursive: true, force: true });
  throw new Error(`sshd ${options.name} did not start:\n${lastFailure}`);
}

/**
 * An ssh_config (for ssh -F, i.e. SLIPWAY_SSH_CONFIG) that logs in with `keys` and
 * trusts exactly the given hosts' keys ('none': an empty known_hosts).
 */
export async function writeSshClientConfig(options: {
  file: string;
  keys: SshClientKeys;
  hosts: RunningSshd[];
  knownHosts?: 'all' | 'none';
  /** lines added to the `Host *` block, e.g. "StrictHostKeyChecking accept-new" replaces the default */
  extraOptions?: string[];
}): Promise<{ configFile: string; knownHostsFile: string }> {
  const knownHostsFile = `${options.file}.known_hosts`;
  const knownHosts = (options.knownHosts ?? 'all') === 'all' ? options.hosts.map((h) => `[${h.address}]:${h.port} ${h.hostPublicKey}\n`).join('') : '';
  await fs.writeFile(knownHostsFile, knownHosts, { mode: 0o600 });
  const extra = options.extraOptions ?? [];
  const overridden = (keyword: string) => extra.some((line) => line.trim().toLowerCase().startsWith(keyword.toLowerCase()));
  const lines = [
    'Host *',
    `  IdentityFile "${options.keys.privateKey}"`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile "${knownHostsFile}"`,
    '  GlobalKnownHostsFile /dev/null',
    ...(overridden('StrictHostKeyChecking') ? [] : ['  StrictHostKeyChecking yes']),
    '  LogLevel ERROR',
    ...extra.map((line) => `  ${line}`),
    '',
  ];
  await fs.writeFile(options.file, lines.join('\n'), { mode: 0o600 });
  return { configFile: options.file, knownHostsFile };
}
