/**
 * The agent's scheduled data copies: `environments.<env>.data_copy` in slipway.yml. On a
 * cron schedule (server local time, like backup_schedule) the agent of this environment
 * takes the source environment's newest verified backup (copy-source.ts), restores it
 * here through the same path `slipway data copy` takes (data-requests.ts importData: the
 * update pipeline, which backs this environment up first and undoes a failed restore,
 * scrub or health check), and records it (`slipway data copies`). A copy never writes to
 * the source; a failed one leaves this environment on its previous data and says why in
 * the agent log and the record.
 *
 * Timing as in backup-schedule.ts: one unref'd timer, woken at least hourly to read the
 * clock again; the next run is planned when one ends, so copies never overlap.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { DataCopySettings } from '../config/schema-data-copy.js';
import { dataCopyProblems } from '../config/schema-data-copy.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import type { Ledger } from '../host/ledger.js';
import type { UpdateEvent, UpdateOutcome, UpdateRequest } from '../update/run-update.js';
import { nextCronTime } from '../util/cron.js';
import type { UpdateResult } from './api.js';
import { formatWhen, parseBackupSchedule } from './backup-schedule.js';
import { copySourceFor, type CopySource } from './copy-source.js';
import { importData, recordFailedCopy } from './data-requests.js';
import { toWireError } from './wire.js';
import { updateResultOf } from './update-result.js';

export interface CopyScheduleOptions {
  /** this environment's name */
  environment: string;
  settings: { from: string; schedule: string; scrubFile?: string };
  source: CopySource;
  ledger(): Ledger;
  layout: HostLayout;
  /** runs the restore update on this host (the agent's pipeline, under its lock) */
  run(request: UpdateRequest): Promise<UpdateResult>;
  log(line: string): void;
  /** the wall clock (tests move it) */
  now?: () => Date;
  utc?: boolean;
  /** longest single sleep before the clock is read again; default one hour */
  maxSleepMs?: number;
}

export interface CopySchedule {
  /** when the next copy is planned; null while one runs, or once stopped */
  next(): Date | null;
  /** runs one copy now (what the timer does); resolves with how it ended */
  runNow(): Promise<CopyRunResult>;
  /** cancels the timer; resolves when a copy in progress has finished */
  stop(): Promise<void>;
}

export type CopyRunResult = { ok: true; backupId: string } | { ok: false; error: string };

const DEFAULT_MAX_SLEEP_MS = 3_600_000;
const WHO = 'slipway agent (data_copy schedule)';

