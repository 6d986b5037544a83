/**
 * The schema of `slipway.yml` (snake_case, as written) and its normalization into
 * the ProjectConfig the rest of slipway uses (src/config/types.ts).
 *
 * Error messages live beside the fields they describe and say what is expected in
 * plain words; src/config/problems.ts adds positions and "did you mean".
 */
import path from 'node:path';
import { z } from 'zod';
import { parseVersionRange } from '../util/version.js';
import { CRON_EXPECTED, parseCron } from '../util/cron.js';
import {
  DEFAULT_STANDBY,
  PIPELINE_STEPS,
  type ConfigKeyConfig,
  type DatabaseConfig,
  type EnvironmentConfig,
  type HookConfig,
  type ProjectConfig,
  type RemoteHostConfig,
  type ServiceConfig,
  type StoreConfig,
} from './types.js';

const NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
/** Any environment variable name: apps read `database__client` as readily as `SESSION_SECRET`. */
// __proto__ is the one name a plain object cannot hold as a key.
const CONFIG_KEY_PATTERN = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_VAR_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** `local`, or ssh://[user@]host[:port] */
const HOST_PATTERN = /^(local|ssh:\/\/([^\s@/:]+@)?[^\s@/:]+(:\d{1,5})?)$/;

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

function duration(options: { allowZero?: boolean } = {}) {
  return z
    .custom<number | string>((value) => parseDuration(value) !== undefined, { error: `expected ${DURATION_EXPECTED}` })
    .transform((value) => parseDuration(value) as number)
    .refine((ms) => options.allowZero === true || ms > 0, { error: 'expected a duration longer than zero, like 500ms' });
}

/** An optional mapping whose own keys all have defaults: absent or empty (`health:`) means all defaults. */
function section<Shape extends z.ZodRawShape>(shape: Shape, expected: string) {
  return z.preprocess(
    (value) => (value === undefined || value === null ? {} : value),
    z.strictObject(shape, { error: expectedOnWrongType(expected) }),
  );
}

/** A message for "this is not even the right kind of value", leaving other issues to the default wording. */
function expectedOnWrongType(expected: string) {
  return (issue: { code?: string }) => (issue.code === 'invalid_type' ? `expected ${expected}` : undefined);
}

function integer(options: { min: number; max?: number; what: string }) {
  const expected =
    options.max === undefined
      ? `expected ${options.what}: a whole number, at least ${options.min}`
      : `expected ${options.what}: a whole number from ${options.min} to ${options.max}`;
  const schema = z.number({ error: expected }).int({ error: expected }).min(options.min, { error: expected });
  return options.max === undefined ? schema : schema.max(options.max, { error: expected });
}

function text(what: string) {
  return z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}, not an empty string` });
}

function bool() {
  return z.boolean({ error: 'expected true or false' });
}

function command(what = 'a command line') {
  return text(what);
}

function envVarName() {
  return z
    .string({ error: 'expected an environment variable name like PORT' })
    .regex(ENV_VAR_PATTERN, { error: 'expected an environment variable name like PORT (letters, digits and _)' });
}

/** Paths under the host's shared/ folder: never absolute, never climbing out with `..`. */
function sharedRelativePath(what: string) {
  return text(what).refine((value) => !isAbsoluteAnywhere(value) && !value.split(/[\\/]/).includes('..'), {
    error: `expected ${what} relative to the host's shared folder (not absolute, no ..)`,
  });
}

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
function dataFolders(entries: ReadonlyArray<string | { path: string; seed: boolean }>): { folders: string[]; seed?: string[] } {
  const folders = entries.map((entry) => (typeof entry === 'string' ? entry : entry.path));
  const seed = entries.flatMap((entry) => (typeof entry !== 'string' && entry.seed ? [entry.path] : []));
  return seed.length > 0 ? { folders, seed } : { folders };
}

function isAbsoluteAnywhere(value: string): boolean {
  return path.posix.isAbsolute(value) || path.win32.isAbsolute(value);
}

/** Env values are strings; YAML numbers and booleans are taken as their text. */
function envValue() {
  return z
    .custom<string | number | boolean>(
      (value) => typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)),
      { error: 'expected a text, number or true/false value' },
    )
    .transform((value) => String(value));
}

