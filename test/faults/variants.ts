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

/** v2's server for fault cases that make v2 unhealthy: its health check also fails while the flag file (flagOf) exists. */
export const FLAGGED_V2_SERVER = `// notes v2 for the fault matrix: its health check also fails while data/unhealthy.flag exists
import { existsSync } from 'node:fs';
import { runNotesServer } from './app.js';

const APP_VERSION = 'v2';

async function noFaultFlag() {
  if (existsSync('data/unhealthy.flag')) throw new Error('data/unhealthy.flag is set (fault injected by the test)');
}

await runNotesServer({ version: APP_VERSION, healthProbes: [noFaultFlag] });
`;

/** The flag file that makes FLAGGED_V2_SERVER unhealthy, in the host's shared data folder. */
export const flagOf = (host: HostFixture) => path.join(host.hostRoot, 'shared', 'data', 'unhealthy.flag');
