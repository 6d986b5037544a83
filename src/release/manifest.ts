/**
 * The release manifest: what a release is, file by file. A release's id is the
 * sha256 of the manifest's canonical JSON, so the id pins every byte of the release.
 */
import { fileEntryProblems, isPlainRelativePath, soundEntryFolders } from './manifest-files.js';
import { rememberManifestFolders } from './manifest-folders.js';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PIPELINE_STEPS, type ConfigKeyConfig, type DataConfig, type HookConfig, type MigrateConfig, type ServiceConfig } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import { NAME_PATTERN } from '../config/schema-fields.js';

export interface ManifestFile {
  /** posix path relative to the release root */
  path: string;
  sha256: string;
  /** 0o644 or 0o755: only the owner's exec bit is kept */
  mode: number;
  size: number;
}

/**
 * A symbolic link kept as a link: its target text is part of the release (and so of
 * its id and signature); what lies behind the target is not. slipway never follows
 * a link: it only creates it, reads its target text, and removes it.
 */
export interface ManifestLink {
  /** posix path relative to the release root */
  path: string;
  /** the link's target, as readlink returns it */
  target: string;
}

/**
 * What a host needs from slipway.yml to run the release, frozen at build time so that the
 * release runs the same everywhere it is deployed.
 */
export interface ReleaseRuntime {
  services: ServiceConfig[];
  data: DataConfig;
  migrate: MigrateConfig | null;
  hooks: HookConfig[];
  /** the app's config keys (names, defaults, which are secret); values never go in a release */
  config: ConfigKeyConfig[];
  /**
   * The accessories' images the build machine held, pinned like a service's image: a host loads
   * the ones its engine lacks from the store and tags each with its reference, never starts one.
   * Absent when there are none, so releases built before keep their ids.
   */
  accessoryImages?: AccessoryImage[];
}

/** An accessory's image (slipway.yml `accessories`) as a release carries it. */
export interface AccessoryImage {
  /** the accessory's name in slipway.yml */
  name: string;
  /** the reference slipway.yml names (`postgres:16`, never a digest): the host tags the image with it */
  reference: string;
  /** the image id (sha256 of its config), which pins every layer */
  id: string;
  /** diff ids (bottom first) and sizes of the uncompressed layers */
  layers: { sha256: string; size: number }[];
}

/** A reference a host can tag an image with: `name[:tag]`, lowercase, no digest (slipway.yml's own rule, less `@sha256:`). */
export const TAG_REFERENCE = /^[a-z0-9][a-z0-9._\/:-]*$/;

export interface ReleaseManifest {
  schema: 1;
  app: string;
  version: string;
  commit: string;
  /** commit message: subject and body */
  message: string;
  /** commit date, ISO 8601 (UTC) */
  date: string;
  dirty: boolean;
  notes: string;
  requiredConfig: string[];
  migrates: boolean;
  runtime: ReleaseRuntime;
  /** sorted by path */
  files: ManifestFile[];
  /**
   * Symbolic links, sorted by path. Absent (not an empty array) when the release has
   * none, so releases built before links were supported keep their ids.
   */
  links?: ManifestLink[];
  /**
   * slipway.yml `upgrade.from`: the version range a host must run to update to this
   * release directly (src/util/version.ts). Absent (not undefined-valued) when the
   * project declares none, so older releases keep their ids.
   */
  upgradeFrom?: string;
}

/** Versions end up in file names and CLI arguments, so they are kept to a safe alphabet. */
export const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}$/;

/** Normalizes a file mode to what a release keeps: executable by the owner or not. */
export function normalizeMode(mode: number): 0o644 | 0o755 {
  return mode & 0o100 ? 0o755 : 0o644;
}

/** The one ordering used for manifest files and canonical JSON keys (UTF-16 code units, like Array.prototype.sort). */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Why a path may not appear in a release, or undefined when it is a safe relative posix path. */
export function unsafePathReason(p: string): string | undefined {
  if (isPlainRelativePath(p)) return undefined;
  if (p.length === 0) return 'empty path';
  if (p.length > 4096) return 'path longer than 4096 characters';
  // Folder checks are per prefix: a bound on depth keeps hostile manifests from costing quadratic time.
  if (p.split('/').length > 256) return 'path deeper than 255 folders';
  if (p.includes('\0')) return 'path contains a NUL byte';
  if (p.includes('\\')) return 'path contains a backslash';
  if (p.startsWith('/')) return 'absolute path';
  if (/^[A-Za-z]:/.test(p)) return 'path starts with a drive letter';
  for (const segment of p.split('/')) {
    if (segment === '') return 'path has an empty segment';
    if (segment === '.') return "path has a '.' segment";
    if (segment === '..') return "path has a '..' segment";
  }
  return undefined;
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

const manifestFileSchema = z.strictObject({
  path: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters'),
  mode: z.union([z.literal(0o644), z.literal(0o755)]),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});

const manifestLinkSchema = z.strictObject({
  path: z.string(),
  target: z
    .string()
    .min(1, 'a link needs a target')
    .max(4096, 'a link target is at most 4096 characters')
    .refine((t) => !t.includes('\0'), 'a link target cannot hold a NUL byte'),
});

const relativePath = z.string().refine((p) => unsafePathReason(p) === undefined, 'must be a relative path without . or .. segments');
const durationMs = z.number().int().nonnegative();

const imageId = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be an image id like sha256:<64 hex>');
const imageLayers = z.array(z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }));

