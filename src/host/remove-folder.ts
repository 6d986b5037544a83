/** Removing a release-like folder: its folders are read-only (files are hard links to read-only objects, and unlinking them needs no write bit on the file). */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Makes the folders under `dir` writable again, then removes it all; nothing there is fine. */
export async function removeReadOnlyFolder(dir: string): Promise<void> {
  await makeFoldersWritable(dir).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
}

async function makeFoldersWritable(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeFoldersWritable(path.join(dir, entry.name));
  }
}
