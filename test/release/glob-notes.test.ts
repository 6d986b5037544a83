import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileGlobs, globToRegExp } from '../../src/release/glob.js';
import { changelogSection } from '../../src/release/notes.js';

test('glob: *, ?, ** and folder patterns', () => {
  const cases: [string, string, boolean][] = [
    ['*.map', 'app.js.map', true],
    ['*.map', 'public/js/app.js.map', true], // no slash: any depth
    ['/*.map', 'public/app.js.map', false], // leading slash: root only
    ['/*.map', 'app.map', true],
    ['dist', 'dist/a/b.js', true], // a folder matches what it holds
    ['dist', 'src/dist/x.js', true],
    ['dist/*.js', 'dist/a.js', true],
    ['dist/*.js', 'dist/sub/a.js', false],
    ['dist/**/*.js', 'dist/a.js', true],
    ['dist/**/*.js', 'dist/sub/deep/a.js', true],
    ['dist/**', 'dist/x', true],
    ['dist/**', 'distant/x', false],
    ['src/?.ts', 'src/a.ts', true],
    ['src/?.ts', 'src/ab.ts', false],
    ['src/?.ts', 'src//.ts', false],
    ['a.b', 'aXb', false], // dots are literal
    ['node_modules/.bin', 'node_modules/.bin/tsc', true],
    ['**', 'anything/at/all', true],
  ];
  for (const [pattern, file, expected] of cases) assert.equal(globToRegExp(pattern).test(file), expected, `${pattern} vs ${file}`);
  const set = compileGlobs(['*.log', 'tmp']);
  assert.equal(set.matches('x/y.log'), true);
  assert.equal(set.matches('tmp/a'), true);
  assert.equal(set.matches('src/a.ts'), false);
  assert.equal(compileGlobs([]).empty, true);
});

test('notes: the CHANGELOG section whose heading names the version, up to the next heading of its level', () => {
  const changelog = [
    '# Changelog',
    '## [Unreleased]',
    '- soon',
    '## [2.0.0] - 2024-05-01',
    '- breaking',
    '### Fixed',
    '- a bug',
    '```',
    '## 1.0.0 inside a code block is not a heading',
    '```',
    '## v1.0.0',
    '- first',
    '# Older',
    '## 0.9.0 - 2023-01-01',
    '- beta',
  ].join('\n');
  assert.equal(changelogSection(changelog, 'v2.0.0'), '- breaking\n### Fixed\n- a bug\n```\n## 1.0.0 inside a code block is not a heading\n```');
  assert.equal(changelogSection(changelog, '2.0.0'), changelogSection(changelog, 'v2.0.0'));
  assert.equal(changelogSection(changelog, '1.0.0'), '- first');
  assert.equal(changelogSection(changelog, '0.9.0'), '- beta');
  assert.equal(changelogSection(changelog, '2.0'), undefined, 'a prefix of a version is not the version');
  assert.equal(changelogSection(changelog, '3.0.0'), undefined);
});
