import { promises as fs } from 'node:fs';
import { usageError } from '../errors.js';
import { openLedger } from '../host/ledger.js';
import { openEnvironment } from './environment.js';
import { formatTable } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { printable } from '../util/terminal-text.js';

interface HistoryOptions {
  args: string[];
  json?: boolean;
  limit?: string;
  config?: string;
}

/** Every deployment and rollback of an environment, newest first, with its steps. */
export default async function history(options: HistoryOptions, ctx: CliContext): Promise<CommandResult> {
  const limit = options.limit === undefined ? 50 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1) throw usageError('USAGE', `--limit takes a whole number of at least 1, got ${options.limit}`);
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const exists = await fs.stat(opened.layout.ledgerFile).then(() => true, () => false);
  let entries: ReturnType<import('../host/ledger.js').Ledger['history']> = [];
  if (exists) {
    const ledger = openLedger(opened.layout.ledgerFile, { readonly: true });
    try {
      entries = ledger.history(limit);
    } finally {
      ledger.close();
    }
  }
  if (options.json) return jsonOutput(entries);
  if (entries.length === 0) return { stdout: `no deployments to ${opened.environment.name} yet` };
  const rows = entries.map((e) => {
    const ms = e.finishedAt ? Date.parse(e.finishedAt) - Date.parse(e.startedAt) : null;
    return [String(e.id), e.startedAt.replace('T', ' ').slice(0, 19), e.kind, printable(`${e.from ?? '-'} → ${e.to ?? '-'}`), e.outcome ?? 'running', ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`];
  });
  return { stdout: formatTable(['ID', 'STARTED (UTC)', 'KIND', 'CHANGE', 'OUTCOME', 'TOOK'], rows) };
}
