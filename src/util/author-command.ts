/**
 * Runs a command the app's author wrote in slipway.yml (a migration, a hook): a shell
 * line run by `sh -c` in its own process group, its output given line by line as it
 * comes, killed with its whole group when it runs over its time limit. A failure
 * carries the command's last lines of output.
 */
import { spawn } from 'node:child_process';
import { SlipwayError } from '../errors.js';
import { onLines } from './line-splitter.js';

export interface AuthorCommandOptions {
  /** a shell line, run with `sh -c` */
  command: string;
  cwd: string;
  /** the whole environment of the command (nothing is inherited) */
  env: Record<string, string>;
  /** past this, the command and everything it started is killed (SIGKILL to its process group) */
  timeoutMs: number;
  /** each non-blank line of its output (stdout and stderr), whole */
  onLine?: (line: string) => void;
}

/** The lines of output a failure keeps to show. */
const TAIL_LINES = 20;

/** Resolves when the command exits 0; rejects with COMMAND_FAILED otherwise. */
export function runAuthorCommand(o: AuthorCommandOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', o.command], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const tail: string[] = [];
    const onLine = (line: string) => {
      if (line.trim() === '') return;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      o.onLine?.(line);
    };
    // One splitter per stream: a line cut between two chunks of stdout must not take in stderr's.
    const splitters = [onLines(child.stdout, onLine), onLines(child.stderr, onLine)];
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group ended on its own meanwhile: 'close' says how.
      }
    }, o.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new SlipwayError('COMMAND_FAILED', `\`${o.command}\` could not start: ${error.message}`, { hint: 'check the command in slipway.yml' }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // The streams have ended by now; a last line without a newline is in the tail.
      for (const splitter of splitters) splitter.end();
      if (code === 0) return resolve();
      const how = signal ? `was killed (${signal}${signal === 'SIGKILL' ? `, over its ${o.timeoutMs} ms limit` : ''})` : `exited with code ${code}`;
      reject(
        new SlipwayError('COMMAND_FAILED', `\`${o.command}\` ${how}`, {
          details: tail.length > 0 ? ['last output:', ...tail.map((l) => `  ${l}`)] : [],
          hint: 'fix the command (run it by hand in the release folder to see more) and deploy again',
        }),
      );
    });
  });
}
