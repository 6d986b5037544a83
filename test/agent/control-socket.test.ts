/**
 * The control socket cannot be answered by another local user. A host root too deep for
 * a unix socket used to fall back to a predictable name in the shared temp folder, where
 * anyone could listen first; now the agent and the CLI use a private folder, the CLI
 * checks the owner and modes of the folder and the socket before it talks, and the agent
 * does not listen in a folder others can write to. The impostor runs as another user
 * (nobody, via setpriv) where the test runs as root.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { agentClient, isAgentRunning } from '../../src/agent/control-client.js';
import { startControlServer } from '../../src/agent/control-server.js';
import type { AgentHandlers, AgentStatus } from '../../src/agent/api.js';
import { hostLayout } from '../../src/host/layout.js';
import { controlSocketPath, privateRuntimeDir } from '../../src/paths.js';
import { expectRejects } from '../helpers/expect-error.js';
import { removeTree } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait-until.js';

// A temp folder of our own, shared like /tmp (1777), stands for the machine's temp folder.
const sharedTmp = fs.mkdtempSync(path.join('/tmp', 'slipway-shared-tmp-'));
fs.chmodSync(sharedTmp, 0o1777);
process.env.TMPDIR = sharedTmp;
process.on('exit', () => removeTree(sharedTmp));

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

const STATUS: AgentStatus = { environment: 'production', url: 'http://127.0.0.1:1', current: { id: 'a'.repeat(64), version: 'v7' }, previous: null, health: 'healthy', lock: null, maintenance: null, agent: null, slots: [] };

function realAgentHandlers(calls: string[]): AgentHandlers {
  const refuse = async (): Promise<never> => {
    throw new Error('not used in this test');
  };
  return {
    status: async () => (calls.push('status'), STATUS),
    deploy: refuse,
    rollback: refuse,
    restore: refuse,
    dataImport: refuse,
    backup: refuse,
    backupFetch: refuse,
    backupOffsite: refuse,
    backupVerify: refuse,
    backupPrune: refuse,
    maintenance: refuse,
    prune: refuse,
    stop: refuse,
  };
}

/** A host root too long for run/agent.sock to fit in a socket address. */
function deepRoot(t: TestContext): string {
  const base = fs.mkdtempSync(path.join(sharedTmp, 'home-'));
  t.after(() => removeTree(base));
  return path.join(base, 'hosts', 'a-rather-long-application-name', 'x'.repeat(60), 'production');
}

/**
 * Something that answers every request like an agent (a forged status saying it serves
 * v1, and "ok" to a deploy), listening at `socketPath`, as another user when possible.
 * Its stdout says "listening", then "connection" for each client.
 */
async function startImpostor(t: TestContext, socketPath: string): Promise<{ connections(): number; process: ChildProcess }> {
  const script = `
    const http = require('node:http');
    const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(${JSON.stringify(JSON.stringify({ ...STATUS, current: { id: 'f'.repeat(64), version: 'v1' } }))}); });
    server.on('connection', () => process.stdout.write('connection\\n'));
    server.listen(${JSON.stringify(socketPath)}, () => { require('node:fs').chmodSync(${JSON.stringify(socketPath)}, 0o777); process.stdout.write('listening\\n'); });
  `;
  const command = asRoot && hasSetpriv ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', script] : [process.execPath, '-e', script];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  t.after(() => child.kill('SIGKILL'));
  await waitUntil('the impostor listens', () => out.includes('listening') || child.exitCode !== null, 10_000);
  assert.ok(out.includes('listening'), 'the impostor could not listen');
  return { connections: () => out.split('\n').filter((line) => line === 'connection').length, process: child };
}

test('an impostor listening first at the old temp-folder name is never talked to; the agent and the CLI meet in a private folder', async (t) => {
  if (!(asRoot && hasSetpriv)) t.diagnostic('SKIPPED PART: not root or no setpriv: the impostor runs as this same user');
  const root = deepRoot(t);
  const layout = hostLayout(root);
  // The name the fallback used to have, in the shared folder: where an attacker listens first.
  const digest = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const oldName = path.join(sharedTmp, `slipway-${digest}.sock`);
  const impostor = await startImpostor(t, oldName);

  const real = controlSocketPath(layout.agentSocket);
  assert.equal(real, path.join(privateRuntimeDir(), `${digest}.sock`));
  assert.equal(privateRuntimeDir(), path.join(sharedTmp, `slipway-${process.getuid!()}`));

  // No agent yet: "not running", never the impostor's "serving v1".
  await expectRejects(agentClient(layout.agentSocket).call('status'), 'AGENT_NOT_RUNNING');
  assert.equal(await isAgentRunning(layout.agentSocket), false);

  const calls: string[] = [];
  const server = await startControlServer(layout.agentSocket, realAgentHandlers(calls));
  t.after(() => server.close());
  assert.equal(server.socketPath, real);
  const dir = fs.statSync(path.dirname(real));
  assert.equal(dir.mode & 0o777, 0o700);
  assert.equal(dir.uid, process.getuid!());
  assert.equal(fs.statSync(real).mode & 0o777, 0o600);

  const status = await agentClient(layout.agentSocket).call('status');
  assert.equal(status.current?.version, 'v7', 'the real agent answered');
  assert.deepEqual(calls, ['status']);
  assert.equal(impostor.connections(), 0, 'the impostor was never connected to');
});

