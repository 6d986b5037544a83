import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { usageError } from '../errors.js';
import { buildRelease } from '../release/build.js';
import { readSigningKeyFile } from '../release/sign.js';
import { isWorkTreeDirty, resolveCommit, tagAt } from '../release/git.js';
import { shortId } from '../release/manifest.js';
import type { BlobStore } from '../store/blob-store.js';
import { readChannel, writeChannel } from '../store/channels.js';
import { listReleases, type ReleaseInfo } from '../store/releases.js';
import { describeBuilt, storeBuiltRelease } from './built-release.js';
import { describeImages, knownObjectsOf, storeBuiltImages, storeIndexForImages } from './build.js';
import { phaseProgress } from './progress.js';
import { checkSignaturePolicy } from '../store/channel-policy.js';
import { expiresAt, newPointer, openEnvironmentStore, pointerSigningKey } from './channel.js';
import { formatBytes } from '../util/format.js';
import { publishReleaseImages } from '../host/push-images.js';
import { printable } from '../util/terminal-text.js';
import { removeTemporaryFolder } from '../util/remove-later.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface PublishOptions {
  args: string[];
  ref?: string;
  version?: string;
  reason?: string;
  key?: string;
  expires?: string;
  json?: boolean;
  config?: string;
}

/**
 * `slipway publish <env>`: makes sure the release of a commit is in the
 * environment's store (building it when it is not) and points the
 * environment's channel at it. Agents in pull mode follow the pointer.
 */
export default async function publish(options: PublishOptions, ctx: CliContext): Promise<CommandResult> {
  const { project, environment, store } = await openEnvironmentStore({ config: options.config, env: options.args[0] }, ctx);
  const app = project.config.app;
  const ref = options.ref ?? 'HEAD';
  const expires = expiresAt(options.expires);
  // The key that signs the channel pointer, checked before anything is built or stored.
  const pointerKeyPem = await pointerSigningKey(ctx, project, environment, options.key);

  let release = await findPublished(store, { app, repoDir: project.dir, ref, version: options.version });
  const built = !release;
  if (!release) {
    const keyPath = options.key ? path.resolve(ctx.cwd, options.key) : project.config.signing.key ? path.resolve(project.dir, project.config.signing.key) : undefined;
    if (!keyPath && environment.requireSignature) {
      throw usageError('SIGNING_KEY_REQUIRED', `${environment.name} requires signed releases, and no signing key is configured`, {
        hint: 'set signing.key in slipway.yml or pass --key <path> (make a pair with `slipway keys generate`)',
      });
    }
    const signingKey = keyPath ? { privateKeyPem: await readSigningKeyFile(keyPath) } : undefined;
    const outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-publish-'));
    let entries = 0;
    try {
      ctx.progress(`building ${app} at ${ref}`);
      const index = await storeIndexForImages(store, project);
      const result = await buildRelease({
        project,
        ref,
        version: options.version,
        outDir,
        signingKey,
        onOutput: (line) => ctx.progress(`  | ${line}`),
        onHashProgress: phaseProgress(ctx, 'hashing', 'files'),
        knownObjects: knownObjectsOf(index),
      });
      entries = result.manifest.files.length;
      ctx.progress(`storing ${printable(result.manifest.version)} (${shortId(result.id)}) in ${store.description}`);
      // The images go in before the release: a listed release has them.
      const images = await storeBuiltImages(ctx, store, app, result, index);
      const stored = await storeBuiltRelease(ctx, store, app, result);
      const lines = describeBuilt(result, stored, store);
      lines.splice(4, 0, ...describeImages(result, images));
      for (const line of lines.slice(1)) ctx.progress(line);
      release = stored.info;
    } finally {
      await removeTemporaryFolder(outDir, entries);
    }
  } else {
    // What the store says of a release is shown with control characters escaped.
    ctx.progress(`${printable(release.version)} (${shortId(release.id)}) is already in ${store.description}`);
  }
  checkSignaturePolicy(environment, release);
  // An environment with a registry gets the images there before its channel moves: hosts pull them by digest.
  await publishReleaseImages({ store, app, releaseId: release.id, environment, onProgress: (line) => ctx.progress(line) });

  const before = await readChannel(store, app, environment.name);
  const moved = before?.releaseId !== release.id;
  if (moved) {
    await writeChannel(store, app, newPointer(ctx, { environment: environment.name, release, why: options.reason ?? `publish ${release.version}`, expires }), { signingKeyPem: pointerKeyPem });
  }
  if (options.json) {
    return jsonOutput({ id: release.id, version: release.version, commit: release.commit, environment: environment.name, built, moved, previous: before ? { releaseId: before.releaseId, version: before.version } : null });
  }
  const version = printable(release.version);
  const lines = [
    moved
      ? `published ${app} ${version} (${shortId(release.id)}) to ${environment.name}${before ? ` (was ${printable(before.version)})` : ''}`
      : `${environment.name} already points to ${version} (${shortId(release.id)}); nothing to move`,
    `  commit   ${printable(release.commit)}`,
    `  stored   ${formatBytes(release.size)}${built ? '' : ' (already in the store)'}`,
    `  store    ${store.description}`,
  ];
  if (moved && environment.management) lines.push(`agents pick it up at their next poll; \`slipway notify ${environment.name}\` tells them now`);
  return { stdout: lines.join('\n') };
}

/**
 * The release of `ref` already in the store, if any: same commit and the
 * version a build would give it. Dirty work trees always build (and refuse).
 */
async function findPublished(store: BlobStore, o: { app: string; repoDir: string; ref: string; version?: string }): Promise<ReleaseInfo | null> {
  if (o.ref === 'HEAD' && (await isWorkTreeDirty(o.repoDir))) return null;
  const commit = await resolveCommit(o.repoDir, o.ref);
  const version = o.version ?? (await tagAt(o.repoDir, commit)) ?? commit.slice(0, 7);
  const matches = (await listReleases(store, o.app)).filter((r) => r.commit === commit && r.version === version);
  return matches.at(-1) ?? null;
}
