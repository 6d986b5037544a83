import assert from 'node:assert/strict';
import { test } from 'node:test';
import { servicesForHost } from '../../src/runtime/slots.js';
import type { ReleaseManifest } from '../../src/release/manifest.js';
import { expectThrows } from '../helpers/expect-error.js';

const service = (name: string) => ({ name, command: `node ${name}.js`, portEnv: 'PORT', env: {}, health: { path: '/healthz', intervalMs: 200, timeoutMs: 1000, successes: 1, deadlineMs: 5000 } });
const manifest = { version: 'v7', runtime: { services: [service('web'), service('auth'), service('worker')] } } as unknown as ReleaseManifest;

test('a host runs the services it names, in the release order; all when it names none', () => {
  assert.deepEqual(servicesForHost(manifest, undefined).map((s) => s.name), ['web', 'auth', 'worker']);
  assert.deepEqual(servicesForHost(manifest, ['worker', 'auth']).map((s) => s.name), ['auth', 'worker']);
});

test('a host naming a service the release lacks is refused before anything starts', () => {
  assert.throws(() => servicesForHost(manifest, ['web', 'billing']), (error: any) => {
    assert.equal(error.code, 'SERVICE_NOT_IN_RELEASE');
    assert.match(error.message, /v7 has no service billing/);
    assert.match(error.hint, /web, auth, worker/);
    return true;
  });
  expectThrows(() => servicesForHost(manifest, []), 'SERVICE_NOT_IN_RELEASE');
});
