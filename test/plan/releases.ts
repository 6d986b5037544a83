/** Manifests for the plan's unit tests: only the fields a plan reads differ between them. */
import { createHash } from 'node:crypto';
import type { ConfigKeyConfig } from '../../src/config/types.js';
import type { PlannedRelease } from '../../src/plan/plan.js';

export function release(o: {
  version: string;
  /** day of January 2025 of the commit */
  day: number;
  config?: ConfigKeyConfig[];
  upgradeFrom?: string;
  migrate?: { command: string; reversible: boolean } | null;
  notes?: string;
  bytes?: number;
}): PlannedRelease {
  return {
    id: createHash('sha256').update(o.version).digest('hex'),
    schema: 1,
    app: 'tiny',
    version: o.version,
    commit: 'c'.repeat(40),
    message: `tiny ${o.version}`,
    date: `2025-01-${String(o.day).padStart(2, '0')}T12:00:00.000Z`,
    dirty: false,
    notes: o.notes ?? `- what ${o.version} brings`,
    requiredConfig: (o.config ?? []).filter((k) => k.required).map((k) => k.name).sort(),
    migrates: Boolean(o.migrate),
    runtime: {
      services: [
        { name: 'web', command: 'node server.js', portEnv: 'PORT', env: {}, health: { path: '/healthz', intervalMs: 100, timeoutMs: 1000, successes: 1, deadlineMs: 10_000 } },
      ],
      data: { databases: [{ name: 'main', engine: 'sqlite', path: 'data/app.db' }], folders: ['uploads'] },
      migrate: o.migrate ? { ...o.migrate, timeoutMs: 60_000 } : null,
      hooks: [],
      config: o.config ?? [],
    },
    files: [{ path: 'server.js', sha256: 'a'.repeat(64), mode: 0o644, size: o.bytes ?? 1000 }],
    ...(o.upgradeFrom === undefined ? {} : { upgradeFrom: o.upgradeFrom }),
  };
}

export const key = (name: string, extra: Partial<ConfigKeyConfig> = {}): ConfigKeyConfig => ({ name, required: false, secret: false, ...extra });
