import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createDataFixture, describe, json } from '../helpers/data-fixture.js';

// CONTRACT.md: `slipway history <env> --json` gives each deployment's kind: deploy,
// rollback, rollback-with-data or restore. The human table says it too.

interface HistoryEntry {
  id: number;
  kind: string;
  from: string | null;
  to: string | null;
  outcome: string | null;
}

it('history tells a deploy, a rollback, a rollback with data and a restore apart, in --json and in the table', { timeout: 180_000 }, async (t) => {
  const fx = await createDataFixture(t);
  await fx.startAgent();
  const ok = async (args: string[]) => {
    const result = await fx.cli(args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${describe(result)}`);
    return result;
  };

  await ok(['deploy', 'production', '--version', 'v1', '--yes']);
  const backup = json<{ id: string }>(await ok(['backup', 'production', '--json']));
  await ok(['deploy', 'production', '--version', 'v2', '--yes']);
  await ok(['rollback', 'production', '--with-data', '--yes']);
  await ok(['deploy', 'production', '--version', 'v2', '--yes']);
  await ok(['rollback', 'production', '--yes']);
  await ok(['restore', 'production', backup.id, '--yes']);

  const history = json<HistoryEntry[]>(await ok(['history', 'production', '--json']));
  assert.deepEqual(
    history.map((h) => [h.kind, h.from, h.to, h.outcome]).reverse(),
    [
      ['deploy', null, 'v1', 'succeeded'],
      ['deploy', 'v1', 'v2', 'succeeded'],
      ['rollback-with-data', 'v2', 'v1', 'succeeded'],
      ['deploy', 'v1', 'v2', 'succeeded'],
      ['rollback', 'v2', 'v1', 'succeeded'],
      ['restore', 'v1', 'v1', 'succeeded'],
    ],
  );

  const table = (await ok(['history', 'production'])).stdout.split('\n');
  assert.match(table[0] ?? '', /\bKIND\b/, table.join('\n'));
  const kindOf = (id: number) => table.find((line) => line.trimStart().startsWith(`${id} `))?.match(/\b(rollback-with-data|rollback|restore|deploy)\b/)?.[1];
  for (const entry of history) assert.equal(kindOf(entry.id), entry.kind, `row ${entry.id} of:\n${table.join('\n')}`);
});
