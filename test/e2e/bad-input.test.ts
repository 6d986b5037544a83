import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { it } from 'node:test';
import { appNoteColumns, createHostFixture } from '../helpers/host-fixture.js';

// What goes wrong in real life: the port is taken, the agent is not running, a
// migration fails, a release cannot start at all. Each fails clearly and changes
// nothing that serves.

it('a deploy to a proxy port another program holds fails naming the port and changes nothing', { timeout: 60_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: ['v1'] });
  const squatter = http.createServer((_req, res) => res.end('not slipway'));
  await new Promise<void>((resolve) => squatter.listen(host.port, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

  const blocked = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(blocked.code, 1, blocked.stderr);
  assert.match(blocked.stderr, new RegExp(`\\b${host.port}\\b`), `the message names the port:\n${blocked.stderr}`);
  assert.match(blocked.stderr, /EADDRINUSE|in use|another program/i);
  assert.equal(host.currentId(), null, 'nothing was deployed');
  const stillTheirs = await host.get('/');
  assert.equal(stillTheirs.body, 'not slipway', 'the other program keeps its port');

  await assert.rejects(host.startAgent(), new RegExp(`${host.port}`), 'an agent started by hand says the same');
});

it('a failing migration, a release whose service exits at once: each fails with its output and v1 keeps serving; without an agent, status and history still work', { timeout: 90_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: ['v1', 'v2'] });
  const first = await host.startAgent();
  const v1 = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(v1.code, 0, v1.stderr);
  await first.stop();

  // --- the migration fails (the app's own switch makes it fail before committing) ---------
  const failing = await host.startAgent({ env: { NOTES_FAIL_MIGRATION: '1' } });
  const v2 = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  assert.equal(v2.code, 1, v2.stderr);
  assert.match(v2.stderr, /node migrate\.js` exited with code 1/);
  assert.match(v2.stderr, /failing on purpose/, 'the migration\'s last output lines are shown');
  assert.match(v2.stderr, /v1 is serving/);
  assert.equal((await host.get('/version')).body, 'v1');
  assert.deepEqual(appNoteColumns(host.hostRoot), ['id', 'text', 'created_at'], 'the data is as v1 left it');
  const write = await host.request('POST', '/api/notes', { body: JSON.stringify({ text: 'after the failed migration' }) });
  assert.equal(write.status, 201, 'writes flow again: the maintenance of the migration is over');
  await failing.stop();

  // --- a release whose service exits at once ------------------------------------------
  const agent = await host.startAgent();
  await host.addCrashingRelease('v4');
  const v4 = await host.cli(['deploy', 'production', '--version', 'v4', '--yes']);
  assert.equal(v4.code, 1, v4.stderr);
  assert.match(v4.stderr, /v4.*did not become healthy|v4.*exit/i, v4.stderr);
  assert.match(v4.stderr, /cannot start: missing setting NOTES_REQUIRED_SETTING/, 'the last output lines of the service are shown');
  assert.match(v4.stderr, /v1 is serving/);
  assert.equal((await host.get('/version')).body, 'v1');
  assert.equal(host.currentId(), host.releases.get('v1'));
  const history = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as { to: string; outcome: string }[];
  assert.equal(history[0]?.to, 'v4');
  assert.equal(history[0]?.outcome, 'rolled-back');

  // --- the agent is not running ---------------------------------------------------------
  await agent.stop();
  const status = await host.cli(['status', 'production']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /health +agent not running/);
  assert.match(status.stdout, /notes production: v1/);
  const json = JSON.parse((await host.cli(['status', 'production', '--json'])).stdout);
  assert.equal(json.health, 'agent not running');
  assert.equal(json.current.version, 'v1');
  const history2 = await host.cli(['history', 'production', '--json']);
  assert.equal(history2.code, 0, 'history reads the ledger without an agent');
  assert.ok(existsSync(path.join(host.hostRoot, 'ledger.db')));
});
