/**
 * Expected failures carry a stable code, a message for people and a hint that
 * says what to do next. The CLI maps them to exit codes; nothing else prints.
 */
export type ExitCode = 1 | 2;

export interface SlipwayErrorOptions {
  hint?: string;
  cause?: unknown;
  /** 2 = usage or configuration error (nothing was done); 1 = the operation failed. */
  exitCode?: ExitCode;
  /** Extra lines shown under the message (e.g. every config problem, a build's last output). */
  details?: string[];
}

export class SlipwayError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly exitCode: ExitCode;
  readonly details: string[];

  constructor(code: string, message: string, options: SlipwayErrorOptions = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SlipwayError';
    this.code = code;
    this.hint = options.hint === undefined ? undefined : redactSecrets(options.hint);
    this.exitCode = options.exitCode ?? 1;
    this.details = (options.details ?? []).map(redactSecrets);
  }
}

/** A configuration or usage problem: exit code 2, nothing was changed. */
export function usageError(code: string, message: string, options: Omit<SlipwayErrorOptions, 'exitCode'> = {}): SlipwayError {
  return new SlipwayError(code, message, { ...options, exitCode: 2 });
}

export function isSlipwayError(error: unknown): error is SlipwayError {
  return error instanceof SlipwayError;
}

const registeredSecrets = new Set<string>();

/** Values registered here are replaced by *** wherever redactSecrets runs (every error and log line). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) registeredSecrets.add(value);
}

/** Strips credentials from URLs and every registered secret value. */
export function redactSecrets(text: string): string {
  // The user part may be empty (redis://:pw@host). The scheme is capped at 32 characters:
  // unbounded, every start in a long run of letters scanned to its end (quadratic), so one
  // long path in a message took minutes to redact.
  let out = text.replace(/([a-z][a-z0-9+.-]{0,31}:\/\/)([^\s:/@]*):([^\s@/]+)@/gi, '$1$2:***@');
  for (const secret of registeredSecrets) out = out.split(secret).join('***');
  return out;
}