const VERSION_RANGE_EXPECTED = 'a version range like ">=v2" or ">=1.4.0 <2", or a version like v2 (that version or newer)';

/** Text only: an unquoted YAML number would lose digits (1.10 reads as 1.1). */
function versionRange() {
  return z
    .string({ error: `expected ${VERSION_RANGE_EXPECTED}, as text (quote numbers: "1.10")` })
    .superRefine((value, ctx) => {
      const parsed = parseVersionRange(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `expected ${VERSION_RANGE_EXPECTED}: ${parsed.error}` });
    });
}

/** Text only: a cron expression written unquoted may not even parse as YAML (`* * * * *` reads as an alias). */
function cronExpression() {
  return z
    .string({ error: `expected ${CRON_EXPECTED}, in quotes` })
    .superRefine((value, ctx) => {
      const parsed = parseCron(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `expected ${CRON_EXPECTED}: ${parsed.error}` });
    });
}

function commandList() {
  return z
    .custom<string | string[]>(
      (value) =>
        (typeof value === 'string' && value.length > 0) ||
        (Array.isArray(value) && value.every((item) => typeof item === 'string' && item.length > 0)),
      { error: 'expected a command or a list of commands' },
    )
    .transform((value) => (typeof value === 'string' ? [value] : value));
}

const healthSchema = section(
  {
    path: z
      .string({ error: 'expected an HTTP path like /healthz' })
      .startsWith('/', { error: 'expected an HTTP path starting with /, like /healthz' })
      .default('/healthz'),
    interval: duration().default(500),
    timeout: duration().default(2000),
    successes: integer({ min: 1, what: 'how many answers in a row make the service healthy' }).default(2),
    deadline: duration().default(30_000),
  },
  'a mapping like { path: /healthz, interval: 500ms }',
);

const serviceSchema = z.strictObject(
  {
    command: command('the command that starts the service, like npm start'),
    port_env: envVarName().default('PORT'),
    env: z
      .preprocess(
        (value) => (value === undefined || value === null ? {} : value),
        z.record(envVarName(), envValue(), { error: expectedOnWrongType('a mapping of environment variables, like { NODE_ENV: production }') }),
      ),
    health: healthSchema,
  },
  { error: expectedOnWrongType('a mapping like { command: npm start }') },
);

const databaseSchema = z
  .strictObject(
    {
      engine: z.enum(['postgres', 'mysql', 'sqlite'], { error: 'expected one of: postgres, mysql, sqlite' }),
      path: sharedRelativePath('the database file path').optional(),
      url_env: envVarName().optional(),
    },
    { error: expectedOnWrongType('a mapping like { engine: sqlite, path: data/app.db }') },
  )
  .superRefine((db, ctx) => {
    if (db.engine === 'sqlite') {
      if (db.path === undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: 'missing required key `path`: a sqlite database needs the path of its file, like data/app.db' });
      if (db.url_env !== undefined) ctx.addIssue({ code: 'custom', path: ['url_env'], message: '`url_env` is only for postgres and mysql; a sqlite database takes `path`' });
    } else {
      if (db.url_env === undefined) ctx.addIssue({ code: 'custom', path: ['url_env'], message: `missing required key \`url_env\`: a ${db.engine} database needs the name of the environment variable holding its URL, like DATABASE_URL` });
      if (db.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: `\`path\` is only for sqlite; a ${db.engine} database takes \`url_env\`` });
    }
  });

