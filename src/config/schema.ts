/**
 * The schema of `slipway.yml` (snake_case, as written), assembled from its sections
 * (schema-services, schema-data, schema-hooks, schema-environments, built of the value
 * kinds in schema-fields); to-project-config.ts normalizes it into the ProjectConfig
 * the rest of slipway uses (src/config/types.ts).
 *
 * Error messages live beside the fields they describe and say what is expected in
 * plain words; src/config/problems.ts adds positions and "did you mean".
 */
import { z } from 'zod';
import { accessoriesSchema } from './schema-accessories.js';
import { dataSchema, migrateSchema } from './schema-data.js';
import { environmentSchema } from './schema-environments.js';
import { NAME_PATTERN, command, expectedOnWrongType, namedMap, section, text, versionRange } from './schema-fields.js';
import { hooksSchema } from './schema-hooks.js';
import { configKeysSchema, serviceSchema } from './schema-services.js';

export const projectFileSchema = z.strictObject(
  {
    app: z
      .string({ error: 'expected the app name, like notes' })
      .regex(NAME_PATTERN, { error: 'expected an app name of lowercase letters, digits and - (like notes)' }),
    services: namedMap({ item: serviceSchema, what: 'service', example: 'web' }),
    accessories: accessoriesSchema,
    build: section(
      {
        commands: z.array(command(), { error: 'expected a list of commands, like [npm ci]' }).default([]),
        include: z.array(text('a glob'), { error: 'expected a list of globs, like ["dist/**"]' }).default([]),
        exclude: z.array(text('a glob'), { error: 'expected a list of globs, like [".git/**"]' }).default([]),
      },
      'a mapping like { commands: [npm ci] }',
    ),
    data: dataSchema,
    migrate: migrateSchema,
    hooks: hooksSchema,
    config: configKeysSchema,
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
