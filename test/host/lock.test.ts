import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { acquireLock, forceReleaseLock, isProcessAlive, readLock, releaseLock } from '../../src/host/lock.js';
import { expectRejects } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

function tempLockFile(t: { after(fn: () => void): void }): string {
  const dir = tempDir(t);
  return path.join(dir, 'lock.json');
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** The pid of a process that has run and exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await exited(child);
  assert.ok(child.pid);
  return child.pid;
}

function sleeper(t: { after(fn: () => void): void }): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.after(() => {
    child.kill('SIGKILL');
  });
  return child;
}

test('acquire writes who holds the lock; a second acquire is refused naming the holder', async (t) => {
  const file = tempLockFile(t);
  const lock = await acquireLock(file, { holder: 'slipway deploy production', reason: 'deploy v2' });
  assert.equal(lock.pid, process.pid);
  assert.equal(lock.hostname, os.hostname());
  assert.match(lock.token, /^[0-9a-f]{32}$/);
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), lock);
  assert.deepEqual(await readLock(file), { ...lock, stale: false });
  // No temp files are left beside the lock.
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['lock.json']);

  const refused = await acquireLock(file, { holder: 'slipway rollback production', reason: 'oops' }).then(
    () => assert.fail('the second acquire succeeded'),
    (error: unknown) => error as { code: string; message: string; hint: string; exitCode: number },
  );
  assert.equal(refused.code, 'HOST_LOCKED');
  assert.equal(refused.exitCode, 1);
  for (const part of ['slipway deploy production', String(process.pid), lock.since, 'deploy v2']) {
    assert.ok(refused.message.includes(part), `message lacks ${part}: ${refused.message}`);
  }
  assert.match(refused.hint, /slipway lock status/);
  // The refused attempt left the lock as it was.
  assert.equal((await readLock(file))?.token, lock.token);
});

test('release with the wrong token does nothing; with the right one it frees the lock', async (t) => {
  const file = tempLockFile(t);
  const lock = await acquireLock(file, { holder: 'a', reason: 'r' });
  await releaseLock(file, 'not-the-token');
  assert.equal((await readLock(file))?.token, lock.token);
  await releaseLock(file, lock.token);
  assert.equal(await readLock(file), null);
  await releaseLock(file, lock.token); // already gone: fine
  const next = await acquireLock(file, { holder: 'b', reason: 'r' });
  assert.notEqual(next.token, lock.token);
});

test('a lock held for a live child process is held; once the child exits it is stale', async (t) => {
  const file = tempLockFile(t);
  const child = sleeper(t);
  assert.ok(child.pid);
  await acquireLock(file, { holder: 'slipway agent', reason: 'channel moved', pid: child.pid });
  assert.equal((await readLock(file))?.stale, false);
  await expectRejects(acquireLock(file, { holder: 'x', reason: 'y', breakStale: true }), 'HOST_LOCKED');

  child.kill('SIGKILL');
  await exited(child);
  assert.equal(isProcessAlive(child.pid), false);
  assert.equal((await readLock(file))?.stale, true);
});

test('a stale lock (finished process) is refused without breakStale and replaced with it', async (t) => {
  const file = tempLockFile(t);
  const pid = await deadPid();
  const old = await acquireLock(file, { holder: 'slipway deploy staging', reason: 'deploy v3', pid });
  const status = await readLock(file);
  assert.equal(status?.stale, true);
  assert.equal(status?.pid, pid);

  const refused = await acquireLock(file, { holder: 'slipway deploy staging', reason: 'again' }).then(
    () => assert.fail('acquired over a stale lock without breakStale'),
    (error: unknown) => error as { code: string; message: string; hint: string },
  );
  assert.equal(refused.code, 'HOST_LOCK_STALE');
  assert.ok(refused.message.includes('slipway deploy staging') && refused.message.includes(String(pid)), refused.message);
  assert.match(refused.hint, /slipway lock release --force/);
  assert.equal((await readLock(file))?.token, old.token);

  const fresh = await acquireLock(file, { holder: 'slipway agent', reason: 'recovery', breakStale: true });
  assert.notEqual(fresh.token, old.token);
  assert.deepEqual(await readLock(file), { ...fresh, stale: false });
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['lock.json']);
});

