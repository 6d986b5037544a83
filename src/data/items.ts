/**
 * Turns the project's `data` section into the list of things a backup holds, and
 * names each one's file inside a backup folder.
 */
import path from 'node:path';
import type { DataConfig } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import type { DataItem } from './types.js';

/** Databases first (in the order written), then folders: a restore brings data back before files that refer to it. */
export function dataItems(o: { data: DataConfig; sharedDir: string }): DataItem[] {
  const items: DataItem[] = [];
  for (const db of o.data.databases) {
    if (db.engine === 'sqlite') items.push({ kind: 'database', name: db.name, engine: 'sqlite', file: insideShared(o.sharedDir, db.path, `database ${db.name}`) });
    else items.push({ kind: 'database', name: db.name, engine: db.engine, urlEnv: db.urlEnv });
  }
  for (const folder of o.data.folders) {
    items.push({ kind: 'folder', name: folder, engine: 'files', dir: insideShared(o.sharedDir, folder, `folder ${folder}`) });
  }
  return items;
}

/** Identity of an item across backups and configs: a database and a folder may share a name. */
export function itemKey(item: { kind: DataItem['kind']; name: string }): string {
  return `${item.kind}:${item.name}`;
}

/** `db-main.pgdump`, `files-uploads.tar.gz`…: one plain file name per item, unique within the backup. */
export function itemFileNames(items: readonly DataItem[], suffixOf: (item: DataItem) => string): string[] {
  const used = new Set<string>();
  return items.map((item) => {
    const slug = item.name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '') || 'item';
    const base = `${item.kind === 'database' ? 'db' : 'files'}-${slug}`;
    let name = `${base}${suffixOf(item)}`;
    for (let n = 2; used.has(name); n++) name = `${base}-${n}${suffixOf(item)}`;
    used.add(name);
    return name;
  });
}

function insideShared(sharedDir: string, relative: string, what: string): string {
  const root = path.resolve(sharedDir);
  const resolved = path.resolve(root, relative);
  const rel = path.relative(root, resolved);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new SlipwayError('DATA_PATH_OUTSIDE_SHARED', `The ${what} (${relative}) is not inside the host's shared folder.`, {
      hint: 'Paths under `data` in slipway.yml are relative to shared/, like data/app.db or uploads.',
      exitCode: 2,
    });
  }
  return resolved;
}

/** The configured item a backed-up item restores into (same kind, name and engine), or null. */
export function findItem(items: readonly DataItem[], wanted: { kind: DataItem['kind']; name: string; engine: string }): DataItem | null {
  return items.find((item) => itemKey(item) === itemKey(wanted) && item.engine === wanted.engine) ?? null;
}