const migrateSchema = z.preprocess(
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

const HOOK_KEYS = PIPELINE_STEPS.flatMap((step) => [`before_${step}`, `after_${step}`]);

const hooksSchema = section(
  Object.fromEntries(HOOK_KEYS.map((key) => [key, commandList().optional()])) as Record<string, z.ZodOptional<ReturnType<typeof commandList>>>,
  'a mapping like { before_migrate: [npm run check] }',
);

const configKeySchema = section(
  {
    required: bool().default(false),
    secret: bool().default(false),
    default: envValue().optional(),
    description: z.string({ error: 'expected a text description' }).optional(),
  },
  'a mapping like { required: true, description: "…" }',
);

const storeSchema = z.preprocess(
  (value) => (value === undefined || value === null || value === 'local' ? { type: 'local' } : value),
  z
    .strictObject(
      {
        type: z.enum(['local', 's3'], { error: 'expected one of: local, s3' }),
        path: text('a folder path').optional(),
        bucket: text('a bucket name').optional(),
        region: text('a region name like us-east-1').optional(),
        endpoint: text('an endpoint URL like https://s3.example.com').optional(),
        prefix: z.string({ error: 'expected a key prefix like releases/' }).optional(),
        force_path_style: bool().optional(),
      },
      { error: expectedOnWrongType('`local` or a mapping like { type: s3, bucket: my-bucket }') },
    )
    .superRefine((store, ctx) => {
      if (store.type === 's3') {
        if (store.bucket === undefined) ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'missing required key `bucket`: an s3 store needs a bucket name' });
        if (store.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: '`path` is only for a local store; an s3 store takes `bucket` and `prefix`' });
      } else {
        for (const key of ['bucket', 'region', 'endpoint', 'prefix', 'force_path_style'] as const) {
          if (store[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `\`${key}\` is only for an s3 store; a local store takes \`path\`` });
        }
      }
    }),
);

const SSH_URL_PATTERN = /^ssh:\/\/([^\s@/:]+@)?[^\s@/:]+(:\d{1,5})?$/;

function nameList(what: string, example: string) {
  return z.array(
    z.string({ error: `expected a ${what} name like ${example}` }).regex(NAME_PATTERN, { error: `expected a ${what} name of lowercase letters, digits and - (like ${example})` }),
    { error: `expected a list of ${what} names, like [${example}]` },
  );
}

/** One server of an environment, reached over SSH; `depends_on` names hosts or services updated before it. */
const remoteHostSchema = z.strictObject(
  {
    ssh: z
      .string({ error: 'expected ssh://user@host[:port]' })
      .regex(SSH_URL_PATTERN, { error: 'expected ssh://user@host[:port]' }),
    root: z
      .string({ error: 'expected an absolute folder path on that host, like /srv/slipway' })
      .refine((value) => path.posix.isAbsolute(value), { error: 'expected an absolute folder path on that host, like /srv/slipway' })
      .optional(),
    port: integer({ min: 1, max: 65535, what: 'a port number' }).optional(),
    bind: z
      .string({ error: 'expected an IP address to listen on, like 127.0.0.1 or 0.0.0.0' })
      .regex(/^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+|localhost)$/, { error: 'expected an IP address to listen on, like 127.0.0.1 or 0.0.0.0' })
      .optional(),
    services: nameList('service', 'web').optional(),
    depends_on: nameList('host or service', 'auth').default([]),
  },
  { error: expectedOnWrongType('a mapping like { ssh: ssh://deploy@app1.example.com, depends_on: [auth] }') },
);

