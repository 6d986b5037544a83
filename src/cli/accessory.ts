import { SlipwayError, usageError } from '../errors.js';
import type { AccessoryConfig } from '../config/types.js';
import { formatTable } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { connectAgent, openEnvironment, type OpenedEnvironment } from './environment.js';
import { confirmOrRefuse } from './prompt.js';
import { environmentAccessories } from '../config/environment-accessories.js';

/** `slipway accessory start|stop|status|logs|upgrade <env> [name]`: thin over src/host/accessory*.ts. */
interface AccessoryOptions {
  /** [env, name] */
  args: string[];
  config?: string;
  json?: boolean;
  timeout?: string;
  follow?: boolean;
  lines?: string;
  yes?: boolean;
}

async function open(options: AccessoryOptions, ctx: CliContext): Promise<{ opened: OpenedEnvironment; chosen: AccessoryConfig[]; host: { app: string; environment: string; layout: OpenedEnvironment['layout'] } }> {
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const { pickAccessories } = await import('../host/accessory.js');
  const chosen = pickAccessories(environmentAccessories(opened.project.config.accessories, opened.environment), options.args[1]);
  return { opened, chosen, host: { app: opened.project.config.app, environment: opened.environment.name, layout: opened.layout } };
}

function wholeNumber(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw usageError('USAGE', `${what} takes a whole number, got ${text}`);
  return value;
}

export async function startCommand(options: AccessoryOptions, ctx: CliContext): Promise<CommandResult> {
  const { chosen, host } = await open(options, ctx);
  const { startAccessory } = await import('../host/accessory.js');
  const lines: string[] = [];
  const results = [];
  for (const accessory of chosen) {
    ctx.progress(`starting ${accessory.name} (${accessory.image})…`);
    const result = await startAccessory({ ...host, accessory });
    results.push(result);
    const where = result.port === null ? '' : `, answering on 127.0.0.1:${result.port}`;
    lines.push(`${result.name}: ${result.action} (container ${result.container}, ${result.containerImage ?? result.image})${where}`);
    for (const note of result.drift) lines.push(`  note: ${note}`);
  }
  if (options.json) return jsonOutput(results);
  return { stdout: lines.join('\n') };
}

export async function stopCommand(options: AccessoryOptions, ctx: CliContext): Promise<CommandResult> {
  const { chosen, host } = await open(options, ctx);
  const timeoutSeconds = wholeNumber(options.timeout, 30, '--timeout');
  const { stopAccessory } = await import('../host/accessory.js');
  const results = [];
  // In reverse: what was declared last may depend on what came before it.
  for (const accessory of [...chosen].reverse()) {
    ctx.progress(`stopping ${accessory.name}…`);
    results.push(await stopAccessory({ ...host, accessory: accessory.name, timeoutSeconds }));
  }
  if (options.json) return jsonOutput(results);
  return {
    stdout: results
      .map((r) => `${r.name}: ${r.action === 'missing' ? 'no container (never started)' : r.action}${r.exitCode === null ? '' : ` (exit code ${r.exitCode})`}`)
      .join('\n'),
  };
}

