// Scheduled backups: cron expressions (parsing, next times, errors with a position in
// slipway.yml) and the agent's runner on a real timer with a moved clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatProblem, parseProjectText } from '../../src/config/load.js';
import { SlipwayError } from '../../src/errors.js';
import { startBackupSchedule } from '../../src/agent/backup-schedule.js';
import { nextCronTime, parseCron } from '../../src/util/cron.js';
import { expectThrows } from '../helpers/expect-error.js';

function next(expression: string, afterIso: string): string | null {
  const parsed = parseCron(expression);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  return nextCronTime(parsed.schedule, new Date(afterIso), { utc: true })?.toISOString() ?? null;
}

function cronError(expression: string): string {
  const parsed = parseCron(expression);
  assert.equal(parsed.ok, false, `${expression} should be refused`);
  return (parsed as { error: string }).error;
}

test('next times of common schedules (UTC)', () => {
  assert.equal(next('0 3 * * *', '2026-03-01T02:59:30Z'), '2026-03-01T03:00:00.000Z');
  assert.equal(next('0 3 * * *', '2026-03-01T03:00:00Z'), '2026-03-02T03:00:00.000Z', 'strictly after');
  assert.equal(next('* * * * *', '2026-03-01T10:15:59.999Z'), '2026-03-01T10:16:00.000Z');
  assert.equal(next('*/15 * * * *', '2026-03-01T10:15:00Z'), '2026-03-01T10:30:00.000Z');
  assert.equal(next('30 1-5/2 * * *', '2026-03-01T03:31:00Z'), '2026-03-01T05:30:00.000Z');
  assert.equal(next('0 0 * * mon', '2026-03-01T12:00:00Z'), '2026-03-02T00:00:00.000Z', '1 March 2026 is a Sunday');
  assert.equal(next('0 0 * * 7', '2026-03-02T12:00:00Z'), '2026-03-08T00:00:00.000Z', '7 is Sunday');
  assert.equal(next('0 12 1 jan,jul *', '2026-03-01T00:00:00Z'), '2026-07-01T12:00:00.000Z');
  assert.equal(next('59 23 31 12 *', '2026-12-31T23:59:00Z'), '2027-12-31T23:59:00.000Z', 'across the year');
  assert.equal(next('0 0 29 2 *', '2026-03-01T00:00:00Z'), '2028-02-29T00:00:00.000Z', 'the next leap day');
  // Both day fields restricted: either matches (the 13th, or any Friday).
  assert.equal(next('0 0 13 * fri', '2026-03-01T00:00:00Z'), '2026-03-06T00:00:00.000Z');
  assert.equal(next('0 0 13 * fri', '2026-03-07T00:00:00Z'), '2026-03-13T00:00:00.000Z');
  assert.equal(next('@daily', '2026-03-01T00:00:00Z'), '2026-03-02T00:00:00.000Z');
  assert.equal(next('@hourly', '2026-03-01T00:00:00Z'), '2026-03-01T01:00:00.000Z');
});

/** Does the schedule match this UTC minute (straight from the definition, no search)? */
function matchesUtc(expression: string, date: Date): boolean {
  const parsed = parseCron(expression);
  assert.ok(parsed.ok);
  const s = parsed.schedule;
  const byMonthDay = s.daysOfMonth.has(date.getUTCDate());
  const byWeekDay = s.daysOfWeek.has(date.getUTCDay());
  const day = s.anyDayOfMonth || s.anyDayOfWeek ? byMonthDay && byWeekDay : byMonthDay || byWeekDay;
  return s.minutes.has(date.getUTCMinutes()) && s.hours.has(date.getUTCHours()) && s.months.has(date.getUTCMonth() + 1) && day;
}

