import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { createHostFixture, makeWritable, type HostFixture } from '../helpers/host-fixture.js';

// The operator's commands against a running host: maintenance mode in the proxy,
// verify (manual edits are reported), prune (never the current or previous release).

async function deploy(host: HostFixture, version: string, ...extra: string[]): Promise<void> {
  const result = await host.cli(['deploy', 'production', '--version', version, '--yes', ...extra]);
  assert.equal(result.code, 0, `deploy ${version}: ${result.stderr}`);
}

it('maintenance: on answers 503 with Retry-After, --hold holds a request until off, off serves again', { timeout: 90_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: ['v1'] });
  await host.startAgent();
  await deploy(host, 'v1');

  const on = await host.cli(['maintenance', 'on', '--env', 'production']);
  assert.equal(on.code, 0, on.stderr);
  const refused = await host.get('/version');
  assert.equal(refused.status, 503);
  assert.match(String(refused.headers['retry-after']), /^\d+$/);
  const refusedWrite = await host.request('POST', '/api/notes', { body: JSON.stringify({ text: 'during maintenance' }), headers: { accept: 'application/json' } });
  assert.equal(refusedWrite.status, 503);
  assert.equal(JSON.parse(refusedWrite.body).error, 'maintenance');
  const status = JSON.parse((await host.cli(['status', 'production', '--json'])).stdout);
  assert.equal(status.maintenance?.mode, 'refuse');

  const hold = await host.cli(['maintenance', 'on', '--hold', '5', '--env', 'production']);
  assert.equal(hold.code, 0, hold.stderr);
  let answeredAt: 'before-off' | 'after-off' | null = null;
  let offIssued = false;
  const held = host.get('/version').then((answer) => {
    answeredAt = offIssued ? 'after-off' : 'before-off';
    return answer;
  });
  // Give the request time to reach the proxy; a request not held would be answered by now.
  await new Promise((r) => setTimeout(r, 300));
  offIssued = true;
  const off = await host.cli(['maintenance', 'off', '--env', 'production']);
  assert.equal(off.code, 0, off.stderr);
  const answer = await held;
  assert.equal(answeredAt, 'after-off', 'the request was held until maintenance went off');
  assert.equal(answer.status, 200);
  assert.equal(answer.body, 'v1');

  assert.equal((await host.get('/version')).status, 200);
  assert.equal(JSON.parse((await host.cli(['status', 'production', '--json'])).stdout).maintenance, null);

  await t.test('a deploy with a migration keeps the maintenance the operator turned on', async () => {
    await host.build('v2');
    assert.equal((await host.cli(['maintenance', 'on', '--env', 'production'])).code, 0);
    await deploy(host, 'v2');
    const after = await host.get('/version');
    assert.equal(after.status, 503, `maintenance is still on after the deploy (got ${after.status} ${after.body})`);
  });
});

