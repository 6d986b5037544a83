import { SlipwayError } from '../errors.js';
import { fromWireError } from '../agent/wire.js';
import type { UpdateEvent, UpdateResult } from '../agent/api.js';
import { paint } from '../util/format.js';
import type { CliContext } from './context.js';
import { printable } from '../util/terminal-text.js';

/** Prints the agent's update events as they come: one line per step with its duration. */
export function printUpdateEvent(ctx: CliContext, event: UpdateEvent): void {
  switch (event.type) {
    case 'progress':
      ctx.progress(`    ${printable(event.line)}`);
      break;
    case 'step-end': {
      const mark = event.outcome === 'failed' ? paint(ctx.color, 'red', '✗') : event.outcome === 'skipped' ? paint(ctx.color, 'dim', '-') : paint(ctx.color, 'green', '✓');
      const ms = `${event.ms} ms`.padStart(8);
      ctx.progress(`  ${mark} ${String(event.name).padEnd(12)}${ms}${event.detail ? `  ${printable(event.detail)}` : ''}`);
      break;
    }
    case 'undo':
      ctx.progress(`  ${paint(ctx.color, 'yellow', '↶')} undo ${event.name}${event.detail ? `: ${printable(event.detail)}` : ''}${event.outcome === 'failed' ? ' (FAILED)' : ''}`);
      break;
    default:
      break;
  }
}

/** Turns a failed update into the error the CLI shows, saying what the host serves now. */
export function updateFailure(result: UpdateResult, servingNow: string): SlipwayError {
  const cause = result.error ? fromWireError(result.error) : new SlipwayError('UPDATE_FAILED', 'the update failed');
  const undoFailures = result.undoFailures ?? [];
  const state =
    result.deploymentId === undefined
      ? `nothing changed: ${servingNow}`
      : undoFailures.length === 0
        ? `rolled back: ${servingNow}`
        : `undo had problems (${undoFailures.join('; ')}): check \`slipway status\``;
  // Refused before anything was recorded (no deployment): the cause's own exit code, e.g. 2 for a usage error.
  const exitCode = result.deploymentId === undefined ? cause.exitCode : 1;
  return new SlipwayError(cause.code, `${cause.message}\n${state}`, { details: cause.details, hint: cause.hint, exitCode });
}