export function startCopySchedule(o: CopyScheduleOptions): CopySchedule {
  const schedule = parseBackupSchedule(o.settings.schedule);
  const now = o.now ?? (() => new Date());
  const maxSleepMs = Math.max(1, Math.min(o.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS, 86_400_000));
  const zone = o.utc ? 'UTC' : 'server local time';
  let planned: Date | null = null;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CopyRunResult> | null = null;
  let stopped = false;

  function plan(from: Date): void {
    planned = nextCronTime(schedule, from, { utc: o.utc });
    if (planned === null) o.log(`data copy schedule "${schedule.source}" has no further run; no more scheduled copies from ${o.settings.from}`);
    else arm();
  }

  function arm(): void {
    if (stopped || planned === null) return;
    const wait = planned.getTime() - now().getTime();
    if (wait <= 0) {
      const at = planned;
      planned = null;
      void runOnce().then(() => {
        if (stopped) return;
        const ended = now();
        plan(ended > at ? ended : at);
        o.log(`next data copy from ${o.settings.from} ${planned ? `at ${formatWhen(planned, o.utc)} (${zone})` : 'never'}`);
      });
      return;
    }
    timer = setTimeout(arm, Math.min(wait, maxSleepMs));
    timer.unref();
  }

  function runOnce(): Promise<CopyRunResult> {
    // One at a time: a second ask while one runs gets the same run.
    running ??= copyOnce(o).finally(() => {
      running = null;
    });
    return running;
  }

  plan(now());
  if (planned) o.log(`scheduled data copies from ${o.settings.from} "${schedule.source}" (${zone}), ${o.settings.scrubFile ? `scrubbed with ${path.basename(o.settings.scrubFile)}` : 'NOT scrubbed (no_scrub)'}: next at ${formatWhen(planned, o.utc)}`);
  // Said at once, not only when the copy is due (it is checked again then).
  void missingScrubFile(o).then((missing) => {
    if (missing && !stopped) o.log(`warning: ${missing.message}; ${missing.hint}`);
  });

  return {
    next: () => planned,
    runNow: runOnce,
    async stop() {
      stopped = true;
      planned = null;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}

/**
 * data_copy's scrub file is not there (deleted, renamed, not sent to this host): the copy is
 * refused before anything is fetched, since personal data must not reach this environment unscrubbed.
 */
async function missingScrubFile(o: CopyScheduleOptions): Promise<SlipwayError | null> {
  const file = o.settings.scrubFile;
  if (file === undefined) return null;
  const cause = await fs.access(file, fsConstants.R_OK).then(() => null, (error: unknown) => error);
  if (cause === null) return null;
  return new SlipwayError('SCRUB_FILE_MISSING', `the scrub file of data_copy, ${file}, cannot be read (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}): no copy from ${o.settings.from} is made without it`, {
    hint: `put the file back (data_copy.scrub in slipway.yml names it; on servers driven over SSH, \`slipway setup ${o.environment}\` sends it), or write no_scrub: true if ${o.settings.from}'s data holds nothing personal`,
    cause,
  });
}

/** One scheduled copy, start to record; never throws (a failure is logged and recorded). */
async function copyOnce(o: CopyScheduleOptions): Promise<CopyRunResult> {
  const from = o.settings.from;
  /** A copy refused before anything changed: recorded, logged. */
  const refuse = (error: unknown): CopyRunResult => {
    const message = toWireError(error).message;
    try {
      recordFailedCopy(o.ledger(), { trigger: 'schedule', sourceEnvironment: from, ...(o.settings.scrubFile ? { scrubFile: o.settings.scrubFile } : {}), who: WHO, error });
    } catch (recordError) {
      o.log(`warning: could not record the failed data copy: ${(recordError as Error).message}`);
    }
    o.log(`data copy from ${from} FAILED: ${message}; ${o.environment} keeps its data`);
    return { ok: false, error: message };
  };
  const noScrub = await missingScrubFile(o);
  if (noScrub) return refuse(noScrub);
  o.log(`data copy from ${from}: looking for its newest verified backup (${o.source.description})`);
  let backup;
  try {
    backup = await o.source.newestVerified();
  } catch (error) {
    return refuse(error);
  }
  o.log(`data copy from ${from}: restoring backup ${backup.id} (taken ${backup.createdAt})${o.settings.scrubFile ? `, then ${path.basename(o.settings.scrubFile)}` : ''}`);
  try {
    const result = await importData({
      ledger: o.ledger(),
      layout: o.layout,
      environment: o.environment,
      trigger: 'schedule',
      request: {
        backupId: backup.id,
        backupDir: backup.dir,
        ...(o.settings.scrubFile ? { scrubFile: o.settings.scrubFile } : {}),
        who: WHO,
        reason: `scheduled data copy from ${from} (backup ${backup.id})${o.settings.scrubFile ? ', scrubbed' : ', not scrubbed'}`,
      },
      run: o.run,
    });
    if (result.ok) {
      o.log(`data copy from ${from} done: ${o.environment} runs on backup ${backup.id} of ${from}${o.settings.scrubFile ? ', scrubbed' : ''}`);
      return { ok: true, backupId: backup.id };
    }
    const message = result.error?.message ?? 'the copy failed';
    o.log(`data copy from ${from} FAILED: ${message}; ${result.undoFailures?.length ? `undo problems: ${result.undoFailures.join('; ')}` : `${o.environment} is on its previous data`}`);
    return { ok: false, error: message };
  } catch (error) {
    const message = toWireError(error).message;
    o.log(`data copy from ${from} FAILED: ${message}; ${o.environment} keeps its data`);
    return { ok: false, error: message };
  }
}

/**
 * What agent.ts starts when its environment has a data_copy: the source picked from the
 * project (same machine or the store), the scrub file resolved against the project's folder,
 * the copy run through the agent's own update (under its lock, like every update).
 */
export function startAgentCopySchedule(o: {
  project: LoadedProject;
  environment: EnvironmentConfig;
  settings: DataCopySettings;
  layout: HostLayout;
  ledger(): Ledger;
  processEnv: NodeJS.ProcessEnv;
  update(kind: 'rollback', request: UpdateRequest, emit: (event: UpdateEvent) => void): Promise<UpdateOutcome>;
  log(line: string): void;
  /** tests: a moved clock, a short sleep */
  now?: () => Date;
  maxSleepMs?: number;
}): CopySchedule {
  const names = o.project.config.environments.map((e) => e.name);
  const [problem] = dataCopyProblems(o.environment.name, o.settings, names);
  if (problem) throw new SlipwayError('DATA_COPY_INVALID', `environments.${o.environment.name}.data_copy.from: ${problem}`, { exitCode: 2, hint: 'fix data_copy in slipway.yml, then restart the agent' });
  const source = o.project.config.environments.find((e) => e.name === o.settings.from)!;
  return startCopySchedule({
    environment: o.environment.name,
    settings: { from: o.settings.from, schedule: o.settings.schedule, ...(o.settings.scrubFile ? { scrubFile: path.resolve(o.project.dir, o.settings.scrubFile) } : {}) },
    source: copySourceFor({ app: o.project.config.app, projectDir: o.project.dir, source, target: o.environment, layout: o.layout, processEnv: o.processEnv }),
    ledger: o.ledger,
    layout: o.layout,
    run: async (request) => {
      const outcome = await o.update('rollback', request, (event) => {
        if (event.type === 'progress') o.log(`data copy: ${event.line}`);
      });
      return updateResultOf(outcome, request.releaseId);
    },
    log: o.log,
    ...(o.now ? { now: o.now } : {}),
    ...(o.maxSleepMs ? { maxSleepMs: o.maxSleepMs } : {}),
  });
}