export async function statusCommand(options: AccessoryOptions, ctx: CliContext): Promise<CommandResult> {
  const { chosen, host, opened } = await open(options, ctx);
  const { accessoryStatus } = await import('../host/accessory.js');
  const statuses = [];
  for (const accessory of chosen) statuses.push(await accessoryStatus({ ...host, accessory }));
  if (options.json) return jsonOutput(statuses);
  const table = formatTable(
    ['NAME', 'STATE', 'IMAGE', 'PORT', 'STARTED', 'CONTAINER'],
    statuses.map((s) => [
      s.name,
      s.state === 'stopped' && s.exitCode !== null ? `stopped (exit ${s.exitCode})` : s.state,
      s.containerImage ?? s.image,
      s.port === null ? '-' : `${s.port} ${s.answering ? '(answering)' : '(not answering)'}`,
      s.startedAt ?? '-',
      s.id === null ? '-' : `${s.container} ${s.id.slice(0, 12)}`,
    ]),
  );
  const notes = statuses.flatMap((s) => [
    ...s.drift.map((d) => `${s.name}: ${d}`),
    ...(s.state === 'missing' ? [`${s.name}: not created yet; \`slipway accessory start ${opened.environment.name} ${s.name}\` creates it`] : []),
  ]);
  return { stdout: [table, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n') };
}

export async function logsCommand(options: AccessoryOptions, ctx: CliContext): Promise<CommandResult> {
  const { chosen, host } = await open(options, ctx);
  if (chosen.length > 1) {
    throw usageError('ACCESSORY_NAME_REQUIRED', 'name the accessory whose output to show', { hint: `one of: ${chosen.map((a) => a.name).join(', ')}` });
  }
  const lines = wholeNumber(options.lines, 50, '--lines');
  const owner = { app: host.app, environment: host.environment, accessory: chosen[0]!.name };
  const { accessoryLogLines, followAccessoryLogs } = await import('../host/accessory-logs.js');
  if (!options.follow) {
    const text = (await accessoryLogLines({ owner, lines })).join('\n');
    return { stdout: text === '' ? `(${owner.accessory} printed nothing yet)` : text };
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await followAccessoryLogs({
      owner,
      lines,
      signal: controller.signal,
      write: (chunk, stream) => (stream === 'stderr' ? process.stderr : process.stdout).write(chunk),
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return { exit: true };
}

/**
 * `accessory upgrade <env> <name>`: a verified backup of the databases it runs (the agent's
 * backup, as `slipway backup` takes it), then a new container of the image slipway.yml names now
 * on the same volumes; back to the old one when the new one does not come up.
 */
export async function upgradeCommand(options: AccessoryOptions, ctx: CliContext): Promise<CommandResult> {
  if (options.args[1] === undefined) throw usageError('ACCESSORY_NAME_REQUIRED', 'name the accessory to upgrade', { hint: `e.g. slipway accessory upgrade ${options.args[0]} db` });
  const { opened, chosen, host } = await open(options, ctx);
  const accessory = chosen[0]!;
  const timeoutSeconds = wholeNumber(options.timeout, 60, '--timeout');
  const { planAccessoryUpgrade, upgradeAccessory, shortId } = await import('../host/accessory-upgrade.js');
  const plan = await planAccessoryUpgrade({ ...host, accessory });
  const databases = opened.project.config.data.databases.filter((d) => 'accessory' in d && d.accessory === accessory.name).map((d) => d.name);
  const change = `${plan.from.image} (${shortId(plan.from.imageId)}) -> ${plan.to.image} (${shortId(plan.to.imageId)})`;
  ctx.progress(`${accessory.name}: ${change}; volumes kept: ${plan.volumes.join(', ') || 'none'}`);
  const go = await confirmOrRefuse(ctx, {
    yes: options.yes,
    question: `Upgrade ${accessory.name} of ${host.environment} to ${plan.to.image}${databases.length > 0 ? ` (after a verified backup of ${databases.join(', ')})` : ''}?`,
    what: 'accessory upgrade',
  });
  if (!go) return { stdout: 'nothing changed', exitCode: 1 };

  let backup: { id: string; items: string[] } | null = null;
  let noBackup: string | null = null;
  if (databases.length === 0) noBackup = `no database of slipway.yml runs in ${accessory.name}: no backup taken`;
  else {
    const agent = await connectAgent(opened, ctx);
    ctx.progress(`backing up ${host.environment} before the upgrade…`);
    try {
      const taken = await agent.call('backup', { reason: 'manual' });
      backup = { id: taken.id, items: taken.items.map((i) => i.name) };
    } catch (error) {
      // A fresh environment: no release has written to the database yet.
      if (!(error instanceof SlipwayError && error.code === 'NOTHING_DEPLOYED')) throw error;
      noBackup = `nothing is deployed to ${host.environment} yet: no app data to back up`;
    }
    const missing = backup === null ? [] : databases.filter((d) => !backup!.items.includes(d));
    if (missing.length > 0) {
      throw new SlipwayError('ACCESSORY_BACKUP_INCOMPLETE', `backup ${backup!.id} does not hold ${missing.join(', ')}, which run${missing.length === 1 ? 's' : ''} in ${accessory.name}: the release serving now does not declare ${missing.length === 1 ? 'it' : 'them'}; nothing was upgraded`, {
        hint: `deploy a release whose slipway.yml declares ${missing.join(', ')} first, then upgrade`,
      });
    }
    if (backup) ctx.progress(`backup ${backup.id} taken and verified`);
  }
  const result = await upgradeAccessory({ ...host, accessory, plan, readyTimeoutMs: timeoutSeconds * 1000, progress: (line) => ctx.progress(line) });
  if (options.json) return jsonOutput({ ...result, backup, note: noBackup });
  return {
    stdout: [
      `${result.name}: upgraded ${change}${result.port === null ? '' : `, answering on 127.0.0.1:${result.port}`}`,
      backup ? `  backup first: ${backup.id} (${backup.items.join(', ')}), verified; \`slipway restore ${host.environment} ${backup.id}\` brings that data back` : `  ${noBackup}`,
      `  volumes kept: ${result.volumes.join(', ') || 'none'}`,
      `  container ${result.container} recreated; the old one is removed`,
    ].join('\n'),
  };
}
