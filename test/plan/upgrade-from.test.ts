/** slipway.yml `upgrade.from` → the release manifest's `upgradeFrom`, without changing the ids of releases that have none. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { formatProblem, parseProjectText } from '../../src/config/load.js';
import type { LoadedProject } from '../../src/config/types.js';
import { buildRelease } from '../../src/release/build.js';
import { parseManifest, releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import { makeRepo } from '../release/repo-fixture.js';

const BASE = 'app: tiny\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    port: 8080\n';

function manifestWithoutUpgrade(): ReleaseManifest {
  return {
    schema: 1,
    app: 'demo',
    version: 'v1.2.0',
    commit: 'a'.repeat(40),
    message: 'Add things',
    date: '2024-05-01T10:00:00.000Z',
    dirty: false,
    notes: '- added things',
    requiredConfig: ['SECRET_KEY'],
    migrates: false,
    runtime: { services: [], data: { databases: [], folders: [] }, migrate: null, hooks: [], config: [{ name: 'SECRET_KEY', required: true, secret: true }] },
    files: [{ path: 'server.js', sha256: '2'.repeat(64), mode: 0o644, size: 20 }],
  };
}

test('a manifest without upgradeFrom keeps the id it had before the field existed', () => {
  // Computed by the manifest code before upgradeFrom was added.
  const idBefore = '871d52df3630076ca554b1ae3862bb450b6a379dba54c4416148333f1a5c63e9';
  const m = manifestWithoutUpgrade();
  assert.equal(releaseIdOf(m), idBefore);
  assert.equal(releaseIdOf({ ...m, upgradeFrom: undefined }), idBefore, 'an undefined value is dropped from the canonical JSON');
  const withRange = { ...m, upgradeFrom: '>=v2' };
  assert.notEqual(releaseIdOf(withRange), idBefore, 'the range is part of what the id pins');
  const parsed = parseManifest(JSON.stringify(withRange), releaseIdOf(withRange));
  assert.equal(parsed.upgradeFrom, '>=v2');
  assert.equal(parseManifest(JSON.stringify(m), idBefore).upgradeFrom, undefined);
  assert.throws(() => parseManifest(JSON.stringify({ ...m, upgradeFrom: 2 })), (e: Error & { details?: string[] }) => /upgradeFrom/.test((e.details ?? []).join()));
});

test('slipway.yml: upgrade.from takes a range or a bare version', () => {
  const ranged = parseProjectText(`${BASE}upgrade:\n  from: ">=v2"\n`, 'slipway.yml');
  assert.deepEqual(ranged.problems, []);
  assert.deepEqual(ranged.config?.upgrade, { from: '>=v2' });
  assert.deepEqual(parseProjectText(`${BASE}upgrade: { from: v2 }\n`, 'slipway.yml').config?.upgrade, { from: 'v2' });
  assert.equal(parseProjectText(BASE, 'slipway.yml').config?.upgrade, undefined, 'absent by default');
});

test('slipway.yml: a bad upgrade section is reported with its position', () => {
  const cases: Array<[string, { line: number; path: string }, RegExp]> = [
    [`${BASE}upgrade:\n  from: "~2"\n`, { line: 9, path: 'upgrade.from' }, /version range.*\^ and ~ are not supported/],
    [`${BASE}upgrade:\n  from: 1.10\n`, { line: 9, path: 'upgrade.from' }, /as text \(quote numbers: "1\.10"\)/],
    [`${BASE}upgrade:\n  form: v2\n`, { line: 9, path: 'upgrade.form' }, /did you mean `from`/],
    [`${BASE}upgrade: v2\n`, { line: 8, path: 'upgrade' }, /a mapping like \{ from: ">=v2" \}/],
  ];
  for (const [text, where, message] of cases) {
    const result = parseProjectText(text, 'slipway.yml');
    assert.equal(result.config, undefined, text);
    const problem = result.problems.find((p) => p.path === where.path);
    assert.ok(problem, `no problem at ${where.path}: ${result.problems.map(formatProblem).join('; ')}`);
    assert.equal(problem.line, where.line, formatProblem(problem));
    assert.match(problem.message, message, formatProblem(problem));
  }
});

test('build carries upgrade.from of the commit into the manifest, and leaves it out when absent', async (t) => {
  const repo = makeRepo(t);
  repo.write('server.js', 'console.log("tiny");\n');
  repo.write('slipway.yml', BASE);
  repo.commit('v1');
  repo.git('tag', 'v1');
  repo.write('slipway.yml', `${BASE}upgrade:\n  from: ">=v1"\n`);
  repo.commit('v2 needs v1');
  repo.git('tag', 'v2');
  const project: LoadedProject = { ...repo.project(), file: path.join(repo.dir, 'slipway.yml') };

  const v1 = await buildRelease({ project, ref: 'v1', outDir: path.join(repo.scratch, 'v1') });
  assert.equal('upgradeFrom' in v1.manifest, false);
  assert.doesNotMatch(fs.readFileSync(v1.manifestPath, 'utf8'), /upgradeFrom/);

  const v2 = await buildRelease({ project, ref: 'v2', outDir: path.join(repo.scratch, 'v2') });
  assert.equal(v2.manifest.upgradeFrom, '>=v1');
  assert.equal(parseManifest(fs.readFileSync(v2.manifestPath), v2.id).upgradeFrom, '>=v1');
});