const runtimeSchema = z.strictObject({
  services: z.array(
    z.strictObject({
      name: z.string().min(1),
      command: z.string().min(1).optional(),
      portEnv: z.string().min(1),
      env: z.record(z.string(), z.string()),
      health: z.strictObject({
        path: z.string().startsWith('/'),
        intervalMs: durationMs,
        timeoutMs: durationMs,
        successes: z.number().int().positive(),
        deadlineMs: durationMs,
        http: z.literal(false).optional(),
      }),
      container: z
        .union([
          z.strictObject({
            build: z.strictObject({ context: z.string().min(1), dockerfile: z.string().min(1), target: z.string().min(1).optional(), args: z.record(z.string(), z.string()) }),
          }),
          z.strictObject({ image: z.string().min(1) }),
        ])
        .optional(),
      image: z
        .strictObject({
          id: imageId,
          layers: imageLayers,
          source: z.string().min(1),
          digest: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional(),
        })
        .optional(),
    }),
  ),
  data: z.strictObject({
    databases: z.array(
      z.union([
        z.strictObject({ name: z.string().min(1), engine: z.literal('sqlite'), path: relativePath }),
        z.strictObject({ name: z.string().min(1), engine: z.enum(['postgres', 'mysql']), urlEnv: z.string().min(1), accessory: z.string().min(1).optional() }),
      ]),
    ),
    folders: z.array(relativePath),
    // absent in releases of projects without seeded folders (their ids stay the same)
    seed: z.array(relativePath).optional(),
  }),
  migrate: z.strictObject({ command: z.string().min(1), reversible: z.boolean(), timeoutMs: durationMs }).nullable(),
  hooks: z.array(z.strictObject({ when: z.enum(['before', 'after']), step: z.enum(PIPELINE_STEPS), commands: z.array(z.string()) })),
  config: z.array(
    z.strictObject({
      name: z.string().min(1),
      required: z.boolean(),
      default: z.string().optional(),
      secret: z.boolean(),
      description: z.string().optional(),
    }),
  ),
  accessoryImages: z
    .array(
      z.strictObject({
        name: z.string().regex(NAME_PATTERN, 'must be an accessory name'),
        reference: z.string().max(255).regex(TAG_REFERENCE, 'must be an image reference like postgres:16'),
        id: imageId,
        layers: imageLayers,
      }),
    )
    .optional(),
});

const manifestSchema = z.strictObject({
  schema: z.literal(1),
  app: z.string().min(1),
  version: z.string().regex(VERSION_PATTERN, 'must be letters, digits and . _ + - (at most 128)'),
  commit: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'must be a full git commit id'),
  message: z.string(),
  date: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO date'),
  dirty: z.boolean(),
  notes: z.string(),
  requiredConfig: z.array(z.string().min(1)),
  migrates: z.boolean(),
  runtime: runtimeSchema,
  files: z.array(manifestFileSchema),
  links: z.array(manifestLinkSchema).optional(),
  upgradeFrom: z.string().min(1).optional(),
});

function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort(comparePaths)) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = canonicalize(item);
    }
    return out;
  }
  return value;
}

function canonicalJsonBytes(value: unknown): Buffer {
  // JSON.stringify keeps insertion order, and canonicalize inserted keys sorted.
  return Buffer.from(JSON.stringify(canonicalize(value)), 'utf8');
}

/** Canonical JSON: keys sorted at every level, no whitespace, UTF-8. */
export function canonicalManifestBytes(m: ReleaseManifest): Buffer {
  return canonicalJsonBytes(m);
}

