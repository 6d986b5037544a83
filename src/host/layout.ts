/**
 * Where a host keeps its state on disk (DESIGN.md, "Concepts": host). Every other
 * host module takes a HostLayout rather than building paths itself.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { privateRuntimeDir, slipwayHome } from '../paths.js';

export interface HostLayout {
  root: string;
  /** releases/<id>/: unpacked, read-only releases */
  releasesDir: string;
  /** persistent data and the env file, linked into each release */
  sharedDir: string;
  backupsDir: string;
  manifestsDir: string;
  /** objects/<2 hex>/<digest>[.x]: every file content of the installed releases, once; release files are hard links to these */
  objectsDir: string;
  /** copies of what never changes in the store (pack indexes) */
  cacheDir: string;
  logsDir: string;
  /** runtime files of the agent (socket, pid/info): owner only */
  runDir: string;
  /** symlink to releases/<id> of the active release */
  currentLink: string;
  ledgerFile: string;
  journalFile: string;
  lockFile: string;
  agentSocket: string;
  agentInfoFile: string;
  envFile: string;
  /** tls/: the ACME account key and tls/<domain>/ certificates obtained automatically (keys 0600): owner only */
  tlsDir: string;
}

/**
 * A unix socket path must fit in sockaddr_un.sun_path: 108 bytes on Linux, 104 on
 * macOS and the BSDs, terminating NUL included. Longer paths fail at listen() with
 * EINVAL/ENAMETOOLONG, and host roots under a deep $SLIPWAY_HOME (CI temp folders)
 * easily exceed that.
 */
const SOCKET_PATH_LIMIT = process.platform === 'linux' ? 108 : 104;

/** A release id becomes a folder name, so it must be one plain path segment. */
const RELEASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function hostLayout(root: string): HostLayout {
  const absoluteRoot = path.resolve(root);
  const at = (...parts: string[]): string => path.join(absoluteRoot, ...parts);
  const runDir = at('run');
  const sharedDir = at('shared');
  return {
    root: absoluteRoot,
    releasesDir: at('releases'),
    sharedDir,
    backupsDir: at('backups'),
    manifestsDir: at('manifests'),
    objectsDir: at('objects'),
    cacheDir: at('cache'),
    logsDir: at('logs'),
    runDir,
    currentLink: at('current'),
    ledgerFile: at('ledger.db'),
    journalFile: at('journal.jsonl'),
    lockFile: at('lock.json'),
    agentSocket: agentSocketPath(absoluteRoot, path.join(runDir, 'agent.sock')),
    agentInfoFile: path.join(runDir, 'agent.json'),
    envFile: path.join(sharedDir, '.env'),
    tlsDir: at('tls'),
  };
}

/**
 * run/agent.sock when it fits in sun_path; otherwise a name derived from the root in
 * this user's private runtime folder, so the CLI and the agent of the same host agree
 * on it without talking, and no other user can listen there first (the agent creates
 * the folder 0700 and checks it before listening: socket-trust.ts).
 */
function agentSocketPath(root: string, preferred: string): string {
  if (Buffer.byteLength(preferred) < SOCKET_PATH_LIMIT) return preferred;
  const digest = createHash('sha256').update(root).digest('hex').slice(0, 12);
  return path.join(privateRuntimeDir(), `${digest}.sock`);
}

/** $SLIPWAY_HOME/hosts/<app>/<env>: where a host on this machine keeps its state by default. */
export function defaultHostRoot(app: string, env: string): string {
  for (const [what, value] of [['app', app], ['environment', env]] as const) {
    if (!RELEASE_ID_PATTERN.test(value)) {
      throw new SlipwayError('HOST_NAME_INVALID', `The ${what} name "${value}" cannot be used as a folder name.`, {
        hint: 'Use lowercase letters, digits and - in app and environment names.',
        exitCode: 2,
      });
    }
  }
  return path.join(slipwayHome(), 'hosts', app, env);
}

/**
 * The host root's widest mode: other users of the machine see nothing inside it (the ledger,
 * logs, releases); the group may look. A root that is tighter (0700) stays so.
 */
export const HOST_ROOT_MODE = 0o750;

/** Folders of a host and their modes; run/ holds the agent socket, shared/ the secrets file, backups/ database dumps. */
function layoutFolders(layout: HostLayout): Array<{ dir: string; mode: number }> {
  return [
    { dir: layout.root, mode: HOST_ROOT_MODE },
    { dir: layout.releasesDir, mode: 0o755 },
    { dir: layout.sharedDir, mode: 0o750 },
    { dir: layout.backupsDir, mode: 0o700 },
    { dir: layout.manifestsDir, mode: 0o755 },
    { dir: layout.objectsDir, mode: 0o755 },
    { dir: layout.cacheDir, mode: 0o700 },
    { dir: layout.logsDir, mode: 0o750 },
    { dir: layout.runDir, mode: 0o700 },
    { dir: layout.tlsDir, mode: 0o700 },
  ];
}

/**
 * Creates every folder of the layout (mkdir -p) and sets its mode. The mode is set
 * explicitly, not only at mkdir, because the umask narrows it and an existing folder
 * keeps whatever it had.
 */
export async function ensureHostLayout(layout: HostLayout): Promise<void> {
  for (const { dir, mode } of layoutFolders(layout)) {
    try {
      await fs.mkdir(dir, { recursive: true, mode });
      const stat = await fs.stat(dir);
      const current = stat.mode & 0o777;
      // The root may be tighter than its mode (0700), never wider; every other folder gets its mode exactly.
      const wanted = dir === layout.root ? (current & mode) | 0o700 : mode;
      if (current !== wanted) await fs.chmod(dir, wanted);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A root made by an administrator (e.g. /srv/app owned by root, writable by us) may keep its own mode.
      if (dir === layout.root && code === 'EPERM') continue;
      throw new SlipwayError('HOST_LAYOUT_UNWRITABLE', `Cannot prepare the host folder ${dir}: ${(error as Error).message}`, {
        hint: `Check that ${layout.root} is a folder that the user running slipway owns and can write to.`,
        cause: error,
      });
    }
  }
}

/** releases/<id>: refuses ids that are not a single plain path segment, so an id never points outside releases/. */
export function releaseDir(layout: HostLayout, id: string): string {
  assertReleaseId(id);
  return path.join(layout.releasesDir, id);
}

export function isValidReleaseId(id: string): boolean {
  return RELEASE_ID_PATTERN.test(id);
}

export function assertReleaseId(id: string): void {
  if (!isValidReleaseId(id)) {
    throw new SlipwayError('HOST_RELEASE_ID_INVALID', `"${id}" is not a valid release id.`, {
      hint: 'Release ids are the sha256 digests shown by `slipway releases`.',
    });
  }
}
