/**
 * The `data` section of `slipway.yml` (the databases and folders a backup holds) and
 * `migrate`, the command that changes the databases' schema during an update.
 */
import { z } from 'zod';
import { NAME_PATTERN, bool, command, duration, envVarName, expectedOnWrongType, section, sharedRelativePath } from './schema-fields.js';

const SEEDED_FOLDER_EXAMPLE = '{ path: content, seed: true }';

/**
 * A `data.folders` entry: a path, or `{ path, seed }`. A seeded folder starts as a
 * copy of what the release ships at that path, on the first deploy that finds no
 * shared folder there (themes, default content); later deploys never touch it.
 */
function dataFolder() {
  const expected = `expected a folder path like uploads, or ${SEEDED_FOLDER_EXAMPLE} to fill the folder with what the release ships there on the first deploy`;
  return z.union(
    [
      sharedRelativePath('a folder path'),
      z.strictObject({
        path: sharedRelativePath('a folder path'),
        seed: z.boolean({ error: 'expected true (fill the shared folder from the release on the first deploy) or false' }).default(false),
      }),
    ],
    {
      error: (issue) =>
        issue.code !== 'invalid_union'
          ? undefined
          : typeof issue.input === 'object' && issue.input !== null
            ? `expected ${SEEDED_FOLDER_EXAMPLE}: path is the folder, seed (true or false) fills it from the release on the first deploy`
            : expected,
    },
  );
}

/** folders as paths, and which of them are seeded; `seed` only when some are, so manifests of projects without it keep their ids. */
export function dataFolders(entries: ReadonlyArray<string | { path: string; seed: boolean }>): { folders: string[]; seed?: string[] } {
  const folders = entries.map((entry) => (typeof entry === 'string' ? entry : entry.path));
  const seed = entries.flatMap((entry) => (typeof entry !== 'string' && entry.seed ? [entry.path] : []));
  return seed.length > 0 ? { folders, seed } : { folders };
}

const databaseSchema = z
  .strictObject(
    {
      engine: z.enum(['postgres', 'mysql', 'sqlite'], { error: 'expected one of: postgres, mysql, sqlite' }),
      path: sharedRelativePath('the database file path').optional(),
      url_env: envVarName().optional(),
      accessory: z.string({ error: 'expected the name of the accessory that runs this database, like db' }).optional(),
    },
    { error: expectedOnWrongType('a mapping like { engine: sqlite, path: data/app.db }') },
  )
  .superRefine((db, ctx) => {
    if (db.engine === 'sqlite') {
      if (db.path === undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: 'missing required key `path`: a sqlite database needs the path of its file, like data/app.db' });
      if (db.url_env !== undefined) ctx.addIssue({ code: 'custom', path: ['url_env'], message: '`url_env` is only for postgres and mysql; a sqlite database takes `path`' });
      if (db.accessory !== undefined) ctx.addIssue({ code: 'custom', path: ['accessory'], message: '`accessory` is only for postgres and mysql; a sqlite database is a file under the host\'s shared folder' });
    } else {
      if (db.url_env === undefined) ctx.addIssue({ code: 'custom', path: ['url_env'], message: `missing required key \`url_env\`: a ${db.engine} database needs the name of the environment variable holding its URL, like DATABASE_URL` });
      if (db.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: `\`path\` is only for sqlite; a ${db.engine} database takes \`url_env\`` });
    }
  });

export const dataSchema = section(
  {
    databases: z.preprocess(
      (value) => (value === undefined || value === null ? {} : value),
      z.record(
        z.string().regex(NAME_PATTERN, { error: 'expected a database name of lowercase letters, digits and - (like main)' }),
        databaseSchema,
        { error: expectedOnWrongType('a mapping of databases by name, like main: { engine: sqlite, path: data/app.db }') },
      ),
    ),
    folders: z.array(dataFolder(), { error: `expected a list of folders, like [uploads, ${SEEDED_FOLDER_EXAMPLE}]` }).default([]),
  },
  'a mapping like { databases: …, folders: [uploads] }',
);

export const migrateSchema = z.preprocess(
  (value) => (value === null ? undefined : value),
  z
    .strictObject(
      {
        command: command('the migration command, like npm run migrate'),
        reversible: bool().default(false),
        timeout: duration().default(600_000),
      },
      { error: expectedOnWrongType('a mapping like { command: npm run migrate }') },
    )
    .optional(),
);
