import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { parseManifest, shortId, type ReleaseManifest } from '../release/manifest.js';
import { parseReleaseSignature, releaseWrongApp, verifyReleaseSignature } from '../release/sign.js';
import { readCheckedReleaseManifest, readReleaseSignature } from '../store/releases.js';
import type { StatSnapshot } from '../release/verify-tree.js';
import { assembleRelease, type AssembleResult } from './assemble-release.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Ledger } from './ledger.js';
import { releaseDir, type HostLayout } from './layout.js';
import { linkSharedPaths, sharedPaths } from './shared-links.js';
import { assembleFromPrepared } from './assemble-delta.js';
import { findPreparedBase, removePreparedRelease } from './prepared-release.js';
import { removeReadOnlyFolder as removeReleaseFolder } from './remove-folder.js';
import { listHostObjects } from './objects.js';
import { startInstallWorkers, type InstallWorkers } from './install-workers.js';
import { adoptPendingObjects, markObjectsPending, pendingObjectsMarker } from './pending-objects.js';
import { filesBytes } from '../release/manifest-size.js';

export interface SignaturePolicy {
  required: boolean;
  publicKeysPem: string[];
}

/**
 * The manifest a host keeps for an installed release (manifests/<id>.json), verified against the id.
 * installRelease writes that file only after checking every entry of those very bytes, so bytes whose
 * digest is still the id skip the entry checks (a tenth of a second at 50,000 files, paid by every
 * deploy, rollback, status and verify).
 */
