/**
 * logs/agent.log is the agent's own output when the CLI starts it in the background:
 * the file is its stdout and stderr, opened for appending. The agent cannot reopen
 * those, so it rotates the file by copying and truncating it (the lines written
 * later land at the start of the emptied file), like service logs by size: 10 MiB,
 * `.1` to `.3` kept. Every line goes through the agent's one thread, so none is lost
 * between the copy and the truncation.
 */
import { copyFileSync, existsSync, fstatSync, ftruncateSync, renameSync, rmSync, statSync } from 'node:fs';
import { DEFAULT_LOG_ROTATE_BYTES, KEPT_LOG_FILES } from '../runtime/rotating-log.js';

export interface OwnLogRotation {
  /** rotates when the file has passed its limit; call after writing a line */
  check(): void;
}

/**
 * The rotation of `file` when this process's output (`fd`, stderr by default) is that
 * file; null when it writes elsewhere (a terminal, a pipe, another file).
 */
export function ownLogRotation(o: { file: string; fd?: number; maxBytes?: number; keep?: number }): OwnLogRotation | null {
  const fd = o.fd ?? 2;
  const maxBytes = o.maxBytes ?? DEFAULT_LOG_ROTATE_BYTES;
  const keep = o.keep ?? KEPT_LOG_FILES;
  try {
    const out = fstatSync(fd);
    const file = statSync(o.file);
    if (!out.isFile() || out.dev !== file.dev || out.ino !== file.ino) return null;
  } catch {
    return null;
  }
  return {
    check() {
      try {
        if (fstatSync(fd).size <= maxBytes) return;
        rmSync(`${o.file}.${keep}`, { force: true });
        for (let i = keep - 1; i >= 1; i -= 1) {
          if (existsSync(`${o.file}.${i}`)) renameSync(`${o.file}.${i}`, `${o.file}.${i + 1}`);
        }
        copyFileSync(o.file, `${o.file}.1`);
        ftruncateSync(fd, 0);
      } catch {
        // A full disk or a removed folder must not stop the agent; the next line tries again.
      }
    },
  };
}
