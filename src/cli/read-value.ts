/**
 * Reading a value the user does not want on the command line (a secret for `config set`):
 * all of stdin when it is a pipe or a file, one line typed on the terminal, not echoed,
 * when it is a TTY.
 */
import { usageError } from '../errors.js';
import { MAX_STDIN_VALUE_BYTES, parseSetArgument, valueFromStdin } from '../plan/app-config.js';
import type { CliContext } from './context.js';

/** The key and value of `config set`: from the argument, or the value from stdin (typed unseen on a terminal, else all of it). */
export async function setAssignment(argument: string, ctx: Pick<CliContext, 'canPrompt'>): Promise<{ key: string; value: string; fromStdin: boolean }> {
  const parsed = parseSetArgument(argument);
  if ('value' in parsed) return { ...parsed, fromStdin: false };
  const input = ctx.canPrompt ? await readHiddenLine(`value of ${parsed.key} (not shown): `) : await readAllStdin(MAX_STDIN_VALUE_BYTES);
  return { key: parsed.key, value: valueFromStdin(parsed.key, input), fromStdin: true };
}

/** Everything on stdin, stopping once more than `limit` bytes came (the caller refuses that much). */
export async function readAllStdin(limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) break;
  }
  process.stdin.destroy();
  return Buffer.concat(chunks);
}

/**
 * One line typed on the terminal, with the prompt on stderr and nothing echoed: the terminal
 * is in raw mode while it is typed. Backspace and Ctrl-U edit; Enter (or Ctrl-D) ends;
 * Ctrl-C cancels.
 */
export function readHiddenLine(prompt: string): Promise<Buffer> {
  const stdin = process.stdin;
  // Raw before the prompt shows: keys typed as soon as it appears are neither echoed nor turned into signals.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(Buffer.from(typed, 'utf8'));
    };
    const onEnd = () => finish();
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        if (char === '\u0003') return finish(usageError('CONFIG_VALUE_CANCELLED', 'cancelled: nothing was changed'));
        if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('');
        else if (char === '\u0015') typed = '';
        else typed += char;
      }
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  });
}
