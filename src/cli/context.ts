/** What every command gets from main.ts, and what it gives back. Commands never print or exit. */
export interface CliContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** a person is watching (stdout is a TTY): progress bars and colour are welcome */
  interactive: boolean;
  /** stdin is a TTY: a question can be asked */
  canPrompt: boolean;
  color: boolean;
  /** one line of progress for people; goes to stderr so that stdout stays clean for --json */
  progress(line: string): void;
  /** a line that replaces the previous one in place (a progress bar); absent when stderr is not a terminal */
  progressInPlace?(line: string): void;
  /** output streamed as it comes (a remote host's output); absent: collect it into the result */
  writeStdout?(chunk: Buffer): void;
}

export interface CommandResult {
  /** printed to stdout as is (a trailing newline is added when missing) */
  stdout?: string;
  exitCode?: 0 | 1 | 2;
  /** end the process right after printing (long-running commands) */
  exit?: boolean;
}

export function jsonOutput(value: unknown): CommandResult {
  return { stdout: `${JSON.stringify(value, null, 2)}\n` };
}
