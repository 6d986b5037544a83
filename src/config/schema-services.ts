/**
 * The app's processes in `slipway.yml`: its `services` (each with its health check)
 * and the `config` keys, the environment variables they read.
 */
import { z } from 'zod';
import { bool, command, duration, envValue, envVarName, expectedOnWrongType, integer, section, text } from './schema-fields.js';

/** Any environment variable name: apps read `database__client` as readily as `SESSION_SECRET`. */
// __proto__ is the one name a plain object cannot hold as a key.
const CONFIG_KEY_PATTERN = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_]*$/;

const healthFields = section(
  {
    path: z
      .string({ error: 'expected an HTTP path like /healthz' })
      .startsWith('/', { error: 'expected an HTTP path starting with /, like /healthz' })
      .default('/healthz'),
    interval: duration().default(500),
    timeout: duration().default(2000),
    successes: integer({ min: 1, what: 'how many answers in a row make the service healthy' }).default(2),
    deadline: duration().default(30_000),
    http: z.literal(false, { error: 'expected false: the service answers no HTTP check (leave it out for the HTTP check)' }).optional(),
  },
  'a mapping like { path: /healthz, interval: 500ms }, or false for a service without an HTTP check (a worker)',
);

/** `health: false` is short for `{ http: false }`: a worker that listens on no port. */
const healthSchema = z.preprocess((value) => (value === false ? { http: false } : value), healthFields);

const IMAGE_REFERENCE = /^[a-z0-9][a-z0-9._\/:-]*(@sha256:[0-9a-f]{64})?$/;

/** An image reference like postgres:16, registry.example/app:1.2 or app@sha256:…; Docker's own rules are checked by Docker. */
export function imageReference() {
  return z
    .string({ error: 'expected an image reference like postgres:16 or registry.example.com/app:1.2' })
    .regex(IMAGE_REFERENCE, { error: 'expected an image reference like postgres:16 or registry.example.com/app:1.2 (lowercase, optionally @sha256:<digest>)' });
}

/** `build:` of a container service: a context folder, or { context, dockerfile, target, args } as a compose file writes it. */
const imageBuildSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { context: value } : value),
  z.strictObject(
    {
      context: text('the folder the image is built from, relative to the project (like .)').default('.'),
      dockerfile: text('the Dockerfile path, relative to the context').default('Dockerfile'),
      target: text('a build stage name').optional(),
      args: z
        .preprocess(
          (value) => (value === undefined || value === null ? {} : value),
          z.record(envVarName(), envValue(), { error: expectedOnWrongType('a mapping of build arguments, like { NODE_ENV: production }') }),
        ),
    },
    { error: expectedOnWrongType('a folder like ., or a mapping like { context: ., dockerfile: Dockerfile, target: web }') },
  ),
);

export const serviceSchema = z.strictObject(
  {
    command: command('the command that starts the service, like npm start').optional(),
    build: imageBuildSchema.optional(),
    image: imageReference().optional(),
    port_env: envVarName().default('PORT'),
    env: z
      .preprocess(
        (value) => (value === undefined || value === null ? {} : value),
        z.record(envVarName(), envValue(), { error: expectedOnWrongType('a mapping of environment variables, like { NODE_ENV: production }') }),
      ),
    health: healthSchema,
  },
  { error: expectedOnWrongType('a mapping like { command: npm start }') },
).superRefine((service, ctx) => {
  if (service.build !== undefined && service.image !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['image'], message: 'a service takes `build` (an image built into each release) or `image` (a named image), not both' });
  }
  if (service.command === undefined && service.build === undefined && service.image === undefined) {
    ctx.addIssue({ code: 'custom', path: ['command'], message: 'missing required key `command`: the command that starts the service, like npm start (or `build:`/`image:` to run it as a container)' });
  }
});

const configKeySchema = section(
  {
    required: bool().default(false),
    secret: bool().default(false),
    default: envValue().optional(),
    description: z.string({ error: 'expected a text description' }).optional(),
  },
  'a mapping like { required: true, description: "…" }',
);

export const configKeysSchema = z.preprocess(
  (value) => (value === undefined || value === null ? {} : value),
  z.record(
    z.string().regex(CONFIG_KEY_PATTERN, {
      error: 'expected an environment variable name: letters, digits and _, not starting with a digit (like SESSION_SECRET or database__client)',
    }),
    configKeySchema,
    { error: expectedOnWrongType('a mapping of config keys, like SESSION_SECRET: { required: true, secret: true }') },
  ),
);
