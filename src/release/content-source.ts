/** Where a release's file contents are read from when it is put into a store. */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ReleaseManifest } from './manifest.js';

export interface ContentSource {
  /** the content with this digest (the caller knows the source has it); checked by the caller */
  read(sha256: string): Promise<Buffer>;
  /** the same, without a trip through the thread pool, for sources on a local disk */
  readSync?(sha256: string): Buffer;
  /** the file that holds it, for sources on a local disk: file workers read it themselves */
  fileOf?(sha256: string): string;
}

/** Contents read from the tree a release was built from (or unpacked into). */
export function treeContentSource(treeDir: string, manifest: ReleaseManifest): ContentSource {
  const pathOf = new Map<string, string>();
  for (const file of manifest.files) if (!pathOf.has(file.sha256)) pathOf.set(file.sha256, file.path);
  const fileOf = (digest: string) => path.join(treeDir, ...pathOf.get(digest)!.split('/'));
  return {
    read: (digest) => fs.readFile(fileOf(digest)),
    readSync: (digest) => readFileSync(fileOf(digest)),
    fileOf,
  };
}

/** Contents in a folder, one file per content named by its digest. */
export function folderContentSource(dir: string): ContentSource {
  const fileOf = (digest: string) => path.join(dir, digest);
  return { read: (digest) => fs.readFile(fileOf(digest)), readSync: (digest) => readFileSync(fileOf(digest)), fileOf };
}
