/** Checks of this machine itself: free disk space, the Node version, and its clock against the store's. */
import type { StoreConfig } from '../config/types.js';
import { freeBytesAt } from '../plan/gather.js';
import { formatBytes } from '../util/format.js';
import { errorText, result, type DoctorCheck } from './check-result.js';

// ---- disk ----

export const GIB = 1024 ** 3;

export async function checkDiskSpace(o: { dir: string; warnBelowBytes?: number; failBelowBytes?: number }): Promise<DoctorCheck> {
  const warnBelow = o.warnBelowBytes ?? GIB;
  const failBelow = o.failBelowBytes ?? 256 * 1024 * 1024;
  let free: number;
  try {
    free = await freeBytesAt(o.dir);
  } catch (error) {
    return result('disk space', 'fail', `cannot read the free space under ${o.dir}: ${errorText(error)}`, `check that ${o.dir} (or its parent) exists and is readable`);
  }
  const detail = `${formatBytes(free)} free under ${o.dir}`;
  const fix = `free some space under ${o.dir}: \`slipway prune\` removes old releases; old backups and logs are the other usual suspects`;
  if (free < failBelow) return result('disk space', 'fail', `${detail}: below ${formatBytes(failBelow)}, updates and backups will fail`, fix);
  if (free < warnBelow) return result('disk space', 'warn', `${detail}: below ${formatBytes(warnBelow)}`, fix);
  return result('disk space', 'ok', detail);
}

// ---- node ----

export const MIN_NODE_MAJOR = 20;

export function checkNodeVersion(version: string = process.versions.node): DoctorCheck {
  const major = Number(/^v?(\d+)/.exec(version)?.[1] ?? NaN);
  if (!(major >= MIN_NODE_MAJOR)) {
    return result('node', 'fail', `Node ${version}; slipway needs ${MIN_NODE_MAJOR} or newer`, `install Node ${MIN_NODE_MAJOR} LTS or newer (https://nodejs.org, or your distribution's nodejs package) and run slipway with it`);
  }
  return result('node', 'ok', `Node ${version}`);
}

// ---- clock ----

/** Beyond this the store may refuse signed requests (S3 allows 15 minutes) and backup times mislead. */
export const CLOCK_SKEW_FAIL_MS = 5 * 60_000;
export const CLOCK_SKEW_WARN_MS = 30_000;

/** The offset of a server's clock from ours, from the Date header of a HEAD request (1 s resolution). */
export async function measureClockSkew(url: string, timeoutMs = 5_000): Promise<number> {
  const sent = Date.now();
  const answer = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  const received = Date.now();
  const date = answer.headers.get('date');
  if (!date || Number.isNaN(Date.parse(date))) throw new Error(`${url} sent no Date header`);
  return Date.parse(date) - (sent + received) / 2;
}

/** The remote clock to compare with: an S3 store's endpoint. A local store has none. */
export async function checkClockSkew(o: { store: StoreConfig; timeoutMs?: number }): Promise<DoctorCheck> {
  const name = 'clock';
  if (o.store.type !== 's3') return result(name, 'skip', 'the store is a local folder: no remote clock to compare with (keep NTP running: `timedatectl status`)');
  const url = o.store.endpoint ?? `https://s3.${o.store.region ?? 'us-east-1'}.amazonaws.com`;
  let skew: number;
  try {
    skew = await measureClockSkew(url, o.timeoutMs);
  } catch (error) {
    return result(name, 'warn', `cannot read the time of ${url}: ${errorText(error)}`, 'check the store check below; the clock is compared with the store\'s');
  }
  const seconds = Math.round(Math.abs(skew) / 1000);
  const detail = `this machine's clock is ${seconds} s ${skew > 0 ? 'behind' : 'ahead of'} ${url}`;
  const fix = 'synchronize the clock: enable NTP (`timedatectl set-ntp true`, or chrony/systemd-timesyncd)';
  if (Math.abs(skew) > CLOCK_SKEW_FAIL_MS) return result(name, 'fail', detail, fix);
  if (Math.abs(skew) > CLOCK_SKEW_WARN_MS) return result(name, 'warn', detail, fix);
  return result(name, 'ok', `within ${Math.max(1, seconds)} s of ${url}`);
}
