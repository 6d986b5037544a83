/**
 * The `environments` section of `slipway.yml`: where each environment runs (one host
 * or several), its store, retention, timings, standby, pull and management settings,
 * and the proxies in front of it whose forwarded headers are trusted.
 */
import path from 'node:path';
import { z } from 'zod';
import { ipRangeProblem } from '../util/ip-range.js';
import { DEFAULT_STANDBY } from './types.js';
import { accessoryOverridesSchema } from './schema-accessories.js';
import { hostDomainsSchema, severalHostsTlsProblems, tlsSchema } from './schema-tls.js';
import { dataCopySchema } from './schema-data-copy.js';
import {
  NAME_PATTERN,
  bool,
  cronExpression,
  duration,
  expectedOnWrongType,
  integer,
  parseDuration,
  section,
  text,
} from './schema-fields.js';

/** `local`, or ssh://[user@]host[:port] */
const HOST_PATTERN = /^(local|ssh:\/\/([^\s@/:]+@)?[^\s@/:]+(:\d{1,5})?)$/;

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

/**
 * A registry repository without a scheme: `host[:port]` (a dot, a port or localhost, so the engine
 * takes it for a registry and not a Docker Hub namespace), then optional lowercase path segments.
 */
const REGISTRY_URL_PATTERN = /^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9.-]+:\d{1,5}|localhost:\d{1,5})(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const ENV_VARIABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REGISTRY_EXPECTED = 'a registry like 127.0.0.1:5000, or a mapping like { url: registry.example.com/team, username_env: REGISTRY_USER, password_env: REGISTRY_PASSWORD }';

function envVariableName(what: string) {
  return z
    .string({ error: `expected the name of the environment variable holding ${what}, like REGISTRY_PASSWORD` })
    .regex(ENV_VARIABLE_PATTERN, { error: `expected the name of the environment variable holding ${what} (letters, digits and _), like REGISTRY_PASSWORD` });
}

/**
 * `registry`: where this environment's container images travel instead of the store, as
 * `<url>/<app>`. Credentials only by the names of environment variables (set on the machine that
 * publishes and on each host), never their values.
 */
const registrySchema = z.preprocess(
  (value) => (typeof value === 'string' ? { url: value } : value),
  z
    .strictObject(
      {
        url: z
          .string({ error: `expected ${REGISTRY_EXPECTED}` })
          .regex(REGISTRY_URL_PATTERN, { error: 'expected host[:port][/path] without a scheme or tag, like 127.0.0.1:5000 or registry.example.com/team (lowercase)' }),
        username_env: envVariableName('the registry user name').optional(),
        password_env: envVariableName('the registry password').optional(),
      },
      { error: expectedOnWrongType(REGISTRY_EXPECTED) },
    )
    .superRefine((registry, ctx) => {
      if ((registry.username_env === undefined) !== (registry.password_env === undefined)) {
        ctx.addIssue({ code: 'custom', path: [registry.username_env === undefined ? 'username_env' : 'password_env'], message: 'give both username_env and password_env (the names of the variables holding them), or neither' });
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
    /** this host's certificates, instead of tls.domains (schema-tls.ts) */
    domains: hostDomainsSchema.optional(),
  },
  { error: expectedOnWrongType('a mapping like { ssh: ssh://deploy@app1.example.com, depends_on: [auth] }') },
);

export const environmentSchema = z.strictObject(
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
    registry: registrySchema.optional(),
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
    // Where off-site copies go instead of `store`: setup writes it for a host driven over SSH (src/remote/host-config.ts).
    offsite_store: storeSchema.optional(),
    backup_schedule: cronExpression().optional(),
    data_copy: dataCopySchema.optional(),
    hostname: text('a name for this host in status reports').optional(),
    accessories: accessoryOverridesSchema.optional(),
    trusted_proxies: z
      .array(
        z.string({ error: 'expected an IP address or a CIDR range, like 10.0.0.5 or 10.0.0.0/8' }).superRefine((value, ctx) => {
          const problem = ipRangeProblem(value);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${problem} (an address of a proxy in front of slipway, whose X-Forwarded-* headers are trusted)` });
        }),
        { error: expectedOnWrongType('a list of IP addresses or CIDR ranges, like [10.0.0.5, 192.168.0.0/16]') },
      )
      .default([]),
    tls: tlsSchema.optional(),
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
  for (const problem of severalHostsTlsProblems(env)) ctx.addIssue({ code: 'custom', ...problem });
  if (env.tls !== undefined && env.tls.port === env.port) {
    ctx.addIssue({ code: 'custom', path: ['tls', 'port'], message: `tls.port ${env.tls.port} is also the environment's plain HTTP port: expected another port, like 443` });
  }
  if (env.offsite_store !== undefined && env.backup_key_env === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['offsite_store'],
      message: 'offsite_store is set but no backup_key_env names the environment variable holding the encryption key the copies are made with; add backup_key_env: SLIPWAY_BACKUP_KEY (a key made with `openssl rand -base64 32`)',
    });
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
