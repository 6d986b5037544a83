import { createWriteStream } from 'node:fs';
import type { Pack } from 'tar';

/**
 * Writes a tar Pack to `file`: adds `paths` in order and resolves once the file is
 * closed; a failure on either side rejects (and stops the other).
 */
export async function writePackToFile(pack: Pack, file: string, paths: Iterable<string>): Promise<void> {
  const out = createWriteStream(file, { mode: 0o644 });
  const done = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    out.on('error', reject);
    pack.on('error', (error: unknown) => {
      out.destroy();
      reject(error);
    });
  });
  pack.pipe(out);
  for (const entry of paths) pack.add(entry);
  pack.end();
  await done;
}