test('an unreadable (torn) lock file counts as stale', async (t) => {
  const file = tempLockFile(t);
  fs.writeFileSync(file, '{"holder": "slipway dep');
  const status = await readLock(file);
  assert.equal(status?.stale, true);
  assert.equal(status?.unreadable, true);
  await expectRejects(acquireLock(file, { holder: 'a', reason: 'r' }), 'HOST_LOCK_STALE');
  const lock = await acquireLock(file, { holder: 'a', reason: 'r', breakStale: true });
  assert.equal((await readLock(file))?.token, lock.token);
});

test('a lock from another machine cannot be checked, so it is held', async (t) => {
  const file = tempLockFile(t);
  const pid = await deadPid();
  fs.writeFileSync(file, JSON.stringify({ holder: 'slipway deploy production', pid, hostname: 'other-machine.example', since: new Date().toISOString(), reason: 'r', token: 't' }));
  assert.equal((await readLock(file))?.stale, false);
  await expectRejects(acquireLock(file, { holder: 'a', reason: 'r', breakStale: true }), 'HOST_LOCKED', /other-machine\.example/);
});

test('forceReleaseLock removes any lock and returns what it removed', async (t) => {
  const file = tempLockFile(t);
  assert.equal(await forceReleaseLock(file), null);
  const lock = await acquireLock(file, { holder: 'slipway deploy production', reason: 'r' });
  const removed = await forceReleaseLock(file);
  assert.equal(removed?.token, lock.token);
  assert.equal(removed?.holder, 'slipway deploy production');
  assert.equal(fs.existsSync(file), false);
});

test('pids that address process groups are never alive holders', () => {
  assert.equal(isProcessAlive(0), false);
  assert.equal(isProcessAlive(-1), false);
  assert.equal(isProcessAlive(1.5), false);
  assert.equal(isProcessAlive(process.pid), true);
});

test('of many simultaneous acquires exactly one wins', async (t) => {
  const file = tempLockFile(t);
  const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => acquireLock(file, { holder: `h${i}`, reason: 'race' })));
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1);
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'HOST_LOCKED');
  assert.equal((await readLock(file))?.token, (won[0] as PromiseFulfilledResult<{ token: string }>).value.token);
});

test('of many simultaneous breakers of one stale lock exactly one wins', async (t) => {
  const file = tempLockFile(t);
  await acquireLock(file, { holder: 'dead', reason: 'crashed', pid: await deadPid() });
  const results = await Promise.allSettled(
    Array.from({ length: 12 }, (_, i) => acquireLock(file, { holder: `h${i}`, reason: 'race', breakStale: true })),
  );
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1);
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'HOST_LOCKED');
  assert.equal((await readLock(file))?.token, (won[0] as PromiseFulfilledResult<{ token: string }>).value.token);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['lock.json']);
});

test('separate processes racing for the lock: exactly one gets it', async (t) => {
  const file = tempLockFile(t);
  const lockModule = fileURLToPath(new URL('../../src/host/lock.js', import.meta.url));
  // Each contender holds what it got until its stdin closes, so losers cannot see a stale lock.
  const script = `
    const { acquireLock } = await import(${JSON.stringify(lockModule)});
    try {
      await acquireLock(process.argv[1], { holder: 'contender ' + process.pid, reason: 'race' });
      console.log('won');
    } catch (error) {
      console.log(error.code);
    }
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `;
  const children = Array.from({ length: 5 }, () =>
    spawn(process.execPath, ['--input-type=module', '-e', script, file], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  t.after(() => children.forEach((c) => c.kill('SIGKILL')));
  const firstLines = await Promise.all(
    children.map(
      (child) =>
        new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout!.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.includes('\n')) resolve(out.trim());
          });
          child.once('exit', () => reject(new Error(`contender exited early: ${out}`)));
        }),
    ),
  );
  children.forEach((c) => c.stdin!.end());
  await Promise.all(children.map(exited));
  assert.equal(firstLines.filter((line) => line === 'won').length, 1, firstLines.join(','));
  assert.deepEqual(firstLines.filter((line) => line !== 'won'), ['HOST_LOCKED', 'HOST_LOCKED', 'HOST_LOCKED', 'HOST_LOCKED']);
  const holder = await readLock(file);
  const winner = children[firstLines.indexOf('won')];
  assert.equal(holder?.pid, winner.pid);
});
