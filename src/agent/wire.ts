import { z } from 'zod';
import { SlipwayError } from '../errors.js';

/** A SlipwayError as it crosses the agent's socket or its management API. */
export const WireErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  details: z.array(z.string()),
  exitCode: z.union([z.literal(1), z.literal(2)]),
});

export type WireError = z.infer<typeof WireErrorSchema>;

export function toWireError(error: unknown): WireError {
  if (error instanceof SlipwayError) {
    return { code: error.code, message: error.message, hint: error.hint, details: error.details, exitCode: error.exitCode };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'AGENT_INTERNAL', message: `the agent hit an unexpected error: ${message}`, hint: 'this is a bug in slipway; the agent log has the details', details: [], exitCode: 1 };
}

export function fromWireError(wire: WireError): SlipwayError {
  return new SlipwayError(wire.code, wire.message, { hint: wire.hint, details: wire.details, exitCode: wire.exitCode });
}
