import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * "Hosts" in network namespaces, joined to the test's own namespace by a veth pair,
 * so that a test can cut one host's link the way a network failure would.
 */

const run = promisify(execFile);

let cachedReason: string | null | undefined;

/** Why namespaces cannot be used here (pass it to t.skip), or null when they can. */
export function netnsUnavailableReason(): string | null {
  if (cachedReason !== undefined) return cachedReason;
  if (process.getuid?.() !== 0) return (cachedReason = 'network namespaces need root');
  const probe = `slw-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
    cachedReason = null;
  } catch (error) {
    const e = error as { stderr?: Buffer; message?: string };
    cachedReason = `\`ip netns add\` does not work here: ${(e.stderr?.toString() || e.message || '').trim()}`;
  }
  return cachedReason;
}

export interface NetnsHost {
  netns: string;
  /** the host's address, inside the namespace (10.x.y.2) */
  hostAddress: string;
  /** our end of the link, in the root namespace (10.x.y.1) */
  peerAddress: string;
  /** takes our end of the link down: packets to the host go nowhere */
  cutLink(): Promise<void>;
  restoreLink(): Promise<void>;
  /** kills what still runs in the namespace and deletes it and the link; safe to call twice */
  destroy(): Promise<void>;
}

async function subnetsInUse(): Promise<string> {
  const [addresses, routes] = await Promise.all([run('ip', ['-4', '-o', 'addr']), run('ip', ['-4', 'route'])]);
  return `${addresses.stdout}\n${routes.stdout}`;
}

/** A namespace named after `name` with a /24 of its own (unique per call, so parallel test files do not clash). */
export async function createNetnsHost(name: string): Promise<NetnsHost> {
  const id = randomBytes(4).toString('hex');
  const netns = `slw-${name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 20)}-${id}`;
  // interface names are limited to 15 characters
  const hostIf = `sw${id}h`;
  const peerIf = `sw${id}p`;
  let subnet = '';
  const used = await subnetsInUse();
  for (let attempt = 0; attempt < 50 && !subnet; attempt++) {
    const candidate = `10.${200 + Math.floor(Math.random() * 50)}.${1 + Math.floor(Math.random() * 250)}`;
    if (!new RegExp(`(^|\\s)${candidate.replaceAll('.', '\\.')}\\.`, 'm').test(used)) subnet = candidate;
  }
  if (!subnet) throw new Error('no free 10.x.y.0/24 subnet for a test namespace');
  const hostAddress = `${subnet}.2`;
  const peerAddress = `${subnet}.1`;

  let destroyed: Promise<void> | null = null;
  const host: NetnsHost = {
    netns,
    hostAddress,
    peerAddress,
    async cutLink() {
      await run('ip', ['link', 'set', peerIf, 'down']);
    },
    async restoreLink() {
      await run('ip', ['link', 'set', peerIf, 'up']);
    },
    destroy() {
      destroyed ??= (async () => {
        // a namespace lives on while processes run in it: end them (all started by this test)
        const pids = await run('ip', ['netns', 'pids', netns]).then((r) => r.stdout.split(/\s+/).filter(Boolean).map(Number), () => []);
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await run('ip', ['link', 'del', peerIf]).catch(() => undefined);
        await run('ip', ['netns', 'del', netns]).catch(() => undefined);
      })();
      return destroyed;
    },
  };

  try {
    await run('ip', ['netns', 'add', netns]);
    await run('ip', ['link', 'add', peerIf, 'type', 'veth', 'peer', 'name', hostIf]);
    await run('ip', ['link', 'set', hostIf, 'netns', netns]);
    await run('ip', ['addr', 'add', `${peerAddress}/24`, 'dev', peerIf]);
    await run('ip', ['link', 'set', peerIf, 'up']);
    await run('ip', ['-n', netns, 'addr', 'add', `${hostAddress}/24`, 'dev', hostIf]);
    await run('ip', ['-n', netns, 'link', 'set', hostIf, 'up']);
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    await host.destroy();
    throw error;
  }
  return host;
}
