/**
 * data_copy's scrub file on a remote host: sent beside its slipway.yml and checked there
 * against the operator's sha256 before it replaces the old copy. The host's side is the real
 * shell script, run by sh on this machine in a temp folder standing for the host's root.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { sendCheckedFile, type FileHost } from '../../src/remote/host-files.js';
import { expectRejects } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A "host" whose commands run here; `alter` changes the bytes on the way, as a broken transfer would. */
function localHost(root: string, alter: (bytes: Buffer) => Buffer = (b) => b): FileHost {
  return {
    name: 'stage1',
    paths: { root },
    run: (argv, options) =>
      new Promise((resolve, reject) => {
        const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code) => resolve({ exitCode: code ?? 1, stderr }));
        child.stdin.end(alter(options.input));
      }),
  };
}

test('the scrub file arrives under the host root with the sha256 of the project\'s copy, readable by its owner only', async (t) => {
  const dir = tempDir(t);
  const project = path.join(dir, 'project');
  const root = path.join(dir, 'host root');
  fs.mkdirSync(path.join(project, 'db'), { recursive: true });
  const sql = "UPDATE users SET email = 'user' || id || '@example.invalid';\n";
  fs.writeFileSync(path.join(project, 'db', 'scrub.sql'), sql);
  const sent = await sendCheckedFile(localHost(root), { from: 'db/scrub.sql', to: 'data-copy/scrub.sql', projectDir: project, what: 'the scrub file' });
  assert.equal(sent.sha256, createHash('sha256').update(sql).digest('hex'));
  const arrived = path.join(root, 'data-copy', 'scrub.sql');
  assert.equal(fs.readFileSync(arrived, 'utf8'), sql);
  assert.equal(fs.statSync(arrived).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(path.join(root, 'data-copy')), ['scrub.sql'], 'no temp file left');
});

test('bytes changed on the way are refused on the host, which keeps its previous copy', async (t) => {
  const dir = tempDir(t);
  const root = path.join(dir, 'root');
  fs.mkdirSync(path.join(root, 'data-copy'), { recursive: true });
  fs.writeFileSync(path.join(root, 'data-copy', 'scrub.sql'), 'previous\n');
  fs.writeFileSync(path.join(dir, 'scrub.sql'), 'DELETE FROM sessions;\n');
  const cut = localHost(root, (bytes) => bytes.subarray(0, 6));
  await expectRejects(sendCheckedFile(cut, { from: 'scrub.sql', to: 'data-copy/scrub.sql', projectDir: dir, what: 'the scrub file' }), 'HOST_FILE_MISMATCH', { message: /stage1.*data-copy\/scrub\.sql.*expected [0-9a-f]{64}/ });
  assert.equal(fs.readFileSync(path.join(root, 'data-copy', 'scrub.sql'), 'utf8'), 'previous\n');
  assert.deepEqual(fs.readdirSync(path.join(root, 'data-copy')), ['scrub.sql'], 'the cut copy is removed');
});

test('a scrub file the project does not have is a usage error naming it', async (t) => {
  const dir = tempDir(t);
  await expectRejects(sendCheckedFile(localHost(path.join(dir, 'root')), { from: 'missing.sql', to: 'data-copy/missing.sql', projectDir: dir, what: 'the scrub file' }), 'HOST_FILE_UNREADABLE', { message: /missing\.sql.*ENOENT/ });
  assert.equal(fs.existsSync(path.join(dir, 'root')), false, 'nothing was written on the host');
});