const environmentSchema = z.strictObject(
  {
    host: z
      .string({ error: 'expected `local` or ssh://user@host[:port]' })
      .regex(HOST_PATTERN, { error: 'expected `local` or ssh://user@host[:port]' })
      .optional(),
    hosts: z
      .record(
        z.string().regex(NAME_PATTERN, { error: 'expected a host name of lowercase letters, digits and - (like app1)' }),
        remoteHostSchema,
        { error: expectedOnWrongType('a mapping of hosts by name, like auth: { ssh: ssh://deploy@auth.example.com }') },
      )
      .refine((map) => Object.keys(map).length > 0, { error: 'expected at least one host, like auth: { ssh: ssh://deploy@auth.example.com }' })
      .optional(),
    services: nameList('service', 'web').optional(),
    root: z
      .string({ error: 'expected an absolute folder path like /srv/app' })
      .refine((value) => path.posix.isAbsolute(value), { error: 'expected an absolute folder path like /srv/app' })
      .optional(),
    port: integer({ min: 1, max: 65535, what: 'a port number' }),
    bind: z
      .string({ error: 'expected an IP address to listen on, like 127.0.0.1 or 0.0.0.0' })
      .regex(/^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+|localhost)$/, { error: 'expected an IP address to listen on, like 127.0.0.1 or 0.0.0.0' })
      .default('127.0.0.1'),
    store: storeSchema,
    require_signature: bool().default(false),
    public_keys: z
      .array(text('the path of a public key file'), { error: 'expected a list of public key files, like [keys/prod.pub]' })
      .default([]),
    retention: section(
      {
        releases: integer({ min: 1, what: 'how many releases to keep' }).default(5),
        backups: section(
          {
            last: integer({ min: 1, what: 'how many recent backups to keep' }).default(10),
            daily: integer({ min: 0, what: 'how many daily backups to keep' }).default(7),
            weekly: integer({ min: 0, what: 'how many weekly backups to keep' }).default(4),
          },
          'a mapping like { last: 10, daily: 7, weekly: 4 }',
        ),
      },
      'a mapping like { releases: 5, backups: { last: 10 } }',
    ),
    health_window: duration({ allowZero: true }).default(10_000),
    drain_timeout: duration({ allowZero: true }).default(10_000),
    standby: standbySetting().optional(),
    pull: z
      .strictObject(
        {
          interval: duration().default(60_000),
          jitter: duration({ allowZero: true }).default(5_000),
        },
        { error: expectedOnWrongType('a mapping like { interval: 30s }') },
      )
      .optional(),
    management: z
      .strictObject(
        {
          bind: z.string({ error: 'expected an IP address like 127.0.0.1' }).default('127.0.0.1'),
          port: integer({ min: 1, max: 65535, what: 'a port number' }),
          secret_env: text('the name of the environment variable holding the shared secret').default('SLIPWAY_MANAGEMENT_SECRET'),
        },
        { error: expectedOnWrongType('a mapping like { port: 9090, secret_env: SLIPWAY_MANAGEMENT_SECRET }') },
      )
      .optional(),
    backup_key_env: text('the name of the environment variable holding the backup encryption key').optional(),
    offsite_backups: bool().optional(),
    backup_schedule: cronExpression().optional(),
    hostname: text('a name for this host in status reports').optional(),
  },
  { error: expectedOnWrongType('a mapping like { host: local, port: 8080 }') },
).superRefine((env, ctx) => {
  if (env.hosts !== undefined && env.host !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['hosts'], message: 'use either `host` (one server) or `hosts` (several), not both' });
  }
  if (env.hosts !== undefined) {
    // Names that exist are checked against the project's services in cross-field-rules.ts.
    for (const [name, host] of Object.entries(env.hosts)) {
      host.depends_on.forEach((dependency, index) => {
        if (dependency === name) ctx.addIssue({ code: 'custom', path: ['hosts', name, 'depends_on', index], message: `host ${name} cannot depend on itself` });
      });
    }
  }
  if (env.offsite_backups === true && env.backup_key_env === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['offsite_backups'],
      message: 'offsite_backups is true but no backup_key_env names the environment variable holding the encryption key; add backup_key_env: SLIPWAY_BACKUP_KEY (a key made with `openssl rand -base64 32`)',
    });
  }
});

/** Bytes for a size like `512MB`, `1.5GiB` or a plain number of bytes; undefined when malformed. */
function parseByteSize(value: unknown): number | undefined {
  const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)\s*$/i.exec(value) : null;
  return match ? Math.round(Number(match[1]) * BYTE_UNITS[match[2]!.toLowerCase()]!) : undefined;
}

/**
 * `standby`: how long the release that served before an update keeps running, unrouted, so that a
 * code rollback is a proxy switch (src/runtime/standby.ts). A duration, `off` (or false, or 0), or a
 * mapping that also sets the memory the host must have available to keep it. Absent: DEFAULT_STANDBY.
 */
function standbySetting() {
  // Declared in here: the environment schema above calls this while the module loads.
  const STANDBY_EXPECTED = 'a duration like 10m, `off`, or a mapping like { window: 10m, min_memory: 512MB }';
  const windowValue = z
    .custom<string | number | boolean>((value) => value === 'off' || value === false || parseDuration(value) !== undefined, { error: `expected ${STANDBY_EXPECTED}` })
    .transform((value) => (value === 'off' || value === false ? 0 : (parseDuration(value) as number)));
  return z.preprocess(
    (value) => (value === null ? {} : typeof value === 'object' ? value : { window: value }),
    z
      .strictObject(
        {
          window: windowValue.default(DEFAULT_STANDBY.windowMs),
          min_memory: z
            .custom<string | number>((value) => parseByteSize(value) !== undefined, { error: 'expected a size like 256MB or 1GiB' })
            .transform((value) => parseByteSize(value) as number)
            .default(DEFAULT_STANDBY.minAvailableBytes),
        },
        { error: expectedOnWrongType(STANDBY_EXPECTED) },
      )
      .transform((standby) => ({ windowMs: standby.window, minAvailableBytes: standby.min_memory })),
  );
}