export async function readInstalledManifest(layout: HostLayout, id: string): Promise<ReleaseManifest | null> {
  const file = path.join(layout.manifestsDir, `${id}.json`);
  try {
    const held = await heldManifest(file);
    if (held) return held;
    const manifest = parseManifest(await fs.readFile(file), id, { entriesCheckedBefore: true });
    await holdManifest(file, manifest);
    return manifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Installed manifests already read (or just written) by this process, for as long as something
 * else keeps them: the agent's running releases do. A large release's manifest costs tens of
 * milliseconds to read each time, and every update reads the current release's. A held one is
 * used only while its file is the very file it was read from (same inode, size and time).
 */
const heldManifests = new Map<string, { file: string; manifest: WeakRef<ReleaseManifest> }>();

async function fileIdentity(file: string): Promise<string> {
  const stat = await fs.stat(file, { bigint: true });
  return `${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

async function heldManifest(file: string): Promise<ReleaseManifest | null> {
  const held = heldManifests.get(file);
  if (!held) return null;
  const manifest = held.manifest.deref();
  if (manifest && (await fileIdentity(file)) === held.file) return manifest;
  heldManifests.delete(file);
  return null;
}

async function holdManifest(file: string, manifest: ReleaseManifest): Promise<void> {
  for (const [key, held] of heldManifests) if (!held.manifest.deref()) heldManifests.delete(key);
  heldManifests.set(file, { file: await fileIdentity(file), manifest: new WeakRef(manifest) });
}

export async function isReleaseInstalled(layout: HostLayout, id: string): Promise<boolean> {
  const dir = await fs.stat(releaseDir(layout, id)).catch(() => null);
  return Boolean(dir?.isDirectory()) && (await readInstalledManifest(layout, id)) !== null;
}

export interface InstallProgress {
  (phase: 'fetch', doneBytes: number, totalBytes: number): void;
}

/** What an install moved and reused, for the step's output and the benchmarks. */
export type InstallResult = { manifest: ReleaseManifest; /** the version whose prepared copy the folder was made from */ preparedFrom?: string } & Pick<AssembleResult, 'fetchedObjects' | 'fetchedBytes' | 'reusedFiles'>;

/** Far above any real release; a manifest past them is refused before anything is fetched. */
const MAX_ENTRIES = 500_000;
const MAX_TOTAL_BYTES = 32 * 1024 ** 3;

/**
 * Fetches a release from the store, checks its digest and signature, brings in the
 * contents the host lacks (each checked against its digest), makes the release's
 * folder out of hard links to the host's objects, links the shared data paths, makes
 * it read-only and records it. Everything happens in a temporary folder renamed into
 * place at the end: refused releases leave nothing behind.
 */
export async function installRelease(options: {
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  app: string;
  id: string;
  signatures: SignaturePolicy;
  onProgress?: InstallProgress;
}): Promise<InstallResult> {
  const { layout, id } = options;
  if (await isReleaseInstalled(layout, id)) return { manifest: (await readInstalledManifest(layout, id))!, fetchedObjects: 0, fetchedBytes: 0, reusedFiles: 0 };
  // Started first: they take a few tens of milliseconds to be ready, and the prepared copy's check below needs them.
  const workers = startInstallWorkers();
  try {
    return await installWith(options, workers);
  } finally {
    await workers.close();
  }
}

async function installWith(options: Parameters<typeof installRelease>[0], workers: InstallWorkers): Promise<InstallResult> {
  const { layout, id } = options;
  // Contents an earlier install left unlinked (no health window ran since) become objects first, so
  // that this one finds them. Failing that only means fetching them again.
  await linkPendingObjects(layout).catch(() => 0);
  // A prepared copy of an installed release, with that release's manifest, is looked for and checked while the
  // manifest is fetched and checked (installs run under the host's lock).
  // Its first part is awaited: the manifest's check holds this thread for a while, and the copy's folders are stamped meanwhile.
  const preparedLookup = (await findPreparedBase(layout, (base) => readInstalledManifest(layout, base), workers).catch((error: unknown) => ({ verdict: Promise.reject(error) }))).verdict;
  preparedLookup.catch(() => undefined); // awaited below
  // So are the host's objects listed, unless there is a copy: it looks up only the contents it adds.
  const hostObjects = preparedLookup.then(
    (found) => (found ? undefined : listHostObjects(layout)),
    () => listHostObjects(layout),
  );
  let manifestBytes: Buffer;
  let manifest: ReleaseManifest;
  try {
    ({ manifestBytes, manifest } = await fetchCheckedManifest(options));
  } catch (error) {
    // The lookup may remove stale copies: it ends before the update (and its lock) does.
    await preparedLookup.catch(() => null);
    throw error;
  }
  // A lookup that failed (a copy that could not be removed, say) only means the folder is made from nothing.
  const prepared = await preparedLookup.catch(() => null);
  const dest = releaseDir(layout, id);
  // A folder left by a crash before the manifest was recorded is not trusted: make it again.
  await removeReleaseFolder(dest);
  // So are the temporary folders of installs a crash cut short (installs run under the host's lock, one at a time).
  for (const name of await fs.readdir(layout.releasesDir).catch(() => [] as string[])) {
    if (/\.tmp-[0-9a-f]+$/.test(name)) await removeReleaseFolder(path.join(layout.releasesDir, name));
  }
  await fs.mkdir(layout.manifestsDir, { recursive: true });
  let assembled: AssembleResult | undefined;
  let preparedFrom: string | undefined;
  // A host object found damaged (not the size its content has) is removed and fetched again, once.
  for (let attempt = 1; attempt <= 2 && !assembled; attempt++) {
    const tmp = `${dest}.tmp-${randomBytes(6).toString('hex')}`;
    // The first attempt changes the prepared copy of an installed release in place, when there is one that is as it was made.
    const base = attempt === 1 ? prepared : null;
    const dir = base?.dir ?? tmp;
    const inputs = (at: string) => ({
      layout,
      store: options.store,
      app: options.app,
      id,
      manifest,
      dir: at,
      snapshotFile: statSnapshotFile(layout, id),
      sharedPaths: sharedPaths(manifest.runtime.data),
      beforeReadOnly: () => linkSharedPaths({ releaseDir: at, sharedDir: layout.sharedDir, data: manifest.runtime.data }),
      onProgress: (done: number, total: number) => options.onProgress?.('fetch', done, total),
      // A second attempt lists again: the first removed the objects it found damaged.
      hostObjects: attempt === 1 ? () => hostObjects.then((listed) => listed ?? listHostObjects(layout)) : () => listHostObjects(layout),
      workers,
    });
    try {
      let result: AssembleResult;
      if (base) {
        result = await assembleFromPrepared({ ...inputs(base.dir), base });
      } else {
        await fs.mkdir(tmp, { mode: 0o700 });
        // Its files become objects later (pending-objects.ts): one link per file the deploy need not wait for.
        result = await assembleRelease({ ...inputs(tmp), deferObjects: true });
        if (result.damaged.length === 0) await markObjectsPending(layout, id);
      }
      if (result.damaged.length > 0 && attempt === 1) {
        for (const file of result.damaged) await fs.rm(file, { force: true });
        await removeReleaseFolder(dir);
        continue;
      }
      if (result.damaged.length > 0) throw damagedObjects(result.damaged);
      await fs.rename(dir, dest);
      assembled = result;
      preparedFrom = base?.manifest.version;
    } catch (error) {
      await removeReleaseFolder(dir);
      // Objects written for a release that is then refused are taken back: it leaves nothing behind.
      for (const file of (error as { written?: string[] }).written ?? []) await fs.rm(file, { force: true });
      throw error;
    } finally {
      // A copy that was used (or tried) is gone, and so is its record.
      if (base) await removePreparedRelease(layout, base.id);
    }
  }
  const manifestFile = path.join(layout.manifestsDir, `${id}.json`);
  await fs.writeFile(manifestFile, manifestBytes);
  await holdManifest(manifestFile, manifest);
  options.ledger.recordRelease({ id, version: manifest.version, commit: manifest.commit });
  return { manifest, fetchedObjects: assembled!.fetchedObjects, fetchedBytes: assembled!.fetchedBytes, reusedFiles: assembled!.reusedFiles, ...(preparedFrom ? { preparedFrom } : {}) };
}

/** The release's manifest from the store, checked against its id, app, signature and size limits before any content is fetched. */
async function fetchCheckedManifest(options: { store: BlobStore; app: string; id: string; signatures: SignaturePolicy }): Promise<{ manifestBytes: Buffer; manifest: ReleaseManifest }> {
  const { id } = options;
  const { manifestBytes, manifest } = await readCheckedReleaseManifest(options.store, options.app, id);
  if (manifest.app !== options.app) throw releaseWrongApp({ id, expected: options.app, actual: manifest.app, where: 'this host' });
  if (options.signatures.required) {
    const signature = await readReleaseSignature(options.store, options.app, id);
    verifyReleaseSignature({ app: manifest.app, version: manifest.version, id }, signature ? parseReleaseSignature(signature) : null, options.signatures.publicKeysPem);
  }
  const entries = manifest.files.length + (manifest.links?.length ?? 0);
  const totalBytes = filesBytes(manifest.files);
  if (entries > MAX_ENTRIES || totalBytes > MAX_TOTAL_BYTES) {
    throw new SlipwayError('RELEASE_TOO_LARGE', `release ${shortId(id)} has ${entries} entries and ${totalBytes} bytes, more than a host accepts (${MAX_ENTRIES} entries, ${MAX_TOTAL_BYTES} bytes)`, {
      hint: 'nothing was fetched; leave build output the app does not need out of the release (build.exclude in slipway.yml)',
    });
  }
  return { manifestBytes, manifest };
}

/** Links the contents installs left unlinked in as the host's objects (pending-objects.ts); answers how many releases it did. */
export function linkPendingObjects(layout: HostLayout): Promise<number> {
  return adoptPendingObjects(layout, { manifestOf: (id) => readInstalledManifest(layout, id), snapshotOf: (id) => readStatSnapshot(layout, id) });
}

/** The stat snapshot of an installed release, or null (installed before snapshots, or unreadable: then verify re-hashes all). */
export async function readStatSnapshot(layout: HostLayout, id: string): Promise<StatSnapshot | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(statSnapshotFile(layout, id), 'utf8')) as unknown;
    return Array.isArray(parsed) ? (parsed as StatSnapshot) : null;
  } catch {
    return null;
  }
}

/** manifests/<id>.stat.json: what each file looked like when installed (inode, size, time), for a fast verify. */
export function statSnapshotFile(layout: HostLayout, id: string): string {
  return path.join(layout.manifestsDir, `${id}.stat.json`);
}

function damagedObjects(files: string[]): SlipwayError {
  return new SlipwayError('HOST_OBJECTS_DAMAGED', `${files.length} file content(s) kept on this host are damaged and could not be repaired (e.g. ${files[0]})`, {
    hint: 'something on the host changes slipway\'s objects folder; check the disk, then deploy again',
  });
}

/** Makes an installed release's folder writable again so that it can be removed (prune). */
export async function removeInstalledRelease(layout: HostLayout, ledger: Ledger, id: string): Promise<void> {
  // Its contents stay on the host as objects, like every release's, until no release needs them (prune collects them).
  if (await fs.access(pendingObjectsMarker(layout, id)).then(() => true, () => false)) await linkPendingObjects(layout).catch(() => 0);
  await removeReleaseFolder(releaseDir(layout, id));
  await removePreparedRelease(layout, id);
  await fs.rm(pendingObjectsMarker(layout, id), { force: true });
  await fs.rm(path.join(layout.manifestsDir, `${id}.json`), { force: true });
  await fs.rm(statSnapshotFile(layout, id), { force: true });
  ledger.removeRelease(id);
}

export function releaseNotFoundOnHost(versionOrId: string, known: string[]): SlipwayError {
  return new SlipwayError('RELEASE_NOT_ON_HOST', `release ${versionOrId.length === 64 ? shortId(versionOrId) : versionOrId} is not on this host`, {
    exitCode: 2,
    hint: known.length > 0 ? `releases on this host: ${known.join(', ')}` : 'deploy it first with `slipway deploy`',
  });
}
