/** How a DataAge (data-age.ts) travels as JSON: in `status --json`, the agent's API, and a host's report. */
import { z } from 'zod';

export const DataAgeSchema = z.object({
  source: z.enum(['copy', 'backup']),
  at: z.string(),
  environment: z.string().nullable(),
  backupId: z.string(),
  copiedAt: z.string().optional(),
  scrubbed: z.boolean().optional(),
});