function namedMap<T extends z.ZodType>(options: { item: T; what: string; example: string }) {
  return z
    .record(
      z.string().regex(NAME_PATTERN, { error: `expected a ${options.what} name of lowercase letters, digits and - (like ${options.example})` }),
      options.item,
      { error: expectedOnWrongType(`a mapping of ${options.what}s by name, like ${options.example}: …`) },
    )
    .refine((map) => Object.keys(map).length > 0, { error: `expected at least one ${options.what}, like ${options.example}: …` });
}

export const projectFileSchema = z.strictObject(
  {
    app: z
      .string({ error: 'expected the app name, like notes' })
      .regex(NAME_PATTERN, { error: 'expected an app name of lowercase letters, digits and - (like notes)' }),
    services: namedMap({ item: serviceSchema, what: 'service', example: 'web' }),
    build: section(
      {
        commands: z.array(command(), { error: 'expected a list of commands, like [npm ci]' }).default([]),
        include: z.array(text('a glob'), { error: 'expected a list of globs, like ["dist/**"]' }).default([]),
        exclude: z.array(text('a glob'), { error: 'expected a list of globs, like [".git/**"]' }).default([]),
      },
      'a mapping like { commands: [npm ci] }',
    ),
    data: section(
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
    ),
    migrate: migrateSchema,
    hooks: hooksSchema,
    config: z.preprocess(
      (value) => (value === undefined || value === null ? {} : value),
      z.record(
        z.string().regex(CONFIG_KEY_PATTERN, {
          error: 'expected an environment variable name: letters, digits and _, not starting with a digit (like SESSION_SECRET or database__client)',
        }),
        configKeySchema,
        { error: expectedOnWrongType('a mapping of config keys, like SESSION_SECRET: { required: true, secret: true }') },
      ),
    ),
    environments: namedMap({ item: environmentSchema, what: 'environment', example: 'production' }),
    signing: section({ key: text('the path of the private key file').optional() }, 'a mapping like { key: keys/slipway.key }'),
    upgrade: z
      .strictObject({ from: versionRange() }, { error: expectedOnWrongType('a mapping like { from: ">=v2" }') })
      .optional(),
  },
  { error: expectedOnWrongType('a mapping with at least app, services and environments') },
);

export type ProjectFile = z.output<typeof projectFileSchema>;

/** The keys a strict mapping at `path` accepts, for "did you mean"; undefined when the path leads nowhere known. */
export function knownKeysAt(pathInFile: readonly PropertyKey[]): string[] | undefined {
  let schema: z.ZodType | undefined = projectFileSchema;
  for (const segment of pathInFile) {
    schema = unwrapSchema(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodType>)[String(segment)];
    else if (schema instanceof z.ZodRecord) schema = schema.valueType as z.ZodType;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return undefined;
    if (schema === undefined) return undefined;
  }
  schema = unwrapSchema(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
}

function unwrapSchema(schema: z.ZodType): z.ZodType {
  for (;;) {
    if (schema instanceof z.ZodPipe) schema = (schema.out instanceof z.ZodTransform ? schema.in : schema.out) as z.ZodType;
    else if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodNullable) schema = schema.unwrap() as z.ZodType;
    else return schema;
  }
}

/** The host part of ssh://user@host:port, as a host name for messages and status (dots become dashes). */
function sshHostName(url: string): string {
  const host = url.replace(/^ssh:\/\/([^@]*@)?/, '').replace(/:\d+$/, '');
  return host.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'host';
}

