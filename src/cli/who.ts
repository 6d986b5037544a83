import path from 'node:path';
import type { CliContext } from './context.js';

/**
 * Who an update is recorded as done by. A module of its own so that `rollback` can use it
 * without loading deploy's store and plan code: a warm rollback should cost little more than a bare `status`.
 */
export function whoAmI(ctx: CliContext): string {
  return ctx.env.SLIPWAY_WHO ?? ctx.env.USER ?? path.basename(ctx.env.HOME ?? 'someone');
}
