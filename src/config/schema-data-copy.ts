/**
 * `environments.<env>.data_copy`: the environment's agent copies another environment's
 * data into it on a schedule (a nightly copy of production into staging), scrubbed by an
 * SQL file; or, said outright with `no_scrub: true`, not scrubbed. Personal data does not
 * reach staging by default, so one of the two must be written.
 */
import { z } from 'zod';
import { NAME_PATTERN, bool, cronExpression, expectedOnWrongType, text } from './schema-fields.js';

const DATA_COPY_EXPECTED = 'a mapping like { from: production, schedule: "0 3 * * *", scrub: scrub.sql }';

export const dataCopySchema = z
  .strictObject(
    {
      from: z
        .string({ error: 'expected the name of the environment to copy from, like production' })
        .regex(NAME_PATTERN, { error: 'expected the name of the environment to copy from, like production' }),
      schedule: cronExpression(),
      scrub: text('the path of an SQL file that anonymises the copy, like scrub.sql').optional(),
      no_scrub: bool().optional(),
    },
    { error: expectedOnWrongType(DATA_COPY_EXPECTED) },
  )
  .superRefine((copy, ctx) => {
    if (copy.scrub !== undefined && copy.no_scrub === true) {
      ctx.addIssue({ code: 'custom', path: ['no_scrub'], message: 'use either `scrub` (an SQL file run on the copy) or `no_scrub: true`, not both' });
    } else if (copy.scrub === undefined && copy.no_scrub !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['scrub'],
        message: 'missing `scrub`: personal data should not reach another environment by default; name an SQL file that anonymises the copy (scrub: scrub.sql), or write no_scrub: true if the data holds none',
      });
    }
  });

export type DataCopyFile = z.infer<typeof dataCopySchema>;

/** What the agent of the target environment does (src/agent/copy-schedule.ts). */
export interface DataCopySettings {
  /** the environment whose newest verified backup is copied */
  from: string;
  /** 5-field cron expression, server local time */
  schedule: string;
  /** the scrub SQL file as written (relative to the project file's folder); absent with noScrub */
  scrubFile?: string;
  noScrub: boolean;
}

export function toDataCopySettings(copy: DataCopyFile): DataCopySettings {
  return { from: copy.from, schedule: copy.schedule.trim(), ...(copy.scrub === undefined ? {} : { scrubFile: copy.scrub }), noScrub: copy.no_scrub === true };
}

/** Cross-field: `from` names another environment of the project; messages for the path environments.<env>.data_copy.from (cross-field-rules.ts, the agent). */
export function dataCopyProblems(environment: string, copy: { from: string }, environmentNames: readonly string[]): string[] {
  if (copy.from === environment) return [`${environment} cannot copy from itself: expected another environment, like production`];
  if (!environmentNames.includes(copy.from)) return [`${copy.from} is not an environment of this project (${environmentNames.join(', ')})`];
  return [];
}
