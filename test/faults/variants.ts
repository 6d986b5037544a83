/** Variants of the notes app's releases for a fault column, built into the fixture's store under the usual versions. */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import type { HostFixture } from '../helpers/host-fixture.js';

const run = promisify(execFile);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ProjectFile = Record<string, any>;

/**
 * Commits `files` (and an edit of slipway.yml) on top of tag `base` as tag `tag`, then
 * builds it as release `version` (so v2's variant still reads "v2" everywhere). The work
 * tree stays on that commit: the CLI and the agents read its slipway.yml.
 */
export async function buildVariant(
  host: HostFixture,
  o: { base: string; tag: string; version: string; files?: Record<string, string>; editProject?(project: ProjectFile): void },
): Promise<string> {
  const git = (...args: string[]) => run('git', args, { cwd: host.repo });
  await git('checkout', '-q', '-B', `variant-${o.tag}`, o.base);
  for (const [name, content] of Object.entries(o.files ?? {})) writeFileSync(path.join(host.repo, name), content);
  if (o.editProject) {
    const file = path.join(host.repo, 'slipway.yml');
    const project = parse(readFileSync(file, 'utf8')) as ProjectFile;
    o.editProject(project);
    writeFileSync(file, stringify(project));
  }
  await git('add', '-A');
  await git('commit', '-q', '-m', `notes ${o.tag}`);
  await git('tag', '-a', o.tag, '-m', `notes ${o.tag}`);
  return host.build(o.tag, o.version);
}
