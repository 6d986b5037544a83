import { promises as fs } from 'node:fs';
import { usageError } from '../errors.js';
import { openLedger, type DataCopyRecord } from '../host/ledger.js';
import { formatTable } from '../util/format.js';
import { printable } from '../util/terminal-text.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { openEnvironment } from './environment.js';

interface DataCopiesOptions {
  args: string[];
  json?: boolean;
  limit?: string;
  config?: string;
}

/** `slipway data copies <env>`: every copy of another environment's data into this one, newest first. */
export default async function dataCopies(options: DataCopiesOptions, ctx: CliContext): Promise<CommandResult> {
  const limit = options.limit === undefined ? 50 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1) throw usageError('USAGE', `--limit takes a whole number of at least 1, got ${options.limit}`);
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const exists = await fs.stat(opened.layout.ledgerFile).then(() => true, () => false);
  let copies: DataCopyRecord[] = [];
  if (exists) {
    const ledger = openLedger(opened.layout.ledgerFile, { readonly: true });
    try {
      copies = ledger.listDataCopies({ limit });
    } finally {
      ledger.close();
    }
  }
  if (options.json) return jsonOutput(copies);
  if (copies.length === 0) return { stdout: `no data was copied into ${opened.environment.name} yet` };
  const rows = copies.map((c) => [
    String(c.id),
    c.startedAt.replace('T', ' ').slice(0, 19),
    c.trigger,
    printable(c.sourceEnvironment ?? '?'),
    c.backupId ?? '-',
    // The data is as old as the backup, not the copy.
    c.backupCreatedAt ? c.backupCreatedAt.replace('T', ' ').slice(0, 19) : '-',
    c.scrubbed ? `${printable(c.scrubFile ?? '')} (${c.scrubSha256?.slice(0, 12)})` : 'NOT SCRUBBED',
    c.outcome ?? 'running',
    printable(c.error ?? ''),
  ]);
  return { stdout: formatTable(['ID', 'STARTED (UTC)', 'BY', 'FROM', 'BACKUP', 'BACKUP TAKEN (UTC)', 'SCRUB', 'OUTCOME', 'ERROR'], rows) };
}
