/** Whether an error (or one it was caused by) says the disk or the quota is full. */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export function isDiskFull(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && DISK_FULL_CODES.has(code)) return true;
    // SQLite reports it as SQLITE_FULL, "database or disk is full".
    if (code === 'SQLITE_FULL') return true;
  }
  return false;
}
