import { createInterface } from 'node:readline/promises';
import { usageError } from '../errors.js';
import type { CliContext } from './context.js';

/**
 * Asks a yes/no question on a TTY. Without a TTY and without --yes it refuses:
 * a script must say what it wants, never hang on a question.
 */
export async function confirmOrRefuse(ctx: CliContext, options: { yes?: boolean; question: string; what: string }): Promise<boolean> {
  if (options.yes) return true;
  if (!ctx.canPrompt) {
    throw usageError('CONFIRMATION_REQUIRED', `${options.what} needs a confirmation, and stdin is not a terminal`, {
      hint: 'pass --yes to go ahead without a question',
    });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${options.question} [y/N] `)).trim().toLowerCase();
    return answer === 'y' || answer === 'yes';
  } finally {
    rl.close();
  }
}
