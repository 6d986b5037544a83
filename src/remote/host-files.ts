/**
 * Project files a remote host needs beside its slipway.yml (data_copy's scrub SQL file):
 * sent over SSH and checked there against the sha256 of the operator's copy before they
 * take the place of the old one, so a cut or altered transfer never becomes the file the
 * host's agent runs.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError, usageError } from '../errors.js';

/** What sending needs of a host: its name, its root, and a command run there (RemoteSlipway is one). */
export interface FileHost {
  name: string;
  paths: { root: string };
  run(argv: string[], options: { input: Buffer }): Promise<{ exitCode: number; stderr: string }>;
}

/**
 * Writes stdin to "$1.tmp", checks its sha256 against "$2", then renames it over "$1" (mode 0600:
 * the SQL may name what it hides). The script is fixed; path and hash travel as arguments.
 */
const WRITE_CHECKED =
  'mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && actual=$(sha256sum "$1.tmp") && actual=${actual%% *} && ' +
  'if [ "$actual" != "$2" ]; then rm -f "$1.tmp"; echo "sha256 $actual, expected $2" >&2; exit 3; fi && chmod 600 "$1.tmp" && mv -f "$1.tmp" "$1"';

/** Sends `from` (relative to the project's folder) to `to` (relative to the host's root); resolves with its sha256. */
export async function sendCheckedFile(host: FileHost, file: { from: string; to: string; projectDir: string; what: string }): Promise<{ sha256: string }> {
  const bytes = await fs.readFile(path.resolve(file.projectDir, file.from)).catch((error: unknown) => {
    throw usageError('HOST_FILE_UNREADABLE', `cannot read ${file.what} ${file.from}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: `the path is relative to the folder of slipway.yml; fix it there, then run setup again`,
      cause: error,
    });
  });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const target = path.posix.join(host.paths.root, file.to);
  const result = await host.run(['sh', '-c', WRITE_CHECKED, 'sh', target, sha256], { input: bytes });
  if (result.exitCode !== 0) {
    const why = result.stderr.trim().split('\n').at(-1) ?? `exit code ${result.exitCode}`;
    if (result.exitCode === 3) {
      throw new SlipwayError('HOST_FILE_MISMATCH', `${host.name}: ${file.what} ${file.to} did not arrive intact (${why})`, { hint: 'run setup again; the host keeps its previous copy meanwhile' });
    }
    throw new SlipwayError('SETUP_FAILED', `${host.name}: could not write ${file.what} ${file.to}: ${why}`, { hint: `check that the SSH user may write ${host.paths.root}` });
  }
  return { sha256 };
}
