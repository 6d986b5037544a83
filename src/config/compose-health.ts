/**
 * A compose `healthcheck` as slipway's HTTP health check: a check that fetches a URL
 * (curl, wget, a script given the URL) gives its path; anything else is a finding.
 */
import type { MappingContext, ServiceDraft } from './compose-draft.js';
import { isRecord } from './compose-source.js';
import type { PathSegment } from './yaml-source.js';

/** Milliseconds of a compose duration like 30s, 1m30s, 500ms; undefined when unreadable. */
export function composeDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return value / 1e6; // a bare number is nanoseconds
  if (typeof value !== 'string' || !/^(\d+(\.\d+)?(h|m|s|ms|us))+$/.test(value.trim())) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  let total = 0;
  for (const match of value.trim().matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)) total += Number(match[1]) * unit[match[2]!]!;
  return total;
}

/** A slipway duration (one unit) for milliseconds. */
export function slipwayDuration(ms: number): string {
  const rounded = Math.max(1, Math.round(ms));
  if (rounded % 60_000 === 0) return `${rounded / 60_000}m`;
  if (rounded % 1000 === 0) return `${rounded / 1000}s`;
  return `${rounded}ms`;
}

/** The command line a healthcheck's test runs, or null when it is disabled. */
function testLine(test: unknown): string | null | undefined {
  if (typeof test === 'string') return test;
  if (!Array.isArray(test) || test.length === 0) return undefined;
  const [kind, ...rest] = test.map(String);
  if (kind === 'NONE') return null;
  if (kind === 'CMD' || kind === 'CMD-SHELL') return rest.join(' ');
  return test.map(String).join(' ');
}

export function healthFrom(ctx: MappingContext, healthcheck: unknown, at: PathSegment[]): ServiceDraft['health'] | undefined {
  if (!isRecord(healthcheck)) return undefined;
  if (healthcheck.disable === true) {
    ctx.findings.at([...at, 'disable'], 'disabled in the compose file, but slipway checks every service over HTTP (GET /healthz by default) before it gets traffic');
    return undefined;
  }
  const line = testLine(healthcheck.test);
  if (line === null) {
    ctx.findings.at([...at, 'test'], 'disabled in the compose file, but slipway checks every service over HTTP (GET /healthz by default) before it gets traffic');
    return undefined;
  }
  const url = line === undefined ? undefined : /https?:\/\/[^\s'"]+/.exec(line)?.[0];
  let pathAndQuery: string | undefined;
  try {
    if (url !== undefined) {
      const parsed = new URL(url);
      pathAndQuery = `${parsed.pathname}${parsed.search}`;
    }
  } catch {
    pathAndQuery = undefined;
  }
  if (pathAndQuery === undefined) {
    ctx.findings.at([...at, 'test'], 'not mapped: not an HTTP check; slipway checks a service with GET on health.path (default /healthz) and a 2xx answer', 'value');
    return undefined;
  }
  const health: ServiceDraft['health'] = { path: pathAndQuery };
  const timeout = composeDuration(healthcheck.timeout);
  if (timeout !== undefined) health.timeout = slipwayDuration(timeout);
  const startPeriod = composeDuration(healthcheck.start_period);
  if (startPeriod !== undefined && startPeriod > 30_000) health.deadline = slipwayDuration(startPeriod);
  if (healthcheck.interval !== undefined || healthcheck.retries !== undefined) {
    ctx.findings.at([...at, healthcheck.interval !== undefined ? 'interval' : 'retries'], 'not mapped: while a release starts slipway checks every 500ms and needs 2 healthy answers in a row (health.interval, health.successes)');
  }
  return health;
}
