import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * What the OS says about processes and process groups. On Linux this reads /proc; elsewhere it falls
 * back to signal 0 and `ps`. Zombies count as gone: they are dead, only not yet reaped (which happens
 * forever when PID 1 does not reap orphans, e.g. in some containers and VMs).
 */

interface ProcStat {
  state: string;
  pgrp: number;
  /** clock ticks after boot: with the pid, identifies one process across pid reuse */
  startTime: string;
}

const hasProc = (() => {
  try {
    readFileSync('/proc/self/stat', 'utf8');
    return true;
  } catch {
    return false;
  }
})();

function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may itself hold spaces or parentheses: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); pgrp is field 5, starttime field 22.
  return { state: fields[0], pgrp: Number(fields[2]), startTime: fields[19] };
}

/** An opaque value that differs between two processes that had the same pid; null when `pid` does not exist. */
export function processStartTime(pid: number): string | null {
  if (hasProc) return readProcStat(pid)?.startTime ?? null;
  try {
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return out.length > 0 ? out : null;
  } catch {
    return null;
  }
}

/** True when `pid` exists and is not a zombie. */
export function isProcessRunning(pid: number): boolean {
  if (!signalExists(pid)) return false;
  if (!hasProc) return true;
  const stat = readProcStat(pid);
  return stat !== null && stat.state !== 'Z';
}

/** True when the process group `pgid` has a member that is not a zombie. */
export function isProcessGroupRunning(pgid: number): boolean {
  if (!signalExists(-pgid)) return false;
  if (!hasProc) return true;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') return true;
  }
  return false;
}

/** Sends `signal` to every process of the group; false when the group no longer exists. */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals): boolean {
  assertPid(pgid);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Signal 0 checks existence; EPERM means it exists but belongs to someone else. */
function signalExists(pidOrNegativePgid: number): boolean {
  assertPid(Math.abs(pidOrNegativePgid));
  try {
    process.kill(pidOrNegativePgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** kill(0), kill(-1) and kill(1) would hit our own group, every process, or init: never let a bad pid through. */
function assertPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new RangeError(`not a usable process id: ${pid}`);
}