/** From the file's snake_case shape to the camelCase ProjectConfig; maps keyed by name become arrays in file order. */
export function toProjectConfig(file: ProjectFile): ProjectConfig {
  const services: ServiceConfig[] = Object.entries(file.services).map(([name, service]) => ({
    name,
    command: service.command,
    portEnv: service.port_env,
    env: service.env,
    health: {
      path: service.health.path,
      intervalMs: service.health.interval,
      timeoutMs: service.health.timeout,
      successes: service.health.successes,
      deadlineMs: service.health.deadline,
    },
  }));

  const databases: DatabaseConfig[] = Object.entries(file.data.databases).map(([name, db]) =>
    db.engine === 'sqlite'
      ? { name, engine: 'sqlite', path: db.path as string }
      : { name, engine: db.engine, urlEnv: db.url_env as string },
  );

  const hooks: HookConfig[] = [];
  for (const step of PIPELINE_STEPS) {
    for (const when of ['before', 'after'] as const) {
      const commands = (file.hooks as Record<string, string[] | undefined>)[`${when}_${step}`];
      if (commands !== undefined && commands.length > 0) hooks.push({ when, step, commands });
    }
  }

  const config: ConfigKeyConfig[] = Object.entries(file.config).map(([name, spec]) => ({
    name,
    required: spec.required,
    secret: spec.secret,
    ...(spec.default === undefined ? {} : { default: spec.default }),
    ...(spec.description === undefined ? {} : { description: spec.description }),
  }));

  const environments: EnvironmentConfig[] = Object.entries(file.environments).map(([name, env]) => {
    const store: StoreConfig =
      env.store.type === 's3'
        ? {
            type: 's3',
            bucket: env.store.bucket as string,
            ...(env.store.region === undefined ? {} : { region: env.store.region }),
            ...(env.store.endpoint === undefined ? {} : { endpoint: env.store.endpoint }),
            ...(env.store.prefix === undefined ? {} : { prefix: env.store.prefix }),
            forcePathStyle: env.store.force_path_style ?? false,
          }
        : { type: 'local', ...(env.store.path === undefined ? {} : { path: env.store.path }) };
    const hosts: RemoteHostConfig[] = env.hosts
      ? Object.entries(env.hosts).map(([hostName, h]) => ({
          name: hostName,
          ssh: h.ssh,
          ...(h.root === undefined ? {} : { root: h.root }),
          ...(h.port === undefined ? {} : { port: h.port }),
          ...(h.bind === undefined ? {} : { bind: h.bind }),
          ...(h.services === undefined ? {} : { services: h.services }),
          dependsOn: h.depends_on,
        }))
      : env.host !== undefined && env.host !== 'local'
        ? [{ name: sshHostName(env.host), ssh: env.host, ...(env.root === undefined ? {} : { root: env.root }), dependsOn: [] }]
        : [];
    return {
      name,
      host: hosts.length === 0 ? 'local' : (env.host ?? hosts[0]!.ssh),
      hosts,
      ...(env.services === undefined ? {} : { services: env.services }),
      ...(env.root === undefined ? {} : { root: env.root }),
      port: env.port,
      bind: env.bind,
      store,
      requireSignature: env.require_signature,
      publicKeys: env.public_keys,
      retention: {
        releases: env.retention.releases,
        backups: { ...env.retention.backups },
      },
      healthWindowMs: env.health_window,
      drainTimeoutMs: env.drain_timeout,
      ...(env.standby === undefined ? {} : { standby: env.standby }),
      pull: env.pull ? { intervalMs: env.pull.interval, jitterMs: env.pull.jitter } : null,
      management: env.management ? { bind: env.management.bind, port: env.management.port, secretEnv: env.management.secret_env } : null,
      ...(env.backup_key_env === undefined ? {} : { backupKeyEnv: env.backup_key_env }),
      ...(env.offsite_backups === undefined && env.backup_key_env === undefined ? {} : { offsiteBackups: env.offsite_backups ?? true }),
      ...(env.backup_schedule === undefined ? {} : { backupSchedule: env.backup_schedule.trim() }),
      ...(env.hostname === undefined ? {} : { hostname: env.hostname }),
    };
  });

  return {
    app: file.app,
    services,
    build: { commands: file.build.commands, include: file.build.include, exclude: file.build.exclude },
    data: { databases, ...dataFolders(file.data.folders) },
    migrate:
      file.migrate === undefined
        ? null
        : { command: file.migrate.command, reversible: file.migrate.reversible, timeoutMs: file.migrate.timeout },
    hooks,
    config,
    environments,
    signing: file.signing.key === undefined ? {} : { key: file.signing.key },
    ...(file.upgrade === undefined ? {} : { upgrade: { from: file.upgrade.from.trim() } }),
  };
}
