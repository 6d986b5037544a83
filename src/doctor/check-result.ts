/** What every doctor check answers: a status, what it saw, and how to fix what fails or warns. */
import { redactSecrets } from '../errors.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface DoctorCheck {
  name: string;
  /** false only when status is 'fail' */
  ok: boolean;
  status: CheckStatus;
  detail: string;
  /** what to do; always present when the check fails or warns */
  fix?: string;
}

export function result(name: string, status: CheckStatus, detail: string, fix?: string): DoctorCheck {
  return { name, ok: status !== 'fail', status, detail, ...(fix === undefined ? {} : { fix }) };
}

export function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return redactSecrets(e?.code ? `${e.code}: ${e.message.replace(new RegExp(`^${e.code}:\\s*`), '')}` : String(e?.message ?? error));
}
