/** Release notes are written by whoever could write the release: deploy's plan shows them with control characters escaped. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { commitAll, createNotesRepo, describeRun, git, makeSandbox } from '../helpers/cli.js';

const sandbox = makeSandbox({ after });

test('deploy prints release notes with terminal escapes shown, not obeyed, and keeps their lines', async () => {
  const repo = await createNotesRepo(path.join(sandbox.root, 'repo'));
  fs.mkdirSync(path.join(repo, 'releases'), { recursive: true });
  // Clears the screen and sets the window title, on a terminal that obeys.
  fs.writeFileSync(path.join(repo, 'releases', 'v7.md'), 'Faster search.\x1b[2J\x1b]0;owned\x07\nSecond line.\n');
  commitAll(repo, 'v7 notes');
  git(repo, 'tag', 'v7');
  const built = await sandbox.run(['build', '--ref', 'v7'], { cwd: repo });
  assert.equal(built.code, 0, describeRun(built));

  // Not interactive and no --yes: the plan is printed, then nothing is deployed.
  const run = await sandbox.run(['deploy', 'production', '--version', 'v7'], { cwd: repo, env: { NO_COLOR: '1' } });
  assert.notEqual(run.code, 0, describeRun(run));
  const output = run.stdout + run.stderr;
  assert.ok(output.includes('Faster search.\\x1b[2J\\x1b]0;owned\\x07'), describeRun(run));
  assert.match(output, /\n\s*Second line\./, 'the notes keep their line breaks');
  assert.doesNotMatch(output, /[\x00-\x08\x0b-\x1f\x7f]/, `a control character reached the terminal: ${JSON.stringify(output)}`);
});
