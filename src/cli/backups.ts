import { promises as fs } from 'node:fs';
import { listBackups, type BackupRecord } from '../data/index.js';
import { openLedger } from '../host/ledger.js';
import { openEnvironment } from './environment.js';
import { formatBytes, formatTable } from './format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface BackupsOptions {
  args: string[];
  json?: boolean;
  config?: string;
}

/** The backup catalog of an environment, newest first. */
export default async function backups(options: BackupsOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  let list: BackupRecord[] = [];
  if (await fs.stat(opened.layout.ledgerFile).then(() => true, () => false)) {
    const ledger = openLedger(opened.layout.ledgerFile, { readonly: true });
    try {
      list = listBackups(ledger, { environment: opened.environment.name });
    } finally {
      ledger.close();
    }
  }
  if (options.json) {
    return jsonOutput(list.map((b) => ({ id: b.id, release: b.release, reason: b.reason, createdAt: b.createdAt, size: b.size, sha256: b.sha256, verifiedAt: b.verifiedAt, items: b.items })));
  }
  if (list.length === 0) return { stdout: `no backups of ${opened.environment.name} yet` };
  return {
    stdout: formatTable(
      ['ID', 'RELEASE', 'REASON', 'SIZE', 'VERIFIED'],
      list.map((b) => [b.id, b.release?.version ?? '-', b.reason, formatBytes(b.size), b.verifiedAt ? b.verifiedAt.replace('T', ' ').slice(0, 19) : 'NO']),
    ),
  };
}
