/** Releases made by hand for store and host tests: a manifest of given files and links, and a source of their contents. */
import { createHash } from 'node:crypto';
import type { ContentSource } from '../../src/release/content-source.js';
import type { ManifestLink, ReleaseManifest } from '../../src/release/manifest.js';

export const sha256Of = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** A valid manifest of `files` (path → content; `.sh` files executable) and `links`. */
export function manifestOf(app: string, version: string, files: Record<string, string>, links?: ManifestLink[]): ReleaseManifest {
  return {
    schema: 1,
    app,
    version,
    commit: sha256Of(version).slice(0, 40),
    message: version,
    date: '2026-01-01T00:00:00.000Z',
    dirty: false,
    notes: '',
    requiredConfig: [],
    migrates: false,
    runtime: { services: [], data: { databases: [], folders: [] }, migrate: null, hooks: [], config: [] },
    files: Object.keys(files)
      .sort()
      .map((p) => ({ path: p, sha256: sha256Of(files[p]!), mode: p.endsWith('.sh') ? 0o755 : 0o644, size: Buffer.byteLength(files[p]!) })),
    ...(links ? { links } : {}),
  };
}

/** The contents of `files`, by digest. */
export function contentsOf(files: Record<string, string>): ContentSource {
  const contents = new Map(Object.values(files).map((c) => [sha256Of(c), Buffer.from(c)]));
  return { read: async (digest) => contents.get(digest)! };
}
