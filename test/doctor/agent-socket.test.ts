// doctor's agent check talks to the socket where the agent really listens, and only
// when the CLI would trust it: a very deep host root's socket is in the private
// runtime folder; a socket in a folder others may write to is refused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { checkAgent } from '../../src/doctor/agent-checks.js';
import { hostLayout } from '../../src/host/layout.js';
import { preparePrivateSocketFolder } from '../../src/agent/socket-trust.js';
import { privateRuntimeDir } from '../../src/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Answers GET /v1/status on `socketPath` as an agent does. */
async function fakeAgent(t: TestContext, socketPath: string): Promise<void> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ agent: { pid: 4242 }, url: 'http://127.0.0.1:18080', current: { version: 'v7' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  t.after(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(socketPath, { force: true });
  });
}

test('agent: found on the socket of a very deep host root, in the private runtime folder', async (t) => {
  const layout = hostLayout(path.join(tempDir(t), 'd'.repeat(70), 'e'.repeat(70)));
  assert.equal(path.dirname(layout.agentSocket), privateRuntimeDir(), 'the long path falls back');
  // As the agent does before listening.
  await preparePrivateSocketFolder(layout.agentSocket);
  await fakeAgent(t, layout.agentSocket);
  const check = await checkAgent({ layout, environment: 'production', shouldRun: true });
  assert.equal(check.status, 'ok', JSON.stringify(check));
  assert.equal(check.detail, `pid 4242 answers on ${layout.agentSocket}, serving v7`);
});

test('agent: a socket in a folder other users may write to is not talked to', async (t) => {
  const layout = hostLayout(path.join(tempDir(t), 'h'));
  fs.mkdirSync(layout.runDir, { recursive: true });
  await fakeAgent(t, layout.agentSocket);
  assert.equal((await checkAgent({ layout, environment: 'production', shouldRun: true })).status, 'ok', 'trusted while the folder is closed');

  fs.chmodSync(layout.runDir, 0o777);
  const check = await checkAgent({ layout, environment: 'production', shouldRun: true });
  assert.equal(check.status, 'fail');
  assert.match(check.detail, /AGENT_SOCKET_UNTRUSTED: refusing to talk to the agent socket .*writable by other users \(mode 777\)/);
  assert.match(check.fix ?? '', /folder only its user can write to/);
  assert.doesNotMatch(check.detail, /pid 4242/);
});
