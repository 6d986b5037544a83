/**
 * Reads the agent's answer to a rollback that bin/slipway.js sent early (rollback-fast.ts), as
 * the control client reads the answer to one it sends itself (control-client.ts, `stream`):
 * the same reader, the same checks, the same events, the same errors.
 */
import type { UpdateEvent, UpdateResult } from '../agent/api.js';
import { agentDied, agentUnreachable, errorAnswer, streamAnswerReader } from '../agent/control-client.js';
import type { SentRollback } from './rollback-fast.js';

/**
 * The rollback's result line and when it came (performance.now()), every known event before it given to `onEvent`; null when the request
 * reached no agent (refused, no socket), so that nothing happened and the full path may run.
 */
export async function readSentRollback(sent: SentRollback, onEvent: (event: UpdateEvent) => void): Promise<{ result: UpdateResult; endedMs: number } | null> {
  const answer = await sent.answer;
  if ('unreached' in answer) return null;
  if ('error' in answer) throw agentUnreachable(sent.socketPath, answer.error);
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
          reject(errorAnswer(parsed, answer.statusCode));
        },
        () => reject(agentDied('the connection to the agent broke before the operation finished')),
      );
      return;
    }
    const reader = streamAnswerReader('rollback', onEvent);
    answer.body.read(
      (chunk) => reader.push(chunk),
      (endedMs) => {
        try {
          resolve({ result: reader.end(), endedMs });
        } catch (error) {
          reject(error);
        }
      },
      () => reject(agentDied('the connection to the agent broke before the operation finished')),
    );
  });
}
