import { SlipwayError } from '../errors.js';
import { nothingDeployed, readCurrent } from '../host/current-link.js';
import { readInstalledManifest } from '../host/install-release.js';
import { releaseDir } from '../host/layout.js';
import { sharedPaths } from '../host/shared-links.js';
import { readStatSnapshot } from '../host/install-release.js';
import { compareTree } from '../release/verify-tree.js';
import { phaseProgress } from './progress.js';
import { shortId } from '../release/manifest.js';
import { openEnvironment } from './environment.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface VerifyOptions {
  args: string[];
  full?: boolean;
  json?: boolean;
  config?: string;
}

/** Checks every file of the current release against its manifest: manual edits are reported, never kept silently. */
export default async function verify(options: VerifyOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const id = await readCurrent(opened.layout);
  if (!id) throw nothingDeployed({ environment: opened.environment.name });
  const manifest = await readInstalledManifest(opened.layout, id);
  if (!manifest) throw new SlipwayError('HOST_MANIFEST_MISSING', `the manifest of the current release ${shortId(id)} is missing on the host`, { hint: 'deploy the release again' });
  const linked = new Set(sharedPaths(manifest.runtime.data));
  const diff = await compareTree(releaseDir(opened.layout, id), manifest, {
    snapshot: options.full ? null : await readStatSnapshot(opened.layout, id),
    full: options.full,
    onProgress: phaseProgress(ctx, 'hashing', 'files'),
  });
  // The shared data links are the host's, not the release's.
  const added = diff.added.filter((p) => !linked.has(p));
  // A seeded folder's shipped files were copied into shared/ on the first deploy; the link stands in their place.
  const removed = diff.removed.filter((p) => !linked.has(p.split('/')[0]!));
  // Container services: the running containers must run the release's image, unchanged inside.
  const hasContainers = manifest.runtime.services.some((service) => service.image !== undefined);
  const containers = hasContainers
    ? await (await import('../runtime/container-drift.js')).containerDrift({ app: opened.project.config.app, environment: opened.environment.name, releaseId: id, manifest })
    : [];
  const report = {
    id,
    version: manifest.version,
    ok: diff.modified.length + added.length + removed.length + containers.length === 0,
    modified: diff.modified,
    added,
    removed,
    files: manifest.files.length,
    links: manifest.links?.length ?? 0,
    rehashed: diff.hashedFiles,
    ...(hasContainers ? { containers } : {}),
  };
  const exitCode = report.ok ? 0 : 1;
  if (options.json) return { ...jsonOutput(report), exitCode };
  if (report.ok) {
    const links = report.links > 0 ? ` and ${report.links} link${report.links === 1 ? '' : 's'}` : '';
    const how =
      report.rehashed === report.files
        ? 'every file re-hashed'
        : `${report.rehashed} re-hashed; the others are as they were at install, by inode, size and time: --full re-hashes every file`;
    const running = hasContainers ? '; its containers run the release\'s images, unchanged' : '';
    return { stdout: `${manifest.version} (${shortId(id)}): all ${report.files} files${links} match the manifest (${how})${running}` };
  }
  const lines = [`${manifest.version} (${shortId(id)}) does NOT match its manifest:`];
  for (const p of report.modified) lines.push(`  modified  ${p}`);
  for (const p of report.added) lines.push(`  added     ${p}`);
  for (const p of report.removed) lines.push(`  removed   ${p}`);
  for (const c of containers) {
    if (c.image) lines.push(`  container ${c.container} (${c.service}, ${c.slot}) runs image ${c.image.running.slice(7, 19)}, not the release's ${c.image.expected.slice(7, 19)}`);
    for (const change of c.changes) lines.push(`  container ${c.container}: ${({ A: 'added', C: 'changed', D: 'deleted' } as const)[change.kind]} ${change.path}`);
  }
  lines.push('Changes made on the server are not part of any release: put them in the code and deploy, or deploy the release again.');
  return { stdout: lines.join('\n'), exitCode };
}
