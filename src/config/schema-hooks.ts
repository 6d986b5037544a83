/** The `hooks` section of `slipway.yml`: commands run before or after a step of the update pipeline. */
import type { z } from 'zod';
import { PIPELINE_STEPS } from './types.js';
import { commandList, section } from './schema-fields.js';

const HOOK_KEYS = PIPELINE_STEPS.flatMap((step) => [`before_${step}`, `after_${step}`]);

export const hooksSchema = section(
  Object.fromEntries(HOOK_KEYS.map((key) => [key, commandList().optional()])) as Record<string, z.ZodOptional<ReturnType<typeof commandList>>>,
  'a mapping like { before_migrate: [npm run check] }',
);
