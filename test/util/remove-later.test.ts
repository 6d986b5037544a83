// A build's temporary folder goes without making the user wait: a big one is renamed away
// at once and removed by a detached process; a small one is removed before the call returns.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { removeTemporaryFolder, REMOVING_SUFFIX } from '../../src/util/remove-later.js';
import { tempDir } from '../helpers/cli.js';

function tree(dir: string): void {
  mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  for (let i = 0; i < 50; i++) writeFileSync(path.join(dir, 'node_modules', `f${i}.js`), `${i}\n`);
}

async function gone(dir: string, withinMs: number): Promise<boolean> {
  for (const until = Date.now() + withinMs; Date.now() < until; ) {
    if (!existsSync(dir)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !existsSync(dir);
}

test('a big folder is renamed away at once and removed in the background, whatever its name holds', async (t) => {
  const root = tempDir(t, 'slipway-remove-');
  const dir = path.join(root, "slipway-build-a b'c;$(x)");
  tree(dir);
  await removeTemporaryFolder(dir, 60_000);
  assert.equal(existsSync(dir), false, 'out of the way when the call returns');
  assert.ok(await gone(`${dir}${REMOVING_SUFFIX}`, 15_000), 'removed by the background process');
  assert.equal(existsSync(path.join(root, '$(x)')), false);
});

test('a small folder is removed before the call returns, with nothing left behind', async (t) => {
  const root = tempDir(t, 'slipway-remove-');
  const dir = path.join(root, 'slipway-build-small');
  tree(dir);
  await removeTemporaryFolder(dir, 20);
  assert.equal(existsSync(dir), false);
  assert.equal(existsSync(`${dir}${REMOVING_SUFFIX}`), false);
});

test('a folder that is already gone is fine', async (t) => {
  const root = tempDir(t, 'slipway-remove-');
  await removeTemporaryFolder(path.join(root, 'never-made'), 60_000);
  await removeTemporaryFolder(path.join(root, 'never-made'), 1);
});
