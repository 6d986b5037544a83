import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildContextFilter } from '../../src/container/dockerignore.js';

function contextWith(t: { after(fn: () => void): void }, dockerignore?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-dockerignore-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  if (dockerignore !== undefined) fs.writeFileSync(path.join(dir, '.dockerignore'), dockerignore);
  return dir;
}

test('without a .dockerignore every path of the context is sent', async (t) => {
  const sends = await buildContextFilter(contextWith(t), 'Dockerfile');
  for (const p of ['app.js', 'node_modules/x/index.js', '.env']) assert.equal(sends(p, false), true, p);
});

test(".dockerignore leaves out what it names, by Docker's rules: rooted patterns, **, exceptions", async (t) => {
  const sends = await buildContextFilter(contextWith(t, '# local files\n.env\nlogs\n**/*.log\n*.md\n!README.md\nnode_modules\n!node_modules/keep\n'), 'Dockerfile');
  assert.equal(sends('.env', false), false);
  assert.equal(sends('config/.env', false), true, 'a plain name matches at the context root only');
  assert.equal(sends('logs', true), true, 'a folder that matches is walked when an exception could bring a file back');
  assert.equal(sends('logs/a.txt', false), false);
  assert.equal(sends('src/deep/trace.log', false), false, '** matches any depth');
  assert.equal(sends('NOTES.md', false), false);
  assert.equal(sends('README.md', false), true, '! brings a file back');
  assert.equal(sends('node_modules/drop/index.js', false), false);
  assert.equal(sends('node_modules/keep', true), true);
  assert.equal(sends('./app.js', false), true);
});

test('the Dockerfile and .dockerignore are sent even when .dockerignore names them (the engine needs them)', async (t) => {
  const sends = await buildContextFilter(contextWith(t, '*\n'), 'docker/Dockerfile.web');
  assert.equal(sends('docker/Dockerfile.web', false), true);
  assert.equal(sends('.dockerignore', false), true);
  assert.equal(sends('app.js', false), false);
  assert.equal(sends('docker', true), true, 'the folder holding the Dockerfile is walked to reach it');
  assert.equal(sends('docker/other.sh', false), false);
  assert.equal(sends('src', true), false, 'no exceptions: a matching folder is not walked');
});