test('a socket folder others can write to, a socket others can write to, or a socket of another user is refused before anything is sent', async (t) => {
  const base = fs.mkdtempSync(path.join(os.homedir(), '.slipway-socket-test-'));
  t.after(() => removeTree(base));
  const run = path.join(base, 'run');
  const socket = path.join(run, 'agent.sock');
  const calls: string[] = [];
  const server = await startControlServer(socket, realAgentHandlers(calls));
  t.after(() => server.close());
  assert.equal((await agentClient(socket).call('status')).current?.version, 'v7');
  assert.equal(calls.length, 1);

  fs.chmodSync(run, 0o777);
  await expectRejects(agentClient(socket).call('status'), 'AGENT_SOCKET_UNTRUSTED', /its folder .* is writable by other users \(mode 777\)/);
  await expectRejects(isAgentRunning(socket), 'AGENT_SOCKET_UNTRUSTED');
  fs.chmodSync(run, 0o775);
  await expectRejects(agentClient(socket).call('status'), 'AGENT_SOCKET_UNTRUSTED', /writable by other users \(mode 775\)/);
  fs.chmodSync(run, 0o700);

  fs.chmodSync(socket, 0o666);
  await expectRejects(agentClient(socket).stream('deploy', { releaseId: 'a'.repeat(64) }, () => undefined), 'AGENT_SOCKET_UNTRUSTED', /the socket is writable by other users/);
  fs.chmodSync(socket, 0o600);
  assert.equal(calls.length, 1, 'nothing reached the agent while it was refused');

  if (!asRoot) {
    t.diagnostic('SKIPPED PART: not root: cannot give the socket to another user');
    return;
  }
  fs.chownSync(socket, NOBODY, NOBODY);
  await expectRejects(agentClient(socket).call('status'), 'AGENT_SOCKET_UNTRUSTED', /the socket belongs to uid 65534, not to you \(root\)/);
  fs.chownSync(socket, 0, 0);
  fs.chownSync(run, NOBODY, NOBODY);
  await expectRejects(agentClient(socket).call('status'), 'AGENT_SOCKET_UNTRUSTED', /its folder .* belongs to uid 65534/);
  fs.chownSync(run, 0, 0);
  assert.equal((await agentClient(socket).call('status')).current?.version, 'v7');
  assert.equal(calls.length, 2);
});

test('the agent does not listen in a folder others can write to or that another user made, and the CLI does not talk to an impostor there', async (t) => {
  if (!asRoot || !hasSetpriv) {
    t.skip('needs root and setpriv to act as a second local user');
    return;
  }
  // Another user makes the private folder's predictable name first, and listens in it.
  const layout = hostLayout(deepRoot(t));
  const squatted = path.dirname(controlSocketPath(layout.agentSocket));
  assert.equal(squatted, privateRuntimeDir());
  removeTree(squatted); // left by the first test
  const made = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'mkdir', '-m', '0755', squatted]);
  assert.equal(made.status, 0, made.stderr.toString());
  t.after(() => removeTree(squatted));
  const impostor = await startImpostor(t, controlSocketPath(layout.agentSocket));

  await expectRejects(agentClient(layout.agentSocket).call('status'), 'AGENT_SOCKET_UNTRUSTED', /belongs to uid 65534, not to you \(root\)/);
  await expectRejects(startControlServer(layout.agentSocket, realAgentHandlers([])), 'CONTROL_SOCKET_FOLDER_UNSAFE', /belongs to uid 65534/);
  assert.equal(impostor.connections(), 0);

  // A shared folder (1777) is refused for listening too.
  const open = fs.mkdtempSync(path.join(sharedTmp, 'open-'));
  t.after(() => removeTree(open));
  fs.chmodSync(open, 0o1777);
  await expectRejects(startControlServer(path.join(open, 'agent.sock'), realAgentHandlers([])), 'CONTROL_SOCKET_FOLDER_UNSAFE', /other users may write to it \(mode 1777\)/);
});