/** The release id: sha256 (hex) of the canonical manifest bytes. */
export function releaseIdOf(m: ReleaseManifest): string {
  return sha256Hex(canonicalManifestBytes(m));
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function invalid(message: string, details: string[] = []): SlipwayError {
  return new SlipwayError('RELEASE_MANIFEST_INVALID', message, {
    details,
    hint: 'The release is damaged or was not made by slipway; build it again with `slipway build`.',
  });
}

/**
 * Problems in the file and link lists: unsafe or duplicate paths, wrong order, a path
 * that is both a file (or link) and a folder. The last rule is what makes writing
 * through a link impossible: no entry of a release ever lies under one of its links.
 */
function entryListProblems(manifest: ReleaseManifest): string[] {
  const files = manifest.files;
  const links = manifest.links ?? [];
  // A sound list (every release slipway builds) is seen to be so in one quick pass, which gathers its
  // folders on the way (kept for the install); the rest is for saying what is wrong.
  const folders = soundEntryFolders(files, links);
  if (folders !== null) {
    rememberManifestFolders(manifest, folders);
    return [];
  }
  const problems: string[] = [];
  const paths = new Set<string>();
  const check = (list: readonly { path: string }[], name: string) => {
    for (let i = 0; i < list.length; i++) {
      const p = list[i].path;
      const reason = unsafePathReason(p);
      if (reason) problems.push(`${name}[${i}].path ${JSON.stringify(p)}: ${reason}`);
      if (paths.has(p)) problems.push(`${name}[${i}].path ${JSON.stringify(p)}: duplicate`);
      else if (i > 0 && comparePaths(list[i - 1].path, p) > 0) problems.push(`${name}[${i}].path ${JSON.stringify(p)}: ${name} are not sorted by path`);
      paths.add(p);
    }
  };
  check(files, 'files');
  check(links, 'links');
  // Unsafe paths are refused already; the folder check below assumes bounded depth.
  if (problems.length > 0) return problems;
  const linkPaths = new Set(links.map((l) => l.path));
  for (const p of paths) {
    for (let end = p.indexOf('/'); end !== -1; end = p.indexOf('/', end + 1)) {
      const folder = p.slice(0, end);
      if (linkPaths.has(folder)) problems.push(`${JSON.stringify(p)} lies under the link ${JSON.stringify(folder)}`);
      else if (paths.has(folder)) problems.push(`${JSON.stringify(folder)} is both a file and a folder`);
    }
  }
  return problems;
}

/** Whether a link's target leaves the release (absolute, or climbing above the root): the host must provide what it points at. */
export function linkLeavesRelease(link: ManifestLink): boolean {
  if (link.target.startsWith('/')) return true;
  const parts = link.path.split('/').slice(0, -1);
  for (const segment of link.target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (parts.length === 0) return true;
      parts.pop();
    } else parts.push(segment);
  }
  return false;
}

/** The digest of `raw`'s canonical bytes, or null when it nests too deeply to canonicalize (no manifest does). */
function canonicalDigestOrNull(raw: unknown): string | null {
  try {
    return sha256Hex(canonicalJsonBytes(raw));
  } catch (error) {
    if (error instanceof RangeError) return null;
    throw error;
  }
}

/**
 * Parses and validates a manifest. With `expectedId`, the manifest's digest must equal it
 * (checked first, so any change to a manifest fetched by id reads as tampering).
 */
export function parseManifest(bytes: Buffer | string, expectedId?: string, options: { entriesCheckedBefore?: boolean } = {}): ReleaseManifest {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
  let raw: unknown;
  let jsonError: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    jsonError = error;
  }
  // Bytes whose own digest is the id are the very bytes it was made of (slipway stores the canonical
  // form): nothing to canonicalize. Any other bytes are canonicalized first, as the id was.
  const textDigest = expectedId === undefined ? '' : sha256Hex(typeof bytes === 'string' ? Buffer.from(text, 'utf8') : bytes);
  if (expectedId !== undefined && textDigest !== expectedId) {
    const actual = jsonError === undefined ? canonicalDigestOrNull(raw) ?? textDigest : textDigest;
    if (actual !== expectedId) {
      throw new SlipwayError('RELEASE_MANIFEST_TAMPERED', `The manifest of release ${shortId(expectedId)} does not match its id (its digest is ${shortId(actual)}).`, {
        hint: 'The release was changed after it was built. Do not deploy it; build or publish it again from the commit.',
      });
    }
  }
  if (jsonError !== undefined) throw invalid('The release manifest is not valid JSON.', [String((jsonError as Error).message)]);
  // Bytes this host checked in full before it kept them, unchanged since (their digest is the id), need
  // no second look at their 50,000 entries: the same bytes get the same verdict. The rest is small.
  const entriesKnownGood = options.entriesCheckedBefore === true && textDigest === expectedId;
  // The file list is checked by hand (fileEntryProblems); the schema checks the rest.
  const files = raw !== null && typeof raw === 'object' ? (raw as { files?: unknown }).files : undefined;
  const fileProblems = entriesKnownGood && Array.isArray(files) ? [] : fileEntryProblems(files);
  const result = manifestSchema.safeParse(fileProblems === null ? raw : { ...(raw as object), files: [] });
  if (!result.success || (fileProblems !== null && fileProblems.length > 0)) {
    throw invalid('The release manifest is not valid.', [
      ...(result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)),
      ...(fileProblems ?? []),
    ]);
  }
  const manifest = (fileProblems === null ? result.data : { ...result.data, files }) as ReleaseManifest;
  const problems = entriesKnownGood ? [] : entryListProblems(manifest);
  if (problems.length > 0) throw invalid('The release manifest lists unsafe file paths.', problems);
  return manifest;
}
