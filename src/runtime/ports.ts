import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * A TCP port that was free a moment ago, for a server about to listen on it. Another
 * process may still take it before it is used; to make that unlikely the port is chosen
 * below the OS's ephemeral range, which the OS hands to outgoing connections: a port the
 * OS picked for us from that range can become the local end of any outgoing connection
 * (the app's own database connections, a health probe) before our server binds it.
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  const range = listeningRange();
  if (range !== undefined) {
    for (let attempt = 0; attempt < 30; attempt++) {
      const port = range.low + Math.floor(Math.random() * (range.high - range.low + 1));
      if (recentlyGiven(port)) continue;
      remember(port); // before the check, so that a concurrent call cannot pick it meanwhile
      if (await isPortFree(port, host)) return port;
      given.delete(port);
    }
  }
  return remember(await osAssignedPort(host));
}

/** True when nothing listens on `port` at `host` (checked by listening on it briefly). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolve(false);
      else reject(error);
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Where servers' ports are chosen: above the usual services' defaults, outside the ephemeral range; undefined when no such range is wide enough. */
export function listeningRange(ephemeral = ephemeralRange()): { low: number; high: number } | undefined {
  const LOWEST = 10_000;
  const WIDE_ENOUGH = 2_000;
  if (ephemeral.low - 1 - LOWEST >= WIDE_ENOUGH) return { low: LOWEST, high: ephemeral.low - 1 };
  if (65_535 - (ephemeral.high + 1) >= WIDE_ENOUGH) return { low: Math.max(LOWEST, ephemeral.high + 1), high: 65_535 };
  return undefined;
}

let ephemeralCache: { low: number; high: number } | undefined;

/** The OS's range for outgoing connections' local ports (Linux's default when it cannot be read). */
function ephemeralRange(): { low: number; high: number } {
  if (ephemeralCache === undefined) {
    ephemeralCache = { low: 32_768, high: 60_999 };
    try {
      const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
      if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) ephemeralCache = { low: low!, high: high! };
    } catch {
      // not Linux, or /proc hidden: keep the default
    }
  }
  return ephemeralCache;
}

// Ports handed out in the last minute, so that two servers started together in this
// process (two services' slots) never get the same one before either listens.
const given = new Map<number, number>();
const REMEMBER_MS = 60_000;

function recentlyGiven(port: number): boolean {
  const at = given.get(port);
  return at !== undefined && Date.now() - at < REMEMBER_MS;
}

function remember(port: number): number {
  const now = Date.now();
  for (const [p, at] of given) if (now - at >= REMEMBER_MS) given.delete(p);
  given.set(port, now);
  return port;
}

function osAssignedPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read the port the OS assigned'))));
    });
  });
}
