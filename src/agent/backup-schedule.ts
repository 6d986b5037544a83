/**
 * The agent's scheduled backups: `backup_schedule` in slipway.yml, a cron expression
 * read in the server's local time zone (that of the agent's process: TZ).
 *
 * One timer at a time, unref'd so it never keeps the process alive. It wakes at the
 * planned time, or earlier to look at the clock again (at least hourly: this keeps
 * timers far below Node's 24.8-day limit and follows wall-clock changes), runs the
 * backup, and only then plans the next run from the time the backup ended, so two
 * never overlap and a backup longer than the interval skips runs rather than piling
 * them up. A failed backup is logged and the schedule goes on.
 */
import { SlipwayError } from '../errors.js';
import { CRON_EXPECTED, nextCronTime, parseCron, type CronSchedule } from '../util/cron.js';

export interface BackupScheduleOptions {
  /** 5-field cron expression, server local time (or UTC with `utc`) */
  cron: string;
  takeBackup(): Promise<unknown>;
  log(line: string): void;
  /** the wall clock (tests move it) */
  now?: () => Date;
  utc?: boolean;
  /** longest single sleep before the clock is read again; default one hour */
  maxSleepMs?: number;
}

export interface BackupSchedule {
  /** when the next backup is planned; null while one runs, or once stopped */
  next(): Date | null;
  /** cancels the timer; resolves when a backup in progress has finished */
  stop(): Promise<void>;
}

const DEFAULT_MAX_SLEEP_MS = 3_600_000;

export function startBackupSchedule(o: BackupScheduleOptions): BackupSchedule {
  const schedule = parseBackupSchedule(o.cron);
  const now = o.now ?? (() => new Date());
  const maxSleepMs = Math.max(1, Math.min(o.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS, 86_400_000));
  const zone = o.utc ? 'UTC' : 'server local time';
  let planned: Date | null = null;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let stopped = false;

  function plan(from: Date): void {
    planned = nextCronTime(schedule, from, { utc: o.utc });
    if (planned === null) o.log(`backup schedule "${schedule.source}" has no further run; no more scheduled backups`);
    else arm();
  }

  function arm(): void {
    if (stopped || planned === null) return;
    const wait = planned.getTime() - now().getTime();
    if (wait <= 0) {
      running = run(planned);
      return;
    }
    timer = setTimeout(arm, Math.min(wait, maxSleepMs));
    timer.unref();
  }

  async function run(at: Date): Promise<void> {
    planned = null;
    let summary = 'done';
    try {
      const result = await o.takeBackup();
      const id = (result as { id?: unknown } | null | undefined)?.id;
      if (typeof id === 'string') summary = `done: ${id}`;
    } catch (error) {
      summary = `FAILED: ${(error as Error)?.message ?? String(error)}`;
    }
    running = null;
    if (stopped) return;
    const ended = now();
    plan(ended > at ? ended : at);
    o.log(`scheduled backup ${summary}; next ${planned ? `at ${formatWhen(planned, o.utc)} (${zone})` : 'never'}`);
  }

  plan(now());
  if (planned) o.log(`scheduled backups "${schedule.source}" (${zone}): next at ${formatWhen(planned, o.utc)}`);

  return {
    next: () => planned,
    stop() {
      stopped = true;
      planned = null;
      clearTimeout(timer);
      return running ?? Promise.resolve();
    },
  };
}

/** The parsed expression, or BACKUP_SCHEDULE_INVALID (slipway.yml is checked at load; this guards other callers). */
export function parseBackupSchedule(cron: string): CronSchedule {
  const parsed = parseCron(cron);
  if (!parsed.ok) {
    throw new SlipwayError('BACKUP_SCHEDULE_INVALID', `The backup schedule "${cron}" is not ${CRON_EXPECTED}: ${parsed.error}.`, {
      hint: 'Fix backup_schedule in slipway.yml, e.g. "0 3 * * *" for every day at 03:00 server time.',
      exitCode: 2,
    });
  }
  return parsed.schedule;
}

/** `2026-11-21 03:00 +01:00`: the wall-clock time the schedule speaks of, with its offset. */
export function formatWhen(date: Date, utc = false): string {
  const offsetMinutes = utc ? 0 : -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 16).replace('T', ' ');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local} ${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
