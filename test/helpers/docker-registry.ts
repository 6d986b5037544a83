/**
 * A real image registry for the registry tests: Debian's `docker-registry` (Docker Distribution)
 * on a free loopback port, its storage in a temp folder, stopped after the test. The engine
 * trusts loopback registries over plain HTTP, so no TLS is needed. Optionally behind basic auth
 * (an htpasswd file with one bcrypt entry, made ahead of time for TEST_REGISTRY_PASSWORD).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './free-port.js';
import { skipForMissingTool } from './missing-tool.js';
import { tempDir } from './temp-dir.js';
import { waitUntil } from './wait-until.js';

export const TEST_REGISTRY_USER = 'deployer';
export const TEST_REGISTRY_PASSWORD = 'slipway-registry-test-pw-7f3a';
/** bcrypt (cost 4) of TEST_REGISTRY_PASSWORD */
const TEST_REGISTRY_HTPASSWD = `${TEST_REGISTRY_USER}:$2b$04$fl9s8asayyV9JdifbVDJ0uwDxGojkmDTySATBGxYFxAMxUJPFY8v6\n`;

export interface TestRegistry {
  /** host:port, what slipway.yml's `registry.url` names */
  url: string;
  port: number;
  /** everything the registry wrote to its log */
  log(): string;
  stop(): Promise<void>;
  /** starts it again on the same port and storage (after stop) */
  start(): Promise<void>;
}

/** Why the registry tests cannot run here, or null. */
export function registryUnavailableReason(): string | null {
  const found = spawnSync('docker-registry', ['--version'], { encoding: 'utf8' });
  if (found.error) return `docker-registry is missing (${found.error.message}); install Debian's docker-registry package`;
  return null;
}

/** True when docker-registry is there; else skips the test, loudly, or in CI (CI set) fails it: CI installs it. */
export function requireRegistry(t: TestContext): boolean {
  const reason = registryUnavailableReason();
  return reason === null || skipForMissingTool(t, 'a registry', reason);
}

export async function startTestRegistry(t: TestContext, o: { auth?: boolean } = {}): Promise<TestRegistry> {
  const dir = tempDir(t, 'slipway-registry-');
  const port = await freePort();
  const auth = o.auth
    ? `auth:\n  htpasswd:\n    realm: slipway-test\n    path: ${path.join(dir, 'htpasswd')}\n`
    : '';
  if (o.auth) writeFileSync(path.join(dir, 'htpasswd'), TEST_REGISTRY_HTPASSWD);
  writeFileSync(
    path.join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  let output = '';
  let child: ChildProcess | null = null;
  const url = `127.0.0.1:${port}`;
  const start = async () => {
    child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const started = child;
    await waitUntil('the registry to answer', async () => {
      if (started.exitCode !== null) throw new Error(`docker-registry exited: ${output}`);
      const answer = await fetch(`http://${url}/v2/`).catch(() => null);
      return answer !== null; // 200, or 401 behind auth: it answers
    }, 15_000, { explain: () => output });
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  t.after(stop);
  await start();
  return { url, port, log: () => output, stop, start };
}
