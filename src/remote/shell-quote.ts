import { SlipwayError } from '../errors.js';

/**
 * ssh sends the remote command as ONE string that the remote login shell parses, so
 * an argument array has to be turned into shell words there. Quoting assumes a POSIX
 * shell (sh, bash, dash, zsh, ksh) as the remote user's login shell.
 */

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * One argument as one POSIX shell word: everything inside single quotes is literal,
 * and a single quote itself becomes '\'' (end the quote, an escaped quote, reopen).
 */
export function quoteShellArgument(arg: string): string {
  if (arg.includes('\0')) {
    throw new SlipwayError('SHELL_ARGUMENT_NUL', 'A command argument for the remote host contains a NUL byte, which no shell argument can hold.', {
      hint: 'Remove the NUL character from the command or its arguments.',
    });
  }
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * The string to hand to ssh for `argv` (every word quoted), with `env` set for that
 * command only through a leading `env K=V ...` (an assignment word cannot be quoted).
 */
export function remoteCommandLine(argv: string[], env: Record<string, string> = {}): string {
  if (argv.length === 0) throw new Error('remoteCommandLine needs at least the command to run');
  const assignments = Object.entries(env).map(([name, value]) => {
    if (!ENV_NAME.test(name)) {
      throw new SlipwayError('INVALID_ENV_NAME', `"${name}" is not a valid environment variable name for a remote command.`, {
        hint: 'Use letters, digits and underscores only, not starting with a digit.',
      });
    }
    return quoteShellArgument(`${name}=${value}`);
  });
  if (assignments.length > 0 && argv[0].includes('=')) {
    // env would read a program name containing '=' as one more assignment
    throw new SlipwayError('INVALID_REMOTE_COMMAND', `The remote command "${argv[0]}" contains "=", so it cannot be run with environment variables.`, {
      hint: 'Run it through a path or a wrapper script without "=" in its name.',
    });
  }
  const words = argv.map(quoteShellArgument);
  return assignments.length > 0 ? ['env', ...assignments, ...words].join(' ') : words.join(' ');
}
