/** An update's outcome as the stream's last line says it (UpdateResult): for the CLI, and for the agent's own scheduled copies. */
import type { UpdateOutcome } from '../update/run-update.js';
import type { UpdateResult } from './api.js';
import { toWireError } from './wire.js';

export function updateResultOf(outcome: UpdateOutcome, releaseId: string): UpdateResult {
  return {
    ok: outcome.ok,
    deploymentId: outcome.deploymentId,
    version: outcome.version,
    releaseId,
    error: outcome.error ? toWireError(outcome.error) : undefined,
    undoFailures: outcome.undoFailures,
  };
}
