/**
 * The kinds of value the fields of `slipway.yml` take (durations, names, commands,
 * paths, mappings with defaults…), each with the plain-words message it gives when a
 * value is not of its kind. The sections (schema-*.ts) are built from these.
 */
import path from 'node:path';
import { z } from 'zod';
import { parseVersionRange } from '../util/version.js';
import { CRON_EXPECTED, parseCron } from '../util/cron.js';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
const ENV_VAR_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const DURATION_EXPECTED = 'a duration like 500ms, 2s or 1m';

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds for a duration written as a number of ms or a string like `250ms`, `2s`, `1.5m`, `1h`; undefined when malformed. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2]]);
}

export function duration(options: { allowZero?: boolean } = {}) {
  return z
    .custom<number | string>((value) => parseDuration(value) !== undefined, { error: `expected ${DURATION_EXPECTED}` })
    .transform((value) => parseDuration(value) as number)
    .refine((ms) => options.allowZero === true || ms > 0, { error: 'expected a duration longer than zero, like 500ms' });
}

/** An optional mapping whose own keys all have defaults: absent or empty (`health:`) means all defaults. */
export function section<Shape extends z.ZodRawShape>(shape: Shape, expected: string) {
  return z.preprocess(
    (value) => (value === undefined || value === null ? {} : value),
    z.strictObject(shape, { error: expectedOnWrongType(expected) }),
  );
}

/** A message for "this is not even the right kind of value", leaving other issues to the default wording. */
export function expectedOnWrongType(expected: string) {
  return (issue: { code?: string }) => (issue.code === 'invalid_type' ? `expected ${expected}` : undefined);
}

export function integer(options: { min: number; max?: number; what: string }) {
  const expected =
    options.max === undefined
      ? `expected ${options.what}: a whole number, at least ${options.min}`
      : `expected ${options.what}: a whole number from ${options.min} to ${options.max}`;
  const schema = z.number({ error: expected }).int({ error: expected }).min(options.min, { error: expected });
  return options.max === undefined ? schema : schema.max(options.max, { error: expected });
}

export function text(what: string) {
  return z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}, not an empty string` });
}

export function bool() {
  return z.boolean({ error: 'expected true or false' });
}

export function command(what = 'a command line') {
  return text(what);
}

export function envVarName() {
  return z
    .string({ error: 'expected an environment variable name like PORT' })
    .regex(ENV_VAR_PATTERN, { error: 'expected an environment variable name like PORT (letters, digits and _)' });
}

/** Paths under the host's shared/ folder: never absolute, never climbing out with `..`. */
export function sharedRelativePath(what: string) {
  return text(what).refine((value) => !isAbsoluteAnywhere(value) && !value.split(/[\\/]/).includes('..'), {
    error: `expected ${what} relative to the host's shared folder (not absolute, no ..)`,
  });
}

function isAbsoluteAnywhere(value: string): boolean {
  return path.posix.isAbsolute(value) || path.win32.isAbsolute(value);
}

/** Env values are strings; YAML numbers and booleans are taken as their text. */
export function envValue() {
  return z
    .custom<string | number | boolean>(
      (value) => typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)),
      { error: 'expected a text, number or true/false value' },
    )
    .transform((value) => String(value));
}

const VERSION_RANGE_EXPECTED = 'a version range like ">=v2" or ">=1.4.0 <2", or a version like v2 (that version or newer)';

/** Text only: an unquoted YAML number would lose digits (1.10 reads as 1.1). */
export function versionRange() {
  return z
    .string({ error: `expected ${VERSION_RANGE_EXPECTED}, as text (quote numbers: "1.10")` })
    .superRefine((value, ctx) => {
      const parsed = parseVersionRange(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `expected ${VERSION_RANGE_EXPECTED}: ${parsed.error}` });
    });
}

/** Text only: a cron expression written unquoted may not even parse as YAML (`* * * * *` reads as an alias). */
export function cronExpression() {
  return z
    .string({ error: `expected ${CRON_EXPECTED}, in quotes` })
    .superRefine((value, ctx) => {
      const parsed = parseCron(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `expected ${CRON_EXPECTED}: ${parsed.error}` });
    });
}

export function commandList() {
  return z
    .custom<string | string[]>(
      (value) =>
        (typeof value === 'string' && value.length > 0) ||
        (Array.isArray(value) && value.every((item) => typeof item === 'string' && item.length > 0)),
      { error: 'expected a command or a list of commands' },
    )
    .transform((value) => (typeof value === 'string' ? [value] : value));
}

export function namedMap<T extends z.ZodType>(options: { item: T; what: string; example: string }) {
  return z
    .record(
      z.string().regex(NAME_PATTERN, { error: `expected a ${options.what} name of lowercase letters, digits and - (like ${options.example})` }),
      options.item,
      { error: expectedOnWrongType(`a mapping of ${options.what}s by name, like ${options.example}: …`) },
    )
    .refine((map) => Object.keys(map).length > 0, { error: `expected at least one ${options.what}, like ${options.example}: …` });
}
