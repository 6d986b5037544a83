/**
 * `accessories` in `slipway.yml`: long-lived containers beside the app (PostgreSQL, Redis…)
 * that a deploy never switches. Their passwords come from the host's env file (`secrets`),
 * never from slipway.yml.
 */
import { z } from 'zod';
import { NAME_PATTERN, envValue, envVarName, expectedOnWrongType, integer } from './schema-fields.js';
import { imageReference } from './schema-services.js';

const VOLUME_EXPECTED = 'a mount like pgdata:/var/lib/postgresql/data (a named volume) or ./accessories/db:/data (a folder under the host root)';

/** "source:target": a named volume, or ./folder relative to the host root. */
function volumeMount() {
  return z.string({ error: `expected ${VOLUME_EXPECTED}` }).transform((value, ctx) => {
    const colon = value.lastIndexOf(':');
    const source = colon > 0 ? value.slice(0, colon) : '';
    const target = colon > 0 ? value.slice(colon + 1) : '';
    if (source === '' || !target.startsWith('/')) {
      ctx.addIssue({ code: 'custom', message: `expected ${VOLUME_EXPECTED}` });
      return z.NEVER;
    }
    if (source.startsWith('./')) {
      const folder = source.slice(2);
      if (folder === '' || folder.split('/').includes('..')) {
        ctx.addIssue({ code: 'custom', message: `expected a folder under the host root like ./accessories/db, without ..` });
        return z.NEVER;
      }
      return { kind: 'folder' as const, source: folder, target };
    }
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) {
      ctx.addIssue({ code: 'custom', message: `expected ${VOLUME_EXPECTED}; a folder starts with ./ (absolute host paths are not mounted)` });
      return z.NEVER;
    }
    return { kind: 'volume' as const, source, target };
  });
}

/** A command as a list of arguments, or one line split on spaces (no shell: quote nothing). */
function argumentList() {
  return z
    .custom<string | string[]>(
      (value) => (typeof value === 'string' && value.trim().length > 0) || (Array.isArray(value) && value.length > 0 && value.every((a) => typeof a === 'string')),
      { error: 'expected the arguments of the image\'s entrypoint, as a list like [postgres, -c, listen_addresses=127.0.0.1]' },
    )
    .transform((value) => (typeof value === 'string' ? value.trim().split(/\s+/) : value));
}

export const accessorySchema = z.strictObject(
  {
    image: imageReference(),
    volumes: z.array(volumeMount(), { error: `expected a list of mounts, like [${VOLUME_EXPECTED.replace('a mount like ', '')}]` }).default([]),
    env: z.preprocess(
      (value) => (value === undefined || value === null ? {} : value),
      z.record(envVarName(), envValue(), { error: expectedOnWrongType('a mapping of environment variables, like { POSTGRES_DB: app }') }),
    ),
    secrets: z.array(envVarName(), { error: 'expected a list of variable names whose values come from the host env file, like [POSTGRES_PASSWORD]' }).default([]),
    port: integer({ min: 1, max: 65535, what: 'the loopback port it listens on' }).optional(),
    command: argumentList().optional(),
  },
  { error: expectedOnWrongType('a mapping like { image: postgres:16, volumes: [pgdata:/var/lib/postgresql/data], port: 5432 }') },
);

/**
 * `environments.<env>.accessories.<name>`: what differs for one environment. Two environments on
 * one machine (production and staging) each run their own accessory, so each needs its own
 * loopback port, and the server inside must be told it (an env variable like PGPORT, or its command).
 */
export const accessoryOverridesSchema = z.record(
  z.string().regex(NAME_PATTERN, { error: 'expected an accessory name of lowercase letters, digits and - (like db)' }),
  z.strictObject(
    {
      port: integer({ min: 1, max: 65535, what: 'the loopback port it listens on in this environment' }).optional(),
      env: z.record(envVarName(), envValue(), { error: expectedOnWrongType('a mapping of environment variables merged over the accessory\'s, like { PGPORT: "5433" }') }).optional(),
      command: argumentList().optional(),
    },
    { error: expectedOnWrongType('a mapping like { port: 5433, env: { PGPORT: "5433" } }') },
  ),
  { error: expectedOnWrongType('a mapping of accessories by name, like db: { port: 5433, env: { PGPORT: "5433" } }') },
);

export const accessoriesSchema = z.preprocess(
  (value) => (value === undefined || value === null ? {} : value),
  z.record(
    z.string().regex(NAME_PATTERN, { error: 'expected an accessory name of lowercase letters, digits and - (like db)' }),
    accessorySchema,
    { error: expectedOnWrongType('a mapping of accessories by name, like db: { image: postgres:16 }') },
  ),
);