it('verify reports files changed on the server; prune --keep 1 never removes the current or previous release', { timeout: 120_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: ['v1', 'v2'] });
  await host.startAgent();
  await deploy(host, 'v1');
  await deploy(host, 'v2');

  // --- verify ---------------------------------------------------------------------
  const clean = await host.cli(['verify', 'production']);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /v2 .*all \d+ files match/);
  const cleanJson = JSON.parse((await host.cli(['verify', 'production', '--json'])).stdout);
  const { files, links, rehashed, ...cleanReport } = cleanJson as { files: number; links: number; rehashed: number };
  assert.deepEqual(cleanReport, { id: host.releases.get('v2'), version: 'v2', ok: true, modified: [], added: [], removed: [] });
  assert.ok(files > 0 && links === 0, `files ${files}, links ${links}`);
  assert.equal(rehashed, 0, 'an untouched release is checked by its install snapshot, no file read again');
  const full = JSON.parse((await host.cli(['verify', 'production', '--full', '--json'])).stdout) as { ok: boolean; rehashed: number };
  assert.equal(full.ok, true);
  assert.equal(full.rehashed, files, '--full re-hashes every file');

  const releaseDir = path.join(host.hostRoot, 'releases', host.currentId()!);
  const edited = path.join(releaseDir, 'server.js');
  makeWritable(edited);
  writeFileSync(edited, '// hot-fixed on the server\n', { flag: 'a' });
  writeFileSync(path.join(releaseDir, 'debug.txt'), 'left behind\n');
  rmSync(path.join(releaseDir, 'CHANGELOG.md'));

  const dirty = await host.cli(['verify', 'production']);
  assert.equal(dirty.code, 1, dirty.stdout + dirty.stderr);
  assert.match(dirty.stdout, /modified +server\.js/);
  assert.match(dirty.stdout, /added +debug\.txt/);
  assert.match(dirty.stdout, /removed +CHANGELOG\.md/);
  const dirtyJson = await host.cli(['verify', 'production', '--json']);
  assert.equal(dirtyJson.code, 1);
  const { files: _f, links: _l, rehashed: _r, ...dirtyReport } = JSON.parse(dirtyJson.stdout) as Record<string, unknown>;
  assert.deepEqual(dirtyReport, { id: host.releases.get('v2'), version: 'v2', ok: false, modified: ['server.js'], added: ['debug.txt'], removed: ['CHANGELOG.md'] });

  // --- prune ------------------------------------------------------------------------
  await host.build('v1', 'v1-again');
  await host.build('v2', 'v2-again');
  const older = await host.cli(['deploy', 'production', '--version', 'v1-again', '--yes']);
  assert.equal(older.code, 1, 'an older release is refused without --allow-older');
  assert.match(older.stderr, /older/);
  await deploy(host, 'v1-again', '--allow-older');
  await deploy(host, 'v2-again');
  const current = host.releases.get('v2-again')!;
  const previous = host.releases.get('v1-again')!;
  assert.deepEqual(host.ledgerState(), { currentId: current, previousId: previous });

  const dry = await host.cli(['prune', 'production', '--keep', '1', '--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.stderr);
  const wouldRemove = (JSON.parse(dry.stdout).removed as { id: string; version: string }[]).map((r) => r.version).sort();
  assert.deepEqual(wouldRemove, ['v1', 'v2']);
  assert.ok(existsSync(path.join(host.hostRoot, 'releases', host.releases.get('v1')!)), 'a dry run removes nothing');

  const pruned = await host.cli(['prune', 'production', '--keep', '1', '--json']);
  assert.equal(pruned.code, 0, pruned.stderr);
  const removed = JSON.parse(pruned.stdout).removed as { id: string; version: string }[];
  assert.deepEqual(removed.map((r) => r.version).sort(), ['v1', 'v2']);
  assert.ok(!removed.some((r) => r.id === current || r.id === previous), 'never the current or previous release');
  for (const r of removed) assert.equal(existsSync(path.join(host.hostRoot, 'releases', r.id)), false, `${r.version} is gone from disk`);
  assert.ok(existsSync(path.join(host.hostRoot, 'releases', current)));
  assert.ok(existsSync(path.join(host.hostRoot, 'releases', previous)));

  const again = JSON.parse((await host.cli(['prune', 'production', '--keep', '1', '--json'])).stdout);
  assert.deepEqual(again.removed, [], 'keep 1 still keeps current and previous');
  assert.equal((await host.get('/version')).body, 'v2');
  assert.equal((await host.cli(['verify', 'production'])).code, 0, 'the current release is intact');

  const back = await host.cli(['rollback', 'production', '--yes']);
  assert.equal(back.code, 0, `the previous release still rolls back after pruning: ${back.stderr}`);
  assert.equal((await host.get('/version')).body, 'v1');

  const logs = await host.cli(['logs', 'production', '-n', '5']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /notes v1: listening/, 'logs shows the serving slot');
  for (const args of [['prune', 'production', '--keep', 'x'], ['history', 'production', '--limit', 'abc'], ['logs', 'production', '-n', 'abc']]) {
    const bad = await host.cli(args);
    assert.equal(bad.code, 2, `slipway ${args.join(' ')} is a usage error: ${bad.stderr}`);
    assert.match(bad.stderr, /takes a whole number/);
  }
});