test('property: the next time matches, is later, and no minute in between matches', () => {
  const field = (min: number, max: number) =>
    fc.oneof(
      fc.constant('*'),
      fc.integer({ min, max }).map(String),
      fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }), fc.integer({ min: 1, max: 7 })).map(([a, b, step]) => `${Math.min(a, b)}-${Math.max(a, b)}/${step}`),
      fc.integer({ min: 1, max: 20 }).map((step) => `*/${step}`),
      fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 4 }).map((values) => values.join(',')),
    );
  fc.assert(
    fc.property(
      field(0, 59),
      field(0, 23),
      fc.oneof(fc.constant('*'), field(1, 28)),
      fc.oneof(fc.constant('*'), field(1, 12)),
      field(0, 7),
      fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2090-01-01T00:00:00Z'), noInvalidDate: true }),
      (minute, hour, dayOfMonth, month, dayOfWeek, after) => {
        const expression = `${minute} ${hour} ${dayOfMonth} ${month} ${dayOfWeek}`;
        const parsed = parseCron(expression);
        assert.ok(parsed.ok, `${expression}: ${parsed.ok ? '' : parsed.error}`);
        const found = nextCronTime(parsed.schedule, after, { utc: true });
        assert.ok(found, `${expression} after ${after.toISOString()} found nothing`);
        assert.ok(found.getTime() > after.getTime() && found.getUTCSeconds() === 0 && found.getUTCMilliseconds() === 0);
        assert.ok(matchesUtc(expression, found), `${expression}: ${found.toISOString()} does not match`);
        // No earlier match: scan every minute in between when that is cheap (within 3 days).
        const start = Math.floor(after.getTime() / 60_000) * 60_000 + 60_000;
        if (found.getTime() - start <= 3 * 86_400_000) {
          for (let t = start; t < found.getTime(); t += 60_000) assert.ok(!matchesUtc(expression, new Date(t)), `${expression}: ${new Date(t).toISOString()} matches earlier than ${found.toISOString()}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('malformed expressions say which field is wrong and why', () => {
  assert.match(cronError('0 3 * *'), /4 fields given, 5 needed/);
  assert.match(cronError('0 24 * * *'), /field 2 \(hour\) "24": 24 is out of range 0-23/);
  assert.match(cronError('60 * * * *'), /field 1 \(minute\) "60": 60 is out of range 0-59/);
  assert.match(cronError('0 0 0 * *'), /field 3 \(day of month\) "0": 0 is out of range 1-31/);
  assert.match(cronError('0 0 * 13 *'), /field 4 \(month\)/);
  assert.match(cronError('0 0 * * funday'), /field 5 \(day of week\) "funday": "funday" is not a number or a name like mon/);
  assert.match(cronError('*/0 * * * *'), /the step must be at least 1/);
  assert.match(cronError('5-1 * * * *'), /the range 5-1 goes backwards/);
  assert.match(cronError('1,,2 * * * *'), /an empty item/);
  assert.match(cronError('0 0 30 2 *'), /never runs/);
  assert.match(cronError('@reboot'), /unknown shorthand @reboot/);
});

test('local time: a time the clocks repeat runs once, a time they skip waits for the next day', () => {
  const saved = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  try {
    // Berlin: CEST (+02:00) until 25 October 2026, 03:00.
    assert.equal(new Date('2026-07-01T12:00:00Z').getHours(), 14, 'this runtime applies TZ=Europe/Berlin');
    const at130 = parseCron('30 1 * * *');
    const at230 = parseCron('30 2 * * *');
    assert.ok(at130.ok && at230.ok);
    // 25 October 2026: 02:00–02:59 happens twice (first +02:00, then +01:00).
    const first = nextCronTime(at230.schedule, new Date('2026-10-24T23:00:00Z'));
    assert.equal(first?.toISOString(), '2026-10-25T00:30:00.000Z', '02:30 CEST');
    const afterFirst = nextCronTime(at230.schedule, first!);
    assert.equal(afterFirst?.toISOString(), '2026-10-26T01:30:00.000Z', 'not 02:30 CET the same night: the next day');
    // 29 March 2026: 02:00–02:59 does not exist.
    assert.equal(nextCronTime(at230.schedule, new Date('2026-03-28T23:00:00Z'))?.toISOString(), '2026-03-30T00:30:00.000Z');
    assert.equal(nextCronTime(at130.schedule, new Date('2026-03-28T23:00:00Z'))?.toISOString(), '2026-03-29T00:30:00.000Z');
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

/** A clock that runs with real time from a chosen start, and can be moved. */
function movableClock(startIso: string) {
  let offset = new Date(startIso).getTime() - Date.now();
  return {
    now: () => new Date(Date.now() + offset),
    moveTo(iso: string) {
      offset = new Date(iso).getTime() - Date.now();
    },
  };
}

/** The schedule's timer is unref'd (it must not keep an agent alive): a test keeps the loop alive itself. */
function keepAlive(t: { after(fn: () => unknown): void }): void {
  const timer = setInterval(() => undefined, 1_000);
  t.after(() => clearInterval(timer));
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('the schedule plans the next minute and runs the backup at that time', async (t) => {
  keepAlive(t);
  // Local midnight-free minute: 200 ms before the minute turns, in local time.
  const start = new Date(2026, 2, 1, 10, 15, 59, 800);
  const clock = movableClock(start.toISOString());
  const ran = deferred<Date>();
  const lines: string[] = [];
  const schedule = startBackupSchedule({
    cron: '* * * * *',
    now: clock.now,
    log: (line) => lines.push(line),
    takeBackup: async () => {
      ran.resolve(clock.now());
      return { id: '20260301T101600Z-abcdef' };
    },
  });
  t.after(() => schedule.stop());
  const planned = new Date(2026, 2, 1, 10, 16, 0, 0);
  assert.equal(schedule.next()?.getTime(), planned.getTime());
  assert.match(lines[0], /scheduled backups "\* \* \* \* \*" \(server local time\): next at 2026-03-01 10:16 [+-]\d\d:\d\d/);

  const ranAt = await ran.promise;
  assert.ok(ranAt.getTime() >= planned.getTime(), `ran at ${ranAt.toISOString()}, planned ${planned.toISOString()}`);
  // The next run is planned once this one is done.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(schedule.next()?.getTime(), new Date(2026, 2, 1, 10, 17, 0, 0).getTime());
  assert.match(lines.join('\n'), /scheduled backup done: 20260301T101600Z-abcdef; next at 2026-03-01 10:17/);
  await schedule.stop();
  assert.equal(schedule.next(), null);
});

test('a failing backup is logged and the schedule goes on; two never run at once', async (t) => {
  keepAlive(t);
  const clock = movableClock(new Date(2026, 2, 1, 10, 15, 59, 800).toISOString());
  const lines: string[] = [];
  const secondRan = deferred();
  let calls = 0;
  let running = 0;
  let overlapped = false;
  const schedule = startBackupSchedule({
    cron: '* * * * *',
    now: clock.now,
    log: (line) => lines.push(line),
    takeBackup: async () => {
      calls += 1;
      overlapped ||= running > 0;
      running += 1;
      try {
        if (calls === 1) {
          // Time passes during the backup: the next minute is now ~200 ms away.
          clock.moveTo(new Date(2026, 2, 1, 10, 16, 59, 800).toISOString());
          throw new SlipwayError('BACKUP_DISK_FULL', 'The disk is full');
        }
        secondRan.resolve();
        return undefined;
      } finally {
        running -= 1;
      }
    },
  });
  t.after(() => schedule.stop());
  await secondRan.promise;
  await schedule.stop();
  assert.equal(calls, 2);
  assert.equal(overlapped, false);
  assert.match(lines.join('\n'), /scheduled backup FAILED: The disk is full; next at 2026-03-01 10:17/);
});

test('stop() cancels the timer and waits for a backup in progress', async (t) => {
  keepAlive(t);
  const clock = movableClock(new Date(2026, 2, 1, 10, 15, 59, 900).toISOString());
  const started = deferred();
  const finish = deferred();
  let finished = false;
  const schedule = startBackupSchedule({
    cron: '* * * * *',
    now: clock.now,
    log: () => undefined,
    takeBackup: async () => {
      started.resolve();
      await finish.promise;
      finished = true;
    },
  });
  await started.promise;
  const stopping = schedule.stop();
  setTimeout(() => finish.resolve(), 20);
  await stopping;
  assert.equal(finished, true, 'stop() resolved only after the backup finished');
  assert.equal(schedule.next(), null, 'nothing planned after stop');
});

test('an invalid cron expression is refused by the runner', () => {
  expectThrows(() => startBackupSchedule({ cron: '0 3 * *', takeBackup: async () => undefined, log: () => undefined }), 'BACKUP_SCHEDULE_INVALID', { exitCode: 2, message: /5 needed/ });
});

const BASE = 'app: notes\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    port: 8080\n';

test('slipway.yml: backup_schedule and offsite_backups are read, with offsite copies on by default when a key is configured', () => {
  const result = parseProjectText(`${BASE}    backup_key_env: SLIPWAY_BACKUP_KEY\n    backup_schedule: "0 3 * * *"\n`, 'slipway.yml');
  assert.deepEqual(result.problems.map(formatProblem), []);
  const production = result.config!.environments[0];
  assert.equal(production.backupSchedule, '0 3 * * *');
  assert.equal(production.offsiteBackups, true);

  const off = parseProjectText(`${BASE}    backup_key_env: SLIPWAY_BACKUP_KEY\n    offsite_backups: false\n`, 'slipway.yml');
  assert.equal(off.config!.environments[0].offsiteBackups, false);
  const none = parseProjectText(BASE, 'slipway.yml');
  assert.equal(none.config!.environments[0].offsiteBackups, undefined);
  assert.equal(none.config!.environments[0].backupSchedule, undefined);
});

test('slipway.yml: an invalid backup_schedule is a problem at its line and column, naming the field', () => {
  const result = parseProjectText(`${BASE}    backup_schedule: "0 25 * * *"\n`, 'slipway.yml');
  assert.equal(result.config, undefined);
  assert.equal(result.problems.length, 1, result.problems.map(formatProblem).join('\n'));
  const [problem] = result.problems;
  assert.deepEqual({ line: problem.line, column: problem.column, path: problem.path }, { line: 8, column: 22, path: 'environments.production.backup_schedule' });
  assert.match(formatProblem(problem), /^slipway\.yml:8:22: environments\.production\.backup_schedule: expected a cron expression of 5 fields .*: field 2 \(hour\) "25": 25 is out of range 0-23$/);

  const number = parseProjectText(`${BASE}    backup_schedule: 3\n`, 'slipway.yml');
  assert.match(number.problems.map(formatProblem).join('\n'), /slipway\.yml:8:22: .*backup_schedule: expected a cron expression .*, in quotes/);

  const noKey = parseProjectText(`${BASE}    offsite_backups: true\n`, 'slipway.yml');
  assert.match(noKey.problems.map(formatProblem).join('\n'), /slipway\.yml:8:22: environments\.production\.offsite_backups: offsite_backups is true but no backup_key_env/);
});
