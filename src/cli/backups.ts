import { promises as fs } from 'node:fs';
import { listBackups, type BackupRecord } from '../data/index.js';
import { listOffsiteBackups, offsiteStoreConfig } from '../data/offsite.js';
import { openStore } from '../store/open-store.js';
import { openLedger } from '../host/ledger.js';
import { openEnvironment } from './environment.js';
import { formatBytes, formatTable } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface BackupsOptions {
  args: string[];
  json?: boolean;
  offsite?: boolean;
  config?: string;
}

/** The backup catalog of an environment, newest first. */
export default async function backups(options: BackupsOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  if (options.offsite) return offsiteBackups(opened, options, ctx);
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
    return jsonOutput(list.map((b) => ({ id: b.id, release: b.release, reason: b.reason, createdAt: b.createdAt, size: b.size, sha256: b.sha256, verifiedAt: b.verifiedAt, items: b.items, offsite: b.offsite ?? null })));
  }
  if (list.length === 0) return { stdout: `no backups of ${opened.environment.name} yet` };
  return {
    stdout: formatTable(
      ['ID', 'RELEASE', 'REASON', 'SIZE', 'VERIFIED', 'OFF-SITE'],
      list.map((b) => [b.id, b.release?.version ?? '-', b.reason, formatBytes(b.size), b.verifiedAt ? b.verifiedAt.replace('T', ' ').slice(0, 19) : 'NO', b.offsite ? `key ${b.offsite.keyId}` : '-']),
    ),
  };
}

/** `--offsite`: the complete encrypted copies in the environment's store (read from the store; no key needed). */
async function offsiteBackups(opened: Awaited<ReturnType<typeof openEnvironment>>, options: BackupsOptions, ctx: CliContext): Promise<CommandResult> {
  const store = await openStore(offsiteStoreConfig(opened.environment), opened.project.dir, ctx.env);
  const list = await listOffsiteBackups({ store, app: opened.project.config.app, environment: opened.environment.name });
  if (options.json) {
    return jsonOutput(list.map((b) => ({ id: b.id, release: b.release, reason: b.reason, createdAt: b.createdAt, size: b.size, sha256: b.sha256, verifiedAt: b.verifiedAt, keyId: b.keyId, copiedAt: b.copiedAt })));
  }
  if (list.length === 0) return { stdout: `no off-site copies of ${opened.environment.name} backups in ${store.description}` };
  return {
    stdout: formatTable(
      ['ID', 'RELEASE', 'REASON', 'SIZE', 'KEY ID', 'COPIED'],
      list.map((b) => [b.id, b.release?.version ?? '-', b.reason, formatBytes(b.size), b.keyId, b.copiedAt.replace('T', ' ').slice(0, 19)]),
    ),
  };
}
