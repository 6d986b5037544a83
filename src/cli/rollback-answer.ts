/**
 * Reads the agent's answer to a rollback that bin/slipway.js sent early (rollback-fast.ts), as
 * the control client reads the answer to one it sends itself (control-client.ts, `stream`):
 * the same checks, the same events, the same errors.
 */
import { z } from 'zod';
import { SlipwayError } from '../errors.js';
import { AGENT_CALLS, UpdateEventSchema, badAnswer, callName, type UpdateEvent, type UpdateResult } from '../agent/api.js';
import { fromWireError, WireErrorSchema } from '../agent/wire.js';
import { createLineSplitter } from '../util/line-splitter.js';
import type { SentRollback } from './rollback-fast.js';

const agentDied = (what: string) =>
  new SlipwayError('AGENT_DIED', what, { hint: 'the next agent start recovers the host to a complete release: run `slipway status <env>`' });

/**
 * The rollback's result line and when it came (performance.now()), every known event before it given to `onEvent`; null when the request
 * reached no agent (refused, no socket), so that nothing happened and the full path may run.
 */
export async function readSentRollback(sent: SentRollback, onEvent: (event: UpdateEvent) => void): Promise<{ result: UpdateResult; endedMs: number } | null> {
  const answer = await sent.answer;
  if ('unreached' in answer) return null;
  if ('error' in answer) throw connectionError(sent.socketPath, answer.error);
  const spec = AGENT_CALLS.rollback;
  return new Promise((resolve, reject) => {
    if (answer.statusCode !== 200) {
      // Refused before anything ran (a bad body, an unknown call): one JSON error, not a stream.
      const chunks: Buffer[] = [];
      answer.body.read(
        (chunk) => chunks.push(chunk),
        () => {
          let parsed: unknown = null;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            // reported by its status below
          }
          const error = z.object({ error: WireErrorSchema }).safeParse(parsed);
          reject(error.success ? fromWireError(error.data.error) : new SlipwayError('AGENT_ERROR', `agent answered ${answer.statusCode}`));
        },
        () => reject(agentDied('the connection to the agent broke before the operation finished')),
      );
      return;
    }
    let result: UpdateResult | undefined;
    let problem: SlipwayError | undefined;
    const lines = createLineSplitter(
      (line) => {
        if (!line.trim()) return;
        let event: unknown;
        try {
          event = JSON.parse(line);
        } catch {
          problem ??= new SlipwayError('AGENT_BAD_ANSWER', 'the agent sent a line that is not JSON', { hint: 'restart the agent' });
          return;
        }
        if (typeof event === 'object' && event !== null && 'type' in event && event.type === 'result') {
          const parsed = spec.response.safeParse(event);
          if (parsed.success) result = parsed.data;
          else problem = badAnswer(callName(spec), parsed.error);
          return;
        }
        // An event this CLI does not know (a newer agent) is not shown.
        const known = UpdateEventSchema.safeParse(event);
        if (known.success) onEvent(known.data);
      },
      { maxLineLength: 256 * 1024 * 1024 },
    );
    answer.body.read(
      (chunk) => lines.push(chunk),
      (endedMs) => {
        lines.end();
        if (result) resolve({ result, endedMs });
        else if (problem) reject(problem);
        else reject(agentDied('the agent stopped before the operation finished'));
      },
      () => reject(agentDied('the connection to the agent broke before the operation finished')),
    );
  });
}

/** A connection that broke after it reached the agent (refused and missing are `unreached`): as the control client says it. */
function connectionError(socketPath: string, error: Error): SlipwayError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new SlipwayError('AGENT_DIED', 'the connection to the agent broke before the operation finished', { hint: 'run `slipway status <env>` to see what the host serves' });
  }
  return new SlipwayError('AGENT_UNREACHABLE', `cannot talk to the agent at ${socketPath}: ${error.message}`, { hint: 'check the permissions of the socket; it belongs to the user who started the agent' });
}
