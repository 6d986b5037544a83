/**
 * Cron expressions of five fields (minute hour day-of-month month day-of-week), as
 * crontab(5) writes them, and the next time one matches. Shared by the config schema
 * (validation, with a message that names the field) and the agent's backup schedule.
 *
 * Accepted per field: `*`, a number, a range `a-b`, a step after any of these
 * (`a-b/n`; `a/n` runs from a to the end; `*` then `/n` covers the field), lists
 * with commas, month and weekday names (jan, mon…); weekday 0 or 7 is Sunday.
 * Shorthands: @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually).
 * As in Vixie cron, when both day fields are restricted (neither starts with `*`),
 * a day matches if either matches.
 *
 * Times are wall-clock times, in the server's local time zone unless `utc` is asked
 * for. Around daylight-saving changes: a time the clocks skip does not run that day,
 * and a time the clocks repeat runs once.
 */

export interface CronSchedule {
  /** the expression as written */
  source: string;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday */
  daysOfWeek: ReadonlySet<number>;
  /** the day-of-month field starts with `*` */
  anyDayOfMonth: boolean;
  /** the day-of-week field starts with `*` */
  anyDayOfWeek: boolean;
}

export type CronParseResult = { ok: true; schedule: CronSchedule } | { ok: false; error: string };

export const CRON_EXPECTED = 'a cron expression of 5 fields (minute hour day-of-month month day-of-week), like "0 3 * * *"';

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

const SHORTHANDS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** The longest month of each month number (February with its leap day). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

class FieldError extends Error {}

export function parseCron(expression: string): CronParseResult {
  const source = expression.trim();
  const text = source.startsWith('@') ? SHORTHANDS[source.toLowerCase()] : source;
  if (text === undefined) {
    return { ok: false, error: `unknown shorthand ${source}; known: ${Object.keys(SHORTHANDS).join(', ')}` };
  }
  const fields = text.split(/\s+/).filter((field) => field !== '');
  if (fields.length !== 5) {
    return { ok: false, error: `${fields.length} field${fields.length === 1 ? '' : 's'} given, 5 needed` };
  }
  const sets: Array<Set<number>> = [];
  for (const [index, field] of fields.entries()) {
    const spec = FIELDS[index];
    try {
      sets.push(parseField(field, spec));
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      return { ok: false, error: `field ${index + 1} (${spec.name}) "${field}": ${error.message}` };
    }
  }
  const [minutes, hours, daysOfMonth, months, weekdays] = sets;
  // 7 is Sunday too.
  const daysOfWeek = new Set([...weekdays].map((day) => day % 7));
  const schedule: CronSchedule = {
    source,
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    anyDayOfMonth: fields[2].startsWith('*'),
    anyDayOfWeek: fields[4].startsWith('*'),
  };
  // "0 0 30 2 *" is valid syntax that never runs: say so rather than wait forever.
  if (schedule.anyDayOfWeek && ![...months].some((month) => [...daysOfMonth].some((day) => day <= MONTH_DAYS[month - 1]))) {
    return { ok: false, error: `it never runs: no month it names has day ${[...daysOfMonth].join(',')}` };
  }
  return { ok: true, schedule };
}

function parseField(field: string, spec: FieldSpec): Set<number> {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    if (part === '') throw new FieldError('an empty item in a list');
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined) throw new FieldError('more than one /');
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) throw new FieldError(`the step "${stepText}" is not a whole number`);
      step = Number(stepText);
      if (step < 1) throw new FieldError('the step must be at least 1');
    }
    let from: number;
    let to: number;
    if (range === '*') {
      from = spec.min;
      to = spec.max;
    } else if (range.includes('-')) {
      const [a, b, more] = range.split('-');
      if (more !== undefined || a === '' || b === '') throw new FieldError(`"${range}" is not a range like 1-5`);
      from = value(a, spec);
      to = value(b, spec);
      if (to < from) throw new FieldError(`the range ${a}-${b} goes backwards`);
    } else {
      from = value(range, spec);
      // `a/n` runs from a to the end of the field.
      to = stepText === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

function value(text: string, spec: FieldSpec): number {
  const byName = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  if (byName >= 0) return byName + spec.min;
  if (!/^\d+$/.test(text)) {
    const names = spec.names ? ` or a name like ${spec.names[1]}` : '';
    throw new FieldError(`"${text}" is not a number${names}`);
  }
  const number = Number(text);
  if (number < spec.min || number > spec.max) throw new FieldError(`${number} is out of range ${spec.min}-${spec.max}`);
  return number;
}

export interface CronTimeOptions {
  /** evaluate in UTC rather than the server's local time zone */
  utc?: boolean;
}

const MINUTE_MS = 60_000;
/** Far enough for any schedule that can match (a 29 February that is also a Monday recurs within 28 years). */
const SEARCH_LIMIT_MS = 30 * 366 * 86_400_000;

/**
 * The first time strictly after `after` (to the minute) that the schedule matches,
 * whose wall-clock time is also later than `after`'s (so an hour the clocks repeat
 * runs once); null when there is none within decades.
 */
export function nextCronTime(schedule: CronSchedule, after: Date, options: CronTimeOptions = {}): Date | null {
  const clock = options.utc ? utcClock : localClock;
  const afterWall = wallKey(clock.parts(after.getTime()));
  const limit = after.getTime() + SEARCH_LIMIT_MS;
  let t = Math.floor(after.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  while (t <= limit) {
    const p = clock.parts(t);
    let next: number;
    if (!schedule.months.has(p.month)) next = clock.startOfMonth(p.year, p.month + 1);
    else if (!dayMatches(schedule, p)) next = clock.startOfDay(p.year, p.month, p.day + 1);
    else if (!schedule.hours.has(p.hour)) next = t + (60 - p.minute) * MINUTE_MS;
    else if (!schedule.minutes.has(p.minute) || wallKey(p) <= afterWall) next = t + MINUTE_MS;
    else return new Date(t);
    // Never step backwards, whatever the time zone does at midnight.
    t = Math.max(next, t + MINUTE_MS);
  }
  return null;
}

function dayMatches(schedule: CronSchedule, p: WallParts): boolean {
  const byMonthDay = schedule.daysOfMonth.has(p.day);
  const byWeekDay = schedule.daysOfWeek.has(p.weekday);
  if (schedule.anyDayOfMonth || schedule.anyDayOfWeek) return byMonthDay && byWeekDay;
  return byMonthDay || byWeekDay;
}

interface WallParts {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  weekday: number;
  hour: number;
  minute: number;
}

function wallKey(p: WallParts): number {
  return ((((p.year * 100 + p.month) * 100 + p.day) * 100 + p.hour) * 100) + p.minute;
}

interface Clock {
  parts(t: number): WallParts;
  /** month may be 13: the next year's January */
  startOfMonth(year: number, month: number): number;
  startOfDay(year: number, month: number, day: number): number;
}

const localClock: Clock = {
  parts(t) {
    const d = new Date(t);
    return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), weekday: d.getDay(), hour: d.getHours(), minute: d.getMinutes() };
  },
  startOfMonth: (year, month) => new Date(year, month - 1, 1).getTime(),
  startOfDay: (year, month, day) => new Date(year, month - 1, day).getTime(),
};

const utcClock: Clock = {
  parts(t) {
    const d = new Date(t);
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay(), hour: d.getUTCHours(), minute: d.getUTCMinutes() };
  },
  startOfMonth: (year, month) => Date.UTC(year, month - 1, 1),
  startOfDay: (year, month, day) => Date.UTC(year, month - 1, day),
};
