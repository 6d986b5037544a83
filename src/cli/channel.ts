import path from 'node:path';
import { usageError } from '../errors.js';
import { readSigningKeyFile } from '../release/sign.js';
import { getEnvironment, loadProject } from '../config/load.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { shortId } from '../release/manifest.js';
import type { BlobStore } from '../store/blob-store.js';
import { channelHistory, readChannel, writeChannel, type ChannelPointer } from '../store/channels.js';
import { openStore } from '../store/open-store.js';
import { resolveRelease, type ReleaseInfo } from '../store/releases.js';
import { channelPointer, checkSignaturePolicy } from '../store/channel-policy.js';
import { whoAmI } from './deploy.js';
import { formatTable } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { printable } from '../util/terminal-text.js';
import { formatAge } from '../host/data-age.js';

export interface EnvironmentStore {
  project: LoadedProject;
  environment: EnvironmentConfig;
  store: BlobStore;
}

/** The project and an environment's store: all that CI-side commands need (no host, no agent). */
export async function openEnvironmentStore(options: { config?: string; env: string | undefined }, ctx: CliContext): Promise<EnvironmentStore> {
  if (!options.env) throw usageError('ENVIRONMENT_REQUIRED', 'name the environment', { hint: 'e.g. `slipway channel history production`' });
  const project = await loadProject({ file: options.config, cwd: ctx.cwd });
  for (const warning of project.warnings) ctx.progress(`warning: ${warning}`);
  const environment = getEnvironment(project, options.env);
  const store = await openStore(environment.store, project.dir, ctx.env);
  return { project, environment, store };
}

/** The pointer that moves a channel to `release`, in the name of whoever runs this command. */
export function newPointer(ctx: CliContext, options: { environment: string; release: ReleaseInfo; why: string; expires?: string }): ChannelPointer {
  return channelPointer({ ...options, who: whoAmI(ctx) });
}

/**
 * The private key that signs the pointers written for `environment`: --key, else signing.key
 * in slipway.yml. An environment that requires signatures gets no pointer without one
 * (SIGNING_KEY_REQUIRED, exit 2, nothing changed).
 */
export async function pointerSigningKey(ctx: CliContext, project: LoadedProject, environment: EnvironmentConfig, key?: string): Promise<string | undefined> {
  const keyPath = key ? path.resolve(ctx.cwd, key) : project.config.signing.key ? path.resolve(project.dir, project.config.signing.key) : undefined;
  if (!keyPath) {
    if (!environment.requireSignature) return undefined;
    throw usageError('SIGNING_KEY_REQUIRED', `${environment.name} requires signatures, and no signing key is configured to sign its channel pointer`, {
      hint: 'set signing.key in slipway.yml or pass --key <path> (make a pair with `slipway keys generate`)',
    });
  }
  return readSigningKeyFile(keyPath);
}

const EXPIRY_UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--expires <duration>` (e.g. 30m, 12h, 7d) as the ISO time the pointer expires at; undefined without one. */
export function expiresAt(duration: string | undefined, now = new Date()): string | undefined {
  if (duration === undefined) return undefined;
  const match = /^(\d+)(s|m|h|d)$/.exec(duration.trim());
  if (!match || Number(match[1]) <= 0) throw usageError('EXPIRES_INVALID', `--expires ${JSON.stringify(duration)} is not a duration`, { hint: 'e.g. --expires 30m, 12h or 7d' });
  return new Date(now.getTime() + Number(match[1]) * EXPIRY_UNITS_MS[match[2]]).toISOString();
}

interface HistoryOptions {
  args: string[];
  json?: boolean;
  config?: string;
}

/** `slipway channel history <env>`: every move of the channel pointer, newest first. */
export async function channelHistoryCommand(options: HistoryOptions, ctx: CliContext): Promise<CommandResult> {
  const { project, environment, store } = await openEnvironmentStore({ config: options.config, env: options.args[0] }, ctx);
  const moves = (await channelHistory(store, project.config.app, environment.name)).reverse();
  if (options.json) return jsonOutput(moves);
  if (moves.length === 0) return { stdout: `the channel of ${environment.name} was never set (publish a release with \`slipway publish ${environment.name}\`)` };
  const current = await readChannel(store, project.config.app, environment.name);
  const rows = moves.map((move, index) => [
    index === 0 && current?.releaseId === move.releaseId ? '*' : '',
    move.when.replace('T', ' ').slice(0, 19),
    printable(move.version),
    shortId(move.releaseId),
    printable(move.who),
    printable(move.why),
    testedText(move),
  ]);
  return { stdout: formatTable(['', 'WHEN (UTC)', 'VERSION', 'RELEASE', 'WHO', 'WHY', 'TESTED IN'], rows).trimEnd() };
}

/** `staging 2026-12-02 10:20, health window passed, data 3 h 2 min old (scrubbed)`; '-' for moves that were not promotes. */
function testedText(move: ChannelPointer): string {
  const run = move.tested;
  if (!run) return '-';
  const when = run.at ? ` ${run.at.replace('T', ' ').slice(0, 16)}` : '';
  const health = run.healthWindowPassed ? 'health window passed' : 'NOT healthy there (forced)';
  const copy = run.dataCopy;
  // The data's age when it was promoted, not now.
  const data = copy ? `, data ${formatDuration(copy.ageSeconds)} old${copy.scrubbed ? ' (scrubbed)' : ' (NOT scrubbed)'}` : ', no data copy known';
  return printable(`${run.environment}${when}, ${health}${data}`);
}

function formatDuration(seconds: number): string {
  return formatAge(new Date(0).toISOString(), new Date(seconds * 1000));
}

interface SetOptions {
  args: string[];
  reason?: string;
  key?: string;
  expires?: string;
  json?: boolean;
  config?: string;
}

/** `slipway channel set <env> <version>`: points the environment at a release; its agents follow (a rollback when it is an older one). */
export async function channelSetCommand(options: SetOptions, ctx: CliContext): Promise<CommandResult> {
  const [env, version] = options.args;
  if (!version) throw usageError('VERSION_REQUIRED', 'name the version (or release id) to point the channel at', { hint: 'e.g. `slipway channel set production v1`' });
  const { project, environment, store } = await openEnvironmentStore({ config: options.config, env }, ctx);
  const app = project.config.app;
  const expires = expiresAt(options.expires);
  const release = await resolveRelease(store, app, version);
  checkSignaturePolicy(environment, release);
  const signingKeyPem = await pointerSigningKey(ctx, project, environment, options.key);
  const before = await readChannel(store, app, environment.name);
  // A rollback through the channel is a new pointer like any other: a higher counter, signed.
  const pointer = await writeChannel(store, app, newPointer(ctx, { environment: environment.name, release, why: options.reason ?? `set to ${release.version}`, expires }), { signingKeyPem });
  if (options.json) return jsonOutput({ ...pointer, previous: before ? { releaseId: before.releaseId, version: before.version } : null });
  const change = printable(before ? `${before.version} → ${release.version}` : release.version);
  return { stdout: `channel ${environment.name}: ${change} (${shortId(release.id)}); its agents pick it up at their next poll (or now: \`slipway notify ${environment.name}\`)` };
}

export default channelHistoryCommand;
